// [[window]]: maintenance windows planned in the config. Each is merged into the
// windows' store at start-up and on reload (proxy/window/window_control.cpp): a new id
// is planned, a configured window that has not started takes the new times.
#include "proxy/config/loader.hpp"

#include "proxy/config/text.hpp"

namespace maintgate::config_detail {

namespace {

struct window_draft {
    window::plan p;
    bool ok = true;
    bool has_end = false;
};

constexpr std::string_view time_expected = "a time such as 2026-11-22T03:00:00Z (a TOML date-time or a string)";

// A TOML offset date-time (start = 2026-11-22T03:00:00Z) or the same as a string.
std::optional<sys_time> read_time(loader& l, const scope& s, std::string_view key, window_draft& d) {
    const toml::node* node = s.table.get(key);
    if (!node) return std::nullopt;
    std::optional<sys_time> t;
    if (const auto* dt = node->as_date_time()) {
        const auto& v = dt->get();
        if (v.offset) {
            using namespace std::chrono;
            const year_month_day ymd{year{v.date.year}, month{v.date.month}, day{v.date.day}};
            if (ymd.ok())
                t = sys_days{ymd} + hours{v.time.hour} + minutes{v.time.minute} + seconds{v.time.second} -
                    minutes{v.offset->minutes};
        }
    } else if (const auto* str = node->as_string()) {
        t = parse_iso8601(str->get());
    }
    if (!t) {
        l.fail(*node, s.name(key) + ": expected " + std::string(time_expected) + ", got " + describe(*node));
        d.ok = false;
    }
    return t;
}

void read_id(loader& l, const scope& s, std::string_view key, window_draft& d) {
    if (const std::string* id = l.string_value(s, key, "a window id such as \"db-upgrade-2026-11\"")) {
        if (auto e = window::check_id(*id); !e.empty()) {
            l.fail(*s.table.get(key), s.name(key) + ": " + e + ", got " + quote(*id));
            d.ok = false;
        } else {
            d.p.id = *id;
        }
        return;
    }
    if (!s.table.get(key)) l.fail(s.table, s.path + ": " + quote(key) + " is required");
    d.ok = false;
}

void read_start(loader& l, const scope& s, std::string_view key, window_draft& d) {
    d.p.starts = read_time(l, s, key, d);
}

void read_end(loader& l, const scope& s, std::string_view key, window_draft& d) {
    if (auto t = read_time(l, s, key, d)) {
        d.p.ends = *t;
        d.has_end = true;
    } else if (!s.table.get(key)) {
        l.fail(s.table, s.path + ": " + quote(key) + " is required: the expected end feeds Retry-After and the feeds");
        d.ok = false;
    }
}

void read_announce(loader& l, const scope& s, std::string_view key, window_draft& d) {
    d.p.announce_from = read_time(l, s, key, d);
}

void read_mode(loader& l, const scope& s, std::string_view key, window_draft& d) {
    static constexpr std::string_view modes[] = {"read-only", "maintenance"};
    if (const auto m = l.one_of(s, key, modes)) d.p.mode = *policy::parse_mode(*m);
}

void read_reason(loader& l, const scope& s, std::string_view key, window_draft& d) {
    if (const std::string* r = l.string_value(s, key, "a string naming the work")) d.p.reason = *r;
}

void read_messages(loader& l, const scope& s, std::string_view key, window_draft& d) {
    const toml::node* node = s.table.get(key);
    if (!node) return;
    const auto* t = node->as_table();
    if (!t) {
        l.fail(*node, s.name(key) + ": expected a table of phase = \"message\", got " + describe(*node));
        d.ok = false;
        return;
    }
    for (const auto& [k, v] : *t) {
        const std::string name(k.str());
        if (!window::parse_phase(name)) {
            l.fail(v, s.name(key) + "." + name +
                          ": not a phase; expected planned, announced, freezing, active, reopening, verifying, "
                          "completed or aborted");
            d.ok = false;
        } else if (const auto* str = v.as_string()) {
            d.p.messages[name] = str->get();
        } else {
            l.fail(v, s.name(key) + "." + name + ": expected a string, got " + describe(v));
            d.ok = false;
        }
    }
}

void read_hooks(loader& l, const scope& s, std::string_view key, window_draft& d) {
    const toml::node* node = s.table.get(key);
    if (!node) return;
    const auto* t = node->as_table();
    if (!t) {
        l.fail(*node, s.name(key) + ": expected a table of point = [\"hook\", ...], got " + describe(*node));
        d.ok = false;
        return;
    }
    for (const auto& [k, v] : *t) {
        const std::string name(k.str());
        const auto parsed = window::parse_hook_point(name);
        const std::size_t point = parsed ? std::size_t(*parsed) : window::hook_point_count;
        const auto* arr = v.as_array();
        if (!parsed) {
            l.fail(v, s.name(key) + "." + name +
                          ": not a hook point; expected pre_announce, pre_freeze, at_boundary, post_reopen or on_abort "
                          "(reopen stages' hooks are [reopen] hooks)");
            d.ok = false;
            continue;
        }
        if (!arr) {
            l.fail(v, s.name(key) + "." + name + ": expected an array of [[hook]] names, got " + describe(v));
            d.ok = false;
            continue;
        }
        for (const auto& e : *arr) {
            if (const auto* str = e.as_string()) {
                d.p.hooks[point].push_back(str->get());
            } else {
                l.fail(e, s.name(key) + "." + name + ": expected hook names (strings), got " + describe(e));
                d.ok = false;
            }
        }
    }
}

// Every name in hooks.* is a [[hook]] ([[hook]] is read before [[window]], wherever
// it is in the file): a window must never reach its backup gate with a hook it cannot run.
void check_hook_names(loader& l, const scope& s, const config& cfg, window_draft& d) {
    const toml::node* node = s.table.get("hooks");
    if (!node || !node->is_table()) return;
    for (const auto& [k, v] : *node->as_table()) {
        const auto* array = v.as_array();
        if (!array) continue;
        for (std::size_t i = 0; i < array->size(); ++i) {
            const auto* text = (*array)[i].as_string();
            if (!text) continue;
            bool known = false;
            for (const auto& h : cfg.hooks) known |= h.name == text->get();
            if (known) continue;
            std::string names;
            for (const auto& h : cfg.hooks) names += (names.empty() ? "" : ", ") + h.name;
            l.fail((*array)[i], s.name("hooks") + "." + std::string(k.str()) + "[" + std::to_string(i) +
                                    "]: no [[hook]] is named " + quote(text->get()) +
                                    (names.empty() ? "; none is configured" : "; configured: " + names));
            d.ok = false;
        }
    }
}

constexpr field<window_draft> window_fields[] = {
    {"id", read_id},
    {"start", read_start},
    {"end", read_end},
    {"announce", read_announce},
    {"mode", read_mode},
    {"reason", read_reason},
    {"messages", read_messages, key_kind::table},
    {"hooks", read_hooks, key_kind::table},
};

}  // namespace

void load_windows(loader& l, const scope& top, std::string_view key, config& cfg) {
    const toml::node* node = top.table.get(key);
    if (!node) return;
    const auto* array = node->as_array();
    if (!array) {
        l.fail(*node, std::string(key) + ": expected [[" + std::string(key) + "]] tables, got " + describe(*node));
        return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = (*array)[i];
        const std::string path = std::string(key) + "[" + std::to_string(i) + "]";
        const auto* t = element.as_table();
        if (!t) {
            l.fail(element, path + ": expected a table, got " + describe(element));
            continue;
        }
        const scope s{*t, path};
        window_draft d;
        d.p.source = "config";
        l.read_fields(s, window_fields, "in [[" + std::string(key) + "]]", d);
        if (d.ok) check_hook_names(l, s, cfg, d);
        if (!d.ok || !d.has_end) continue;
        if (auto e = window::check_plan(d.p); !e.empty()) {
            l.fail(*t, path + ": " + e);
            continue;
        }
        bool duplicate = false;
        for (const auto& other : cfg.windows) duplicate |= other.id == d.p.id;
        if (duplicate) {
            l.fail(*t, path + ": id " + quote(d.p.id) + " is used by another [[window]]");
            continue;
        }
        cfg.windows.push_back(std::move(d.p));
    }
}

}  // namespace maintgate::config_detail
