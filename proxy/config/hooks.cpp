// [[hook]] (with its optional [hook.backup]) and [reopen.hooks]: the commands a window's
// phases and the reopen stages run, and the contract a backup hook's result must meet.
#include "proxy/config/loader.hpp"

#include <algorithm>
#include <utility>

#include "proxy/config/text.hpp"
#include "proxy/hooks/redact.hpp"

namespace maintgate::config_detail {

namespace {

bool is_hook_name(std::string_view s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '_' || c == '.';
    });
}

bool is_env_name(std::string_view s) {
    if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
}

// The variables maintgate sets for every hook: the config cannot forge them.
bool is_reserved_env(std::string_view s) { return s.rfind("MAINTGATE_", 0) == 0; }

// An array of strings, each checked by ok(); nullopt when the key is absent or wrong.
template <class Check>
std::optional<std::vector<std::string>> string_array(loader& l, const scope& s, std::string_view key,
                                                     std::string_view example, Check ok) {
    const toml::node* node = s.table.get(key);
    if (!node) return std::nullopt;
    const auto* array = node->as_array();
    if (!array) {
        l.fail(*node, s.name(key) + ": expected an array of strings such as " + std::string(example) + ", got " +
                          describe(*node));
        return std::nullopt;
    }
    std::vector<std::string> out;
    bool good = true;
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& e = (*array)[i];
        const std::string path = s.name(key) + "[" + std::to_string(i) + "]";
        const auto* text = e.as_string();
        if (!text) {
            l.fail(e, path + ": expected a string, got " + describe(e));
            good = false;
            continue;
        }
        if (auto problem = ok(text->get()); !problem.empty()) {
            l.fail(e, path + ": " + quote(text->get()) + " " + problem);
            good = false;
            continue;
        }
        out.push_back(text->get());
    }
    if (!good) return std::nullopt;
    return out;
}

std::string argv_problem(const std::string& a) {
    if (has_nul(a)) return "contains a NUL character";
    return {};
}

std::optional<std::vector<std::string>> read_argv(loader& l, const scope& s, std::string_view key,
                                                  bool required) {
    const toml::node* node = s.table.get(key);
    if (!node) {
        if (required) l.fail(s.table, "missing required key " + quote(key) + " in " + s.path);
        return std::nullopt;
    }
    auto argv = string_array(l, s, key, "[\"/usr/local/bin/backup\", \"--fast\"]", argv_problem);
    if (argv && argv->empty()) {
        l.fail(*node, s.name(key) + ": must name a program (argv[0]); it is run without a shell");
        return std::nullopt;
    }
    if (argv && (*argv)[0].empty()) {
        l.fail(*node, s.name(key) + ": argv[0] is empty");
        return std::nullopt;
    }
    return argv;
}

struct hook_draft {
    hook_spec h;
    const toml::node* name_node = nullptr;
};

void read_name(loader& l, const scope& s, std::string_view key, hook_draft& d) {
    d.name_node = s.table.get(key);
    if (!d.name_node) {
        l.fail(s.table, "missing required key " + quote(key) + " in " + s.path);
        return;
    }
    if (const std::string* n = l.string_value(s, key, "a name such as \"backup-db\"")) {
        if (!is_hook_name(*n))
            l.fail(*d.name_node, s.name(key) + ": " + quote(*n) +
                                     " must be 1-64 letters, digits, \"-\", \"_\" or \".\" (it is typed in ctl "
                                     "commands and metric labels)");
        else
            d.h.name = *n;
    }
}

void read_hook_argv(loader& l, const scope& s, std::string_view key, hook_draft& d) {
    if (auto a = read_argv(l, s, key, true)) d.h.argv = std::move(*a);
}

void read_env(loader& l, const scope& s, std::string_view key, hook_draft& d) {
    auto names = string_array(l, s, key, "[\"PATH\", \"PGPASSWORD\"]", [](const std::string& n) -> std::string {
        if (!is_env_name(n)) return "is not a variable name (letters, digits and \"_\")";
        if (is_reserved_env(n)) return "is set by maintgate itself";
        return {};
    });
    if (names) d.h.env = std::move(*names);
}

void read_set_env(loader& l, const scope& s, std::string_view key, hook_draft& d) {
    const toml::node* node = s.table.get(key);
    if (!node) return;
    const auto* t = node->as_table();
    if (!t) {
        l.fail(*node, s.name(key) + ": expected a table such as { PGDATABASE = \"app\" }, got " + describe(*node));
        return;
    }
    for (const auto& [k, v] : *t) {
        const std::string_view name = k.str();
        const std::string field = s.name(key) + "." + std::string(name);
        if (!is_env_name(name)) {
            l.fail(k.source(), field + ": " + quote(name) + " is not a variable name (letters, digits and \"_\")");
            continue;
        }
        if (is_reserved_env(name)) {
            l.fail(k.source(), field + ": " + quote(name) + " is set by maintgate itself");
            continue;
        }
        const auto* text = v.as_string();
        if (!text) {
            l.fail(v, field + ": expected a string, got " + describe(v));
            continue;
        }
        if (has_nul(text->get())) {
            l.fail(v, field + ": contains a NUL character");
            continue;
        }
        d.h.set_env.emplace_back(std::string(name), text->get());
    }
}

void read_timeout(loader& l, const scope& s, std::string_view key, hook_draft& d) {
    if (const auto t = l.positive_duration(s, key)) d.h.timeout = *t;
}

void read_kill_grace(loader& l, const scope& s, std::string_view key, hook_draft& d) {
    if (const auto t = l.positive_duration(s, key)) d.h.kill_grace = *t;
}

void read_output_cap(loader& l, const scope& s, std::string_view key, hook_draft& d) {
    // Kept in memory, the journal and one audit line: a megabyte is already a lot.
    if (const auto n = l.integer(s, key, 0, 1 << 20)) d.h.output_cap = static_cast<std::size_t>(*n);
}

void read_redact(loader& l, const scope& s, std::string_view key, hook_draft& d) {
    auto entries = string_array(l, s, key, "[\"DB_URL\", \"Bearer [A-Za-z0-9._-]+\"]",
                                [](const std::string& e) -> std::string {
                                    if (e.empty()) return "is empty";
                                    if (is_env_name_entry(e)) return {};
                                    if (auto p = redact_pattern_problem(e); !p.empty())
                                        return "is not a valid regex: " + p;
                                    return {};
                                });
    if (entries) d.h.redact = std::move(*entries);
}

void read_cwd(loader& l, const scope& s, std::string_view key, hook_draft& d) {
    if (auto p = l.path_value(s, key, "a folder path", true)) d.h.cwd = *p;
}

// [hook.backup]
void read_result_file(loader& l, const scope& s, std::string_view key, backup_gate& g) {
    if (!s.table.get(key)) {
        l.fail(s.table, "missing required key " + quote(key) + " in [" + s.path + "]");
        return;
    }
    if (auto p = l.path_value(s, key, "a file path", false)) {
        if (p->empty())
            l.fail(*s.table.get(key), s.name(key) + ": must name the file the hook writes its result to");
        else
            g.result_file = *p;
    }
}

void read_min_ratio(loader& l, const scope& s, std::string_view key, backup_gate& g) {
    const toml::node* node = s.table.get(key);
    if (!node) return;
    std::optional<double> v;
    if (const auto* f = node->as_floating_point())
        v = f->get();
    else if (const auto* n = node->as_integer())
        v = static_cast<double>(n->get());
    if (!v)
        l.fail(*node, s.name(key) + ": expected a number such as 0.5 (half the last good backup), got " +
                          describe(*node));
    else if (!(*v >= 0.0 && *v <= 1.0))
        l.fail(*node, s.name(key) + ": must be between 0 (off) and 1, got " + describe(*node));
    else
        g.min_ratio = *v;
}

void read_verify(loader& l, const scope& s, std::string_view key, backup_gate& g) {
    if (auto a = read_argv(l, s, key, false)) g.verify = std::move(*a);
}

constexpr field<backup_gate> backup_fields[] = {
    {"result_file", read_result_file},
    {"min_bytes", read_integer<&backup_gate::min_bytes, 0, std::int64_t(1) << 62>},
    {"min_ratio", read_min_ratio},
    {"max_age", read_duration_or_zero<&backup_gate::max_age>},
    {"verify", read_verify},
};

void read_backup(loader& l, const scope& s, std::string_view key, hook_draft& d) {
    const toml::node* node = s.table.get(key);
    if (!node) return;
    const auto* t = node->as_table();
    if (!t) {
        l.fail(*node, s.name(key) + ": expected a table ([" + s.path + ".backup]), got " + describe(*node));
        return;
    }
    const scope b{*t, s.name(key)};
    backup_gate g;
    l.read_fields(b, backup_fields, "in [" + b.path + "]", g);
    d.h.backup = std::move(g);
}

constexpr field<hook_draft> hook_fields[] = {
    {"name", read_name},
    {"argv", read_hook_argv},
    {"env", read_env},
    {"set_env", read_set_env},
    {"timeout", read_timeout},
    {"kill_grace", read_kill_grace},
    {"output_cap", read_output_cap},
    {"redact", read_redact},
    {"cwd", read_cwd},
    {"backup", read_backup, key_kind::table},
};

// [reopen.hooks]: stage name -> index in reopen_config::stage_hooks.
std::optional<policy::stage> hook_stage(std::string_view key) {
    if (key == "read_only") return policy::stage::read_only;
    auto st = policy::parse_stage(key);
    if (st == policy::stage::maintenance) return std::nullopt;  // a reopen never steps to it
    return st;
}

}  // namespace

void load_hooks(loader& l, const scope& top, std::string_view key, config& cfg) {
    const toml::node* node = top.table.get(key);
    if (!node) return;
    const auto* array = node->as_array();
    if (!array) {
        l.fail(*node, std::string(key) + ": expected [[" + std::string(key) + "]] tables, got " + describe(*node));
        return;
    }
    std::vector<std::pair<std::string, std::size_t>> named;
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = (*array)[i];
        const std::string path = std::string(key) + "[" + std::to_string(i) + "]";
        const auto* t = element.as_table();
        if (!t) {
            l.fail(element, path + ": expected a table ([[" + std::string(key) + "]]), got " + describe(element));
            continue;
        }
        const scope s{*t, path};
        hook_draft d;
        d.h.where = l.position(element);
        l.read_fields(s, hook_fields, "in " + path, d);
        if (d.h.name.empty()) continue;
        const auto earlier =
            std::find_if(named.begin(), named.end(), [&](const auto& e) { return e.first == d.h.name; });
        if (earlier != named.end()) {
            l.fail(*d.name_node, path + ".name: " + quote(d.h.name) + " is already used by " + std::string(key) +
                                     "[" + std::to_string(earlier->second) + "]");
            continue;
        }
        named.emplace_back(d.h.name, i);
        cfg.hooks.push_back(std::move(d.h));
    }
}

void read_reopen_hooks(loader& l, const scope& s, std::string_view key, reopen_config& out) {
    const toml::node* node = s.table.get(key);
    if (!node) return;
    const auto* t = node->as_table();
    if (!t) {
        l.fail(*node, s.name(key) + ": expected a table such as { writes = [\"start-worker\"] }, got " +
                          describe(*node));
        return;
    }
    const scope h{*t, s.name(key)};
    for (const auto& [k, v] : *t) {
        const auto st = hook_stage(k.str());
        if (!st) {
            l.fail(k.source(), h.name(k.str()) + ": " + quote(k.str()) +
                                   " is not a reopen stage; use \"operators\", \"read-only\", \"writes\" or "
                                   "\"open\"");
            continue;
        }
        auto names = string_array(l, h, k.str(), "[\"start-worker\"]",
                                  [](const std::string&) -> std::string { return {}; });
        if (names) out.stage_hooks[static_cast<std::size_t>(*st)] = std::move(*names);
    }
}

void check_reopen_hooks(loader& l, const scope& reopen, const config& cfg) {
    const toml::node* node = reopen.table.get("hooks");
    if (!node || !node->is_table()) return;
    for (const auto& [k, v] : *node->as_table()) {
        const auto* array = v.as_array();
        if (!array) continue;
        for (std::size_t i = 0; i < array->size(); ++i) {
            const auto* text = (*array)[i].as_string();
            if (!text) continue;
            const bool known = std::any_of(cfg.hooks.begin(), cfg.hooks.end(),
                                           [&](const hook_spec& h) { return h.name == text->get(); });
            if (!known)
                l.fail((*array)[i], reopen.name("hooks") + "." + std::string(k.str()) + "[" + std::to_string(i) +
                                        "]: no [[hook]] is named " + quote(text->get()));
        }
    }
}

}  // namespace maintgate::config_detail
