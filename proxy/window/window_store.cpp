#include "proxy/window/window_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>

namespace maintgate::window {
namespace {

namespace js = boost::json;

std::string errno_text(const char* what, const std::string& path) {
    return std::string(what) + " " + path + ": " + std::strerror(errno);
}

std::string folder_of(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

}  // namespace

std::string store_path(const std::string& state_file) {
    if (state_file.empty()) return {};
    std::string base = state_file;
    const auto slash = base.rfind('/');
    if (base.size() > 5 && base.ends_with(".json") && (slash == std::string::npos || slash + 1 < base.size() - 5))
        base.resize(base.size() - 5);
    return base + ".windows.json";
}

load_result load_windows(const std::string& path) {
    load_result out;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        if (errno != ENOENT) {
            out.ok = false;
            out.error = errno_text("cannot read", path);
        }
        return out;
    }
    std::string text;
    char buf[8192];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && text.size() < 64 * 1024 * 1024) text.append(buf, n);
    std::fclose(f);
    boost::system::error_code ec;
    js::value v = js::parse(text, ec);
    if (ec) {
        out.ok = false;
        out.error = path + ": not valid JSON: " + ec.message();
        return out;
    }
    try {
        const auto* o = v.if_object();
        const auto* list = o ? o->if_contains("windows") : nullptr;
        if (!list || !list->is_array()) throw std::invalid_argument("\"windows\" is missing or not an array");
        for (const auto& w : list->get_array()) out.windows.push_back(js::value_to<window>(w));
    } catch (const std::invalid_argument& e) {
        out.ok = false;
        out.windows.clear();
        out.error = path + ": " + e.what();
    }
    return out;
}

std::string save_windows(const std::string& path, const std::vector<window>& windows) {
    js::array list;
    list.reserve(windows.size());
    for (const auto& w : windows) list.push_back(js::value_from(w));
    std::string body = js::serialize(js::object{{"windows", std::move(list)}});
    body += '\n';
    const std::string temp = path + ".tmp";
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) return errno_text("cannot create", temp);
    std::size_t done = 0;
    while (done < body.size()) {
        ssize_t k = ::write(fd, body.data() + done, body.size() - done);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            auto e = errno_text("cannot write", temp);
            ::close(fd);
            ::unlink(temp.c_str());
            return e;
        }
        done += std::size_t(k);
    }
    if (::fsync(fd) != 0) {
        auto e = errno_text("cannot fsync", temp);
        ::close(fd);
        ::unlink(temp.c_str());
        return e;
    }
    ::close(fd);
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        auto e = errno_text("cannot rename over", path);
        ::unlink(temp.c_str());
        return e;
    }
    const std::string folder = folder_of(path);
    int dfd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return {};
}

}  // namespace maintgate::window
