// [gate]: the mode at start-up and where it persists, the pages, and the operator bypass.
#include "proxy/config/loader.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <system_error>
#include <utility>

#include "proxy/config/text.hpp"
#include "proxy/http/pages.hpp"

namespace maintgate::config_detail {

namespace {

constexpr std::string_view mode_names[] = {"open", "read-only", "maintenance"};

// A local path the gate answers itself: absolute, no query, no dot segments, visible ASCII.
std::string check_local_path(std::string_view text) {
    if (text.empty() || text.front() != '/') return "must start with \"/\"";
    for (char c : text) {
        if (c <= ' ' || c == 0x7f || static_cast<unsigned char>(c) >= 0x80)
            return "must be visible ASCII without spaces";
        if (c == '?' || c == '#' || c == '%' || c == '\\') return "must not contain '?', '#', '%' or '\\'";
    }
    if (text.find("//") != std::string_view::npos || text.find("/./") != std::string_view::npos ||
        text.find("/../") != std::string_view::npos || text.ends_with("/.") || text.ends_with("/.."))
        return "must be a normalised path (no \"//\", \".\" or \"..\" segments)";
    return {};
}

std::string load_page(loader& l, const toml::node* where, const std::string& dir, std::string_view name,
                      std::string_view builtin) {
    std::string text;
    std::string source = "built-in " + std::string(name);
    if (!dir.empty()) {
        source = dir + "/" + std::string(name);
        std::FILE* f = std::fopen(source.c_str(), "rb");
        if (!f) {
            const std::string reason = std::generic_category().message(errno);
            if (where) l.fail(*where, "gate.pages_dir: cannot read " + quote(source) + ": " + reason);
            return {};
        }
        char buf[16 * 1024];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
        const bool failed = std::ferror(f);
        std::fclose(f);
        if (failed) {
            if (where) l.fail(*where, "gate.pages_dir: cannot read " + quote(source));
            return {};
        }
        if (text.size() > 1024 * 1024) {
            if (where) l.fail(*where, "gate.pages_dir: " + quote(source) + " is larger than 1 MiB");
            return {};
        }
    } else {
        text = std::string(builtin);
    }
    if (auto problem = validate_template(text)) {
        // The template is its own file: report the error there, as an editor would.
        l.fail_in(source, problem->line, problem->column, problem->message);
        return {};
    }
    return text;
}

void read_initial_mode(loader& l, const scope& s, std::string_view key, gate_settings& out) {
    if (const auto m = l.one_of(s, key, mode_names)) out.initial_mode = *policy::parse_mode(*m);
}

void read_corrupt_state_mode(loader& l, const scope& s, std::string_view key, gate_settings& out) {
    if (const auto m = l.one_of(s, key, mode_names)) {
        if (*m == "open")
            l.fail(*s.table.get(key),
                   s.name(key) +
                       ": \"open\" is not allowed: an unreadable state file must never reopen "
                       "the app; use \"read-only\" or \"maintenance\"");
        else
            out.corrupt_state_mode = *policy::parse_mode(*m);
    }
}

template <auto Member>
void read_file_path(loader& l, const scope& s, std::string_view key, gate_settings& out) {
    if (auto f = l.path_value(s, key, "a file path", false)) out.*Member = std::move(*f);
}

// The pages are loaded and validated here, from pages_dir or built in, whether or not
// the key is present.
void read_pages_dir(loader& l, const scope& s, std::string_view key, gate_settings& out) {
    if (auto dir = l.path_value(s, key, "a directory path", true)) out.pages_dir = std::move(*dir);
    const toml::node* pages_node = s.table.get(key);
    out.maintenance_page =
        load_page(l, pages_node, out.pages_dir, "maintenance.html", builtin_maintenance_page());
    out.read_only_page = load_page(l, pages_node, out.pages_dir, "read_only.html", builtin_read_only_page());
}

void read_bypass_cidrs(loader& l, const scope& s, std::string_view key, gate_settings& out) {
    if (const toml::node* node = s.table.get(key)) l.load_cidrs(*node, s.name(key), out.policy.bypass_cidrs);
}

void read_bypass_secret(loader& l, const scope& s, std::string_view key, gate_settings& out) {
    auto& p = out.policy;
    if (const std::string* secret = l.string_value(s, key, "a string of at least 16 characters")) {
        const toml::node& node = *s.table.get(key);
        // The secret travels in a URL path and a header: it must survive both unescaped,
        // and be long enough that guessing it is hopeless.
        const bool url_safe = std::all_of(secret->begin(), secret->end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
                   c == '~';
        });
        // An empty secret means no secret bypass, as when the key is absent.
        if (!secret->empty() && secret->size() < 16)
            l.fail(node, s.name(key) + ": must be at least 16 characters (it is " +
                             std::to_string(secret->size()) + "); try `openssl rand -hex 24`");
        else if (!url_safe)
            l.fail(node,
                   s.name(key) + ": use only letters, digits, '-', '_', '.' and '~' (it appears in a URL)");
        else if (!secret->empty()) {
            p.bypass_secret = *secret;
            p.signer = policy::bypass_signer(*secret);
        }
    }
}

void read_bypass_header(loader& l, const scope& s, std::string_view key, gate_settings& out) {
    auto& p = out.policy;
    if (const std::string* h = l.string_value(s, key, "a header name")) {
        if (!is_token(*h))
            l.fail(*s.table.get(key), s.name(key) + ": " + quote(*h) + " is not a valid header name");
        else {
            p.bypass_header = *h;
            std::transform(p.bypass_header.begin(), p.bypass_header.end(), p.bypass_header.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        }
    }
}

// bypass_path and status_path: paths the gate answers itself.
template <auto Member>
void read_local_path(loader& l, const scope& s, std::string_view key, gate_settings& out) {
    if (const std::string* v = l.string_value(s, key, "a path such as \"/.well-known/maintgate\"")) {
        if (auto problem = check_local_path(*v); !problem.empty())
            l.fail(*s.table.get(key), s.name(key) + ": " + quote(*v) + " " + problem);
        else
            out.policy.*Member = *v;
    }
}

void read_bypass_cookie_ttl(loader& l, const scope& s, std::string_view key, gate_settings& out) {
    if (const auto d = l.positive_duration(s, key))
        out.policy.bypass_cookie_ttl = std::chrono::duration_cast<std::chrono::seconds>(*d);
}

constexpr field<gate_settings> gate_fields[] = {
    {"initial_mode", read_initial_mode},
    {"corrupt_state_mode", read_corrupt_state_mode},
    {"state_file", read_file_path<&gate_settings::state_file>},
    {"audit_log", read_file_path<&gate_settings::audit_log>},
    {"retry_after", read_positive_duration<&gate_settings::retry_after>},
    {"upstream_down_page", read_boolean<&gate_settings::upstream_down_page>},
    {"pages_dir", read_pages_dir},
    {"bypass_cidrs", read_bypass_cidrs},
    {"bypass_secret", read_bypass_secret},
    {"bypass_header", read_bypass_header},
    {"bypass_path", read_local_path<&policy::gate_config::bypass_path>},
    {"bypass_cookie_ttl", read_bypass_cookie_ttl},
    {"status_path", read_local_path<&policy::gate_config::status_path>},
};

}  // namespace

void load_gate(loader& l, const scope& top, std::string_view key, config& cfg) {
    // Read even when absent: the built-in pages are validated either way.
    static const toml::table empty;
    const toml::table* t = l.table(top.table, key);
    const scope s{t ? *t : empty, std::string(key)};
    if (t) l.check_keys(s, gate_fields, "in [" + s.path + "]");
    for (const auto& row : gate_fields) row.read(l, s, row.name, cfg.gate);
}

}  // namespace maintgate::config_detail
