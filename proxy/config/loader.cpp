#include "proxy/config/loader.hpp"

#include <algorithm>
#include <limits>
#include <thread>
#include <utility>

#include "proxy/config/duration.hpp"
#include "proxy/config/text.hpp"

namespace maintgate::config_detail {

namespace {

unsigned default_workers() {
    // hardware_concurrency() may report 0 when it cannot tell.
    return std::clamp(std::thread::hardware_concurrency(), 1u, 256u);
}

void read_workers(loader& l, const scope& top, std::string_view key, config& cfg) {
    cfg.workers = default_workers();
    if (const auto workers = l.integer(top, key, 1, 256)) cfg.workers = static_cast<unsigned>(*workers);
}

// The document's sections, in the order they are read. Each section's file owns its
// keys; these rows own the top level's.
constexpr field<config> root_fields[] = {
    {"workers", read_workers},
    {"listener", load_listeners, key_kind::table_array},
    {"upstream", load_upstream, key_kind::table},
    {"timeouts", load_timeouts, key_kind::table},
    {"limits", load_limits, key_kind::table},
    {"forwarding", load_forwarding, key_kind::table},
    {"log", load_log, key_kind::table},
    {"gate", load_gate, key_kind::table},
    {"rule", load_rules, key_kind::table_array},
    {"admin", load_admin, key_kind::table},
    {"health_check", load_health_check, key_kind::table},
    {"smoke_check", load_smoke_checks, key_kind::table_array},
    {"hook", load_hooks, key_kind::table_array},  // before [reopen], whose hooks name them
    {"reopen", load_reopen, key_kind::table},
    {"spool", load_spool, key_kind::table},
    {"banner", load_banner, key_kind::table},  // after gate: its assets live in pages_dir
    {"cluster", load_cluster, key_kind::table},
    {"hold", load_hold, key_kind::table},
    {"auto_read_only", load_auto_read_only, key_kind::table},
    {"window", load_windows, key_kind::table_array},
};

// The document's post pass: rules across sections.
void check_distinct_files(loader& l, const toml::table& root, const config& cfg) {
    // Each is written by a different part of the server, in a different format: sharing
    // a path would corrupt one with the other (or, for the socket, replace a file).
    const auto at = [&root](std::string_view path) { return root.at_path(path).node(); };
    const auto& g = cfg.gate;
    if (!g.audit_log.empty() && g.audit_log == g.state_file) {
        if (const toml::node* node = at("gate.audit_log"))
            l.fail(*node, "gate.audit_log: " + quote(g.audit_log) +
                              " is also gate.state_file; each needs its own file");
    }
    const std::string& socket = cfg.admin.socket;
    if (!socket.empty() && (socket == g.state_file || socket == g.audit_log)) {
        if (const toml::node* node = at("admin.socket"))
            l.fail(*node, "admin.socket: " + quote(socket) + " is also " +
                              (socket == g.state_file ? "gate.state_file" : "gate.audit_log") +
                              "; the socket needs a path of its own");
    }
}

}  // namespace

std::string scope::name(std::string_view key) const { return path_join(path, key); }

loader::loader(std::string file) : file_(std::move(file)) {
    // Relative paths in the config are relative to its own folder, so the same file
    // means the same paths whichever directory maintgate or `maintgate ctl` starts in.
    // A source without a slash (a bare file name, "<embedded default>") is already in
    // the current directory, where relative paths stay as written.
    if (const auto slash = file_.rfind('/'); slash != std::string::npos) folder_ = file_.substr(0, slash + 1);
}

void loader::load(const toml::table& root, config& cfg) {
    const scope top{root, ""};
    read_fields(top, root_fields, "at the top level", cfg);
    check_distinct_files(*this, root, cfg);
    check_spool(*this, cfg);
}

std::vector<config_error> loader::take_errors() {
    // std::map order is alphabetical, not the file's; a stable sort by position
    // restores document order and keeps same-place errors in the order checked.
    // Errors without a position concern the document as a whole and go last.
    auto key = [](const config_error& e) {
        const std::uint32_t line = e.line == 0 ? std::numeric_limits<std::uint32_t>::max() : e.line;
        return std::pair{line, e.column};
    };
    std::stable_sort(errors_.begin(), errors_.end(),
                     [&key](const config_error& a, const config_error& b) { return key(a) < key(b); });
    return std::move(errors_);
}

void loader::fail(const toml::source_region& where, std::string message) {
    errors_.push_back({file_, where.begin.line, where.begin.column, std::move(message)});
}

void loader::fail_document(std::string message) { errors_.push_back({file_, 0, 0, std::move(message)}); }

void loader::fail_in(std::string file, std::uint32_t line, std::uint32_t column, std::string message) {
    errors_.push_back({std::move(file), line, column, std::move(message)});
}

std::string loader::position(const toml::node& node) const {
    const auto& at = node.source().begin;
    return file_ + ":" + std::to_string(at.line) + ":" + std::to_string(at.column);
}

void loader::check_keys(const scope& s, std::span<const known_key> known, std::string_view where) {
    for (const auto& [key, node] : s.table) {
        const std::string_view name = key.str();
        const auto match =
            std::find_if(known.begin(), known.end(), [&](const known_key& k) { return k.name == name; });
        if (match != known.end()) continue;

        // Suggest the nearest known key: most unknown keys are typos of a real one.
        std::string hint;
        const known_key* nearest = nullptr;
        std::size_t best = std::numeric_limits<std::size_t>::max();
        for (const auto& k : known) {
            const std::size_t d = edit_distance(name, k.name);
            if (d < best) {
                best = d;
                nearest = &k;
            }
        }
        const std::size_t tolerance = name.size() <= 4 ? 1 : 2;
        if (nearest && best <= tolerance) {
            const std::string nearest_path = path_join(s.path, nearest->name);
            switch (nearest->kind) {
            case key_kind::value: hint = "; did you mean " + quote(nearest->name) + "?"; break;
            case key_kind::table: hint = "; did you mean [" + nearest_path + "]?"; break;
            case key_kind::table_array: hint = "; did you mean [[" + nearest_path + "]]?"; break;
            }
        }

        // Name the thing the way it was written: a [header] reads as a table, not a key.
        const std::string table_path = path_join(s.path, name);
        if (const auto* t = node.as_table(); t && !t->is_inline()) {
            fail(node, "unknown table [" + table_path + "]" + hint);
            continue;
        }
        if (const auto* a = node.as_array(); a && !a->empty()) {
            const auto* first = (*a)[0].as_table();
            if (first && !first->is_inline()) {
                fail(node, "unknown table [[" + table_path + "]]" + hint);
                continue;
            }
        }
        fail(key.source(), "unknown key " + quote(name) + " " + std::string(where) + hint);
    }
}

const toml::table* loader::table(const toml::table& root, std::string_view key) {
    const toml::node* node = root.get(key);
    if (!node) return nullptr;
    if (const auto* t = node->as_table()) return t;
    fail(*node, std::string(key) + ": expected a table ([" + std::string(key) + "]), got " + describe(*node));
    return nullptr;
}

std::optional<scope> loader::section(const scope& top, std::string_view key) {
    const toml::table* t = table(top.table, key);
    if (!t) return std::nullopt;
    return scope{*t, std::string(key)};
}

std::optional<std::int64_t> loader::integer(const scope& s, std::string_view key, std::int64_t lowest,
                                            std::int64_t highest) {
    const toml::node* node = s.table.get(key);
    if (!node) return std::nullopt;
    const auto* value = node->as_integer();
    if (!value) {
        fail(*node, s.name(key) + ": expected an integer, got " + describe(*node));
        return std::nullopt;
    }
    const std::int64_t v = value->get();
    if (v < lowest || v > highest) {
        fail(*node, s.name(key) + ": " + std::to_string(v) + " is out of range (" + std::to_string(lowest) +
                        "-" + std::to_string(highest) + ")");
        return std::nullopt;
    }
    return v;
}

std::optional<duration> loader::positive_duration(const scope& s, std::string_view key) {
    return duration_value(s, key, false);
}

std::optional<duration> loader::duration_value(const scope& s, std::string_view key, bool zero_allowed) {
    const toml::node* node = s.table.get(key);
    if (!node) return std::nullopt;
    const auto* value = node->as_string();
    if (!value) {
        fail(*node,
             s.name(key) + ": expected a duration such as \"5s\" or \"250ms\", got " + describe(*node));
        return std::nullopt;
    }
    const std::string& text = value->get();
    const auto parsed = parse_duration(text);
    if (!parsed) {
        const bool bare_number = !text.empty() && std::all_of(text.begin(), text.end(),
                                                              [](char c) { return c >= '0' && c <= '9'; });
        if (bare_number) {
            fail(*node, s.name(key) + ": " + quote(text) + " has no unit; write \"" + text +
                            "s\" for seconds or \"" + text + "ms\" for milliseconds");
        } else {
            fail(*node, s.name(key) + ": " + quote(text) +
                            " is not a duration; use whole numbers with units ms, s, m, h, d, largest first, "
                            "such as \"5s\", \"250ms\" or \"1h30m\"");
        }
        return std::nullopt;
    }
    // Zero would mean "expire at once" to a timer, never "no timeout"; only keys that
    // document "0s = off" accept it.
    if (parsed->count() == 0 && !zero_allowed) {
        fail(*node, s.name(key) + ": must be greater than 0, got " + quote(text));
        return std::nullopt;
    }
    return parsed;
}

std::optional<std::string> loader::path_value(const scope& s, std::string_view key, std::string_view expected,
                                              bool folder) {
    const std::string* text = string_value(s, key, expected);
    if (!text) return std::nullopt;
    const toml::node& node = *s.table.get(key);
    // open() stops at a NUL, so "a\u0000b" would quietly name the file "a".
    if (has_nul(*text)) {
        fail(node, s.name(key) + ": " + quote(*text) + " contains a NUL character");
        return std::nullopt;
    }
    if (text->empty()) return std::string{};
    if (!folder && text->back() == '/') {
        fail(node, s.name(key) + ": " + quote(*text) + " names a folder; give a file name");
        return std::nullopt;
    }
    if (text->front() == '/' || folder_.empty()) return *text;
    return folder_ + *text;
}

const std::string* loader::string_value(const scope& s, std::string_view key, std::string_view expected) {
    const toml::node* node = s.table.get(key);
    if (!node) return nullptr;
    if (const auto* value = node->as_string()) return &value->get();
    fail(*node, s.name(key) + ": expected " + std::string(expected) + ", got " + describe(*node));
    return nullptr;
}

std::optional<bool> loader::boolean(const scope& s, std::string_view key) {
    const toml::node* node = s.table.get(key);
    if (!node) return std::nullopt;
    if (const auto* value = node->as_boolean()) return value->get();
    fail(*node, s.name(key) + ": expected true or false, got " + describe(*node));
    return std::nullopt;
}

std::optional<std::string_view> loader::one_of(const scope& s, std::string_view key,
                                               std::span<const std::string_view> allowed) {
    std::string choices;
    for (std::size_t i = 0; i < allowed.size(); ++i) {
        if (i != 0) choices += i + 1 == allowed.size() ? " or " : ", ";
        choices += quote(allowed[i]);
    }
    const std::string* text = string_value(s, key, "one of " + choices);
    if (!text) return std::nullopt;
    const auto match = std::find(allowed.begin(), allowed.end(), *text);
    if (match == allowed.end()) {
        fail(*s.table.get(key), s.name(key) + ": " + quote(*text) + " is not one of " + choices);
        return std::nullopt;
    }
    return *match;
}

void loader::load_cidrs(const toml::node& node, const std::string& path, std::vector<policy::cidr>& out) {
    const auto* array = node.as_array();
    if (!array) {
        fail(node, path + ": expected an array of strings such as [\"10.0.0.0/8\"], got " + describe(node));
        return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = (*array)[i];
        const std::string element_path = path + "[" + std::to_string(i) + "]";
        const auto* text = element.as_string();
        if (!text) {
            fail(element,
                 element_path + ": expected a string such as \"10.0.0.0/8\", got " + describe(element));
            continue;
        }
        auto parsed = policy::parse_cidr(text->get());
        if (parsed.value)
            out.push_back(*parsed.value);
        else
            fail(element, element_path + ": " + parsed.error);
    }
}

}  // namespace maintgate::config_detail
