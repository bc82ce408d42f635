#include "proxy/config/config.hpp"

#include <cerrno>
#include <cstdio>
#include <memory>
#include <system_error>

#include <toml++/toml.h>

#include "proxy/config/loader.hpp"

namespace maintgate {

namespace {

constexpr std::string_view embedded_default =
    R"toml(# maintgate's built-in configuration, used by `maintgate run` when no -c is given.
# Every key not set here keeps its default; maintgate.example.toml lists them all.

# Loopback only: serving other machines should be a decision written in a real config.
[[listener]]
address = "127.0.0.1:8080"

# The demo app.
[upstream]
url = "http://127.0.0.1:3000"

# So `maintgate ctl` can drive the demo. Under /tmp because the demo runs unprivileged;
# a real config puts it in a folder only maintgate and its operators can reach.
[admin]
socket = "/tmp/maintgate-admin.sock"
)toml";

}  // namespace

std::string config_error::to_string() const {
    std::string out = file;
    if (line != 0) {
        out += ':';
        out += std::to_string(line);
        if (column != 0) {
            out += ':';
            out += std::to_string(column);
        }
    }
    out += ": ";
    out += message;
    return out;
}

load_result load_config_string(std::string_view text, const std::string& source_name) {
    load_result result;
    // Loading must never throw: `maintgate check` reports, and reload keeps the old
    // config running, so even an allocation failure becomes an ordinary error.
    try {
        toml::table root;
        try {
            root = toml::parse(text, std::string_view(source_name));
        } catch (const toml::parse_error& e) {
            const auto& begin = e.source().begin;
            result.errors.push_back({source_name, begin.line, begin.column, std::string(e.description())});
            return result;
        }

        config cfg;
        cfg.source = source_name;
        config_detail::loader l(source_name);
        l.load(root, cfg);
        result.errors = l.take_errors();
        if (result.errors.empty()) result.cfg = std::move(cfg);
    } catch (const std::exception& e) {
        result.cfg.reset();
        result.errors.push_back({source_name, 0, 0, std::string("cannot load config: ") + e.what()});
    }
    return result;
}

load_result load_config_file(const std::string& path) {
    try {
        // stdio rather than ifstream: errno after a failed fopen/fread is reliable, and
        // "Permission denied" beats "cannot read" for someone fixing it at 2am.
        struct closer {
            void operator()(std::FILE* f) const noexcept { std::fclose(f); }
        };
        std::unique_ptr<std::FILE, closer> file(std::fopen(path.c_str(), "rb"));
        auto failure = [&path](int error) {
            load_result result;
            result.errors.push_back(
                {path, 0, 0, "cannot read config file: " + std::generic_category().message(error)});
            return result;
        };
        if (!file) return failure(errno);

        std::string text;
        char buf[16 * 1024];
        for (;;) {
            const std::size_t n = std::fread(buf, 1, sizeof buf, file.get());
            text.append(buf, n);
            if (n < sizeof buf) {
                // A directory opens fine on Linux and fails here with EISDIR.
                if (std::ferror(file.get())) return failure(errno);
                break;
            }
        }
        return load_config_string(text, path);
    } catch (const std::exception& e) {
        load_result result;
        result.errors.push_back({path, 0, 0, std::string("cannot read config file: ") + e.what()});
        return result;
    }
}

std::string_view default_config_text() noexcept { return embedded_default; }

}  // namespace maintgate
