// [banner]: the maintenance window's banner on forwarded HTML pages, and its assets.
#include "proxy/config/loader.hpp"

#include <cerrno>
#include <cstdio>
#include <sys/stat.h>
#include <system_error>

#include "proxy/config/text.hpp"
#include "proxy/http/banner.hpp"

namespace maintgate::config_detail {

namespace {

void read_exclude_prefixes(loader& l, const scope& s, std::string_view key, banner_config& out) {
    const toml::node* node = s.table.get(key);
    if (!node) return;
    const auto* array = node->as_array();
    if (!array) {
        l.fail(*node, s.name(key) + ": expected an array of paths such as [\"/embed/\"], got " + describe(*node));
        return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& e = (*array)[i];
        const auto* text = e.as_string();
        const std::string path = s.name(key) + "[" + std::to_string(i) + "]";
        if (!text) {
            l.fail(e, path + ": expected a path such as \"/embed/\", got " + describe(e));
        } else if (text->get().empty() || text->get().front() != '/') {
            l.fail(e, path + ": " + quote(text->get()) + " must start with \"/\"");
        } else {
            out.exclude_prefixes.push_back(text->get());
        }
    }
}

constexpr field<banner_config> banner_fields[] = {
    {"enabled", read_boolean<&banner_config::enabled>},
    {"exclude_prefixes", read_exclude_prefixes},
};

// banner.css and banner.js from gate.pages_dir when it holds them, else the built-in
// ones: a pages_dir made before the banner existed keeps working.
std::string load_asset(loader& l, const std::string& dir, std::string_view name, std::string_view builtin) {
    if (dir.empty()) return std::string(builtin);
    const std::string source = dir + "/" + std::string(name);
    struct stat st {};
    if (::stat(source.c_str(), &st) != 0 && errno == ENOENT) return std::string(builtin);
    std::FILE* f = std::fopen(source.c_str(), "rb");
    if (!f) {
        l.fail_in(source, 0, 0, "gate.pages_dir: cannot read " + quote(source) + ": " +
                                    std::generic_category().message(errno));
        return {};
    }
    std::string text;
    char buf[16 * 1024];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && text.size() <= 256 * 1024) text.append(buf, n);
    const bool failed = std::ferror(f);
    std::fclose(f);
    if (failed) l.fail_in(source, 0, 0, "gate.pages_dir: cannot read " + quote(source));
    if (text.size() > 256 * 1024) l.fail_in(source, 0, 0, "gate.pages_dir: " + quote(source) + " is larger than 256 KiB");
    return text;
}

}  // namespace

void load_banner(loader& l, const scope& top, std::string_view key, config& cfg) {
    if (const auto s = l.section(top, key)) l.read_fields(*s, banner_fields, "in [" + s->path + "]", cfg.banner);
    // Loaded whether or not [banner] is there, after [gate] (pages_dir).
    cfg.banner.css = load_asset(l, cfg.gate.pages_dir, "banner.css", builtin_banner_css());
    cfg.banner.js = load_asset(l, cfg.gate.pages_dir, "banner.js", builtin_banner_js());
}

}  // namespace maintgate::config_detail
