#pragma once
// A fresh folder under /tmp for one test, removed with everything in it when the test
// ends. Shared by the tests that write real files (state, audit, gate state).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <iterator>
#include <string>

namespace maintgate::test {

struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        std::string tpl = (std::filesystem::temp_directory_path() / "maintgate-test-XXXXXX").string();
        REQUIRE(::mkdtemp(tpl.data()) != nullptr);
        path = tpl;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    std::string file(const char* name) const { return (path / name).string(); }
    std::size_t entries() const {
        return static_cast<std::size_t>(
            std::distance(std::filesystem::directory_iterator(path), std::filesystem::directory_iterator{}));
    }
};

}  // namespace maintgate::test
