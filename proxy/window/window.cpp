#include "proxy/window/window.hpp"

#include <stdexcept>

#include <boost/json/conversion.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>

namespace maintgate::window {
namespace {

namespace js = boost::json;

constexpr std::array<std::string_view, phase_count> phase_names = {
    "planned", "announced", "freezing", "active", "reopening", "verifying", "completed", "aborted"};
constexpr std::array<std::string_view, hook_point_count> hook_names = {
    "pre_announce", "pre_freeze", "at_boundary", "post_reopen", "on_abort"};

// The store keeps times as unix milliseconds: exact, and no parser to disagree with.
std::int64_t ms(sys_time t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
sys_time from_ms(std::int64_t v) { return sys_time(std::chrono::milliseconds(v)); }
js::value opt_ms(const std::optional<sys_time>& t) { return t ? js::value(ms(*t)) : js::value(nullptr); }

// Readers that name the field they fail on.
struct reader {
    const js::object& o;
    std::string where;

    const js::value* find(std::string_view k) const { return o.if_contains(k); }
    [[noreturn]] void bad(std::string_view k) const {
        throw std::invalid_argument(where + "\"" + std::string(k) + "\" is missing or has the wrong type");
    }
    std::string str(std::string_view k, bool required = false) const {
        const auto* v = find(k);
        if (!v || v->is_null()) {
            if (required) bad(k);
            return {};
        }
        if (!v->is_string()) bad(k);
        return std::string(v->get_string());
    }
    std::int64_t integer(std::string_view k) const {
        const auto* v = find(k);
        if (!v || !v->is_int64()) {
            if (v && v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
            bad(k);
        }
        return v->get_int64();
    }
    std::optional<std::int64_t> opt_integer(std::string_view k) const {
        const auto* v = find(k);
        if (!v || v->is_null()) return std::nullopt;
        return integer(k);
    }
    std::optional<sys_time> opt_time(std::string_view k) const {
        auto v = opt_integer(k);
        return v ? std::optional<sys_time>(from_ms(*v)) : std::nullopt;
    }
    bool boolean(std::string_view k) const {
        const auto* v = find(k);
        if (!v) return false;
        if (!v->is_bool()) bad(k);
        return v->get_bool();
    }
    const js::array& array(std::string_view k) const {
        static const js::array empty;
        const auto* v = find(k);
        if (!v || v->is_null()) return empty;
        if (!v->is_array()) bad(k);
        return v->get_array();
    }
    const js::object& object(std::string_view k) const {
        static const js::object empty;
        const auto* v = find(k);
        if (!v || v->is_null()) return empty;
        if (!v->is_object()) bad(k);
        return v->get_object();
    }
};

const js::object& as_object(const js::value& v, const std::string& where) {
    if (!v.is_object()) throw std::invalid_argument(where + "not an object");
    return v.get_object();
}

}  // namespace

std::string_view to_string(phase p) noexcept { return phase_names[std::size_t(p)]; }
std::string_view to_string(hook_point h) noexcept { return hook_names[std::size_t(h)]; }

std::optional<hook_point> parse_hook_point(std::string_view s) noexcept {
    for (std::size_t i = 0; i < hook_point_count; ++i)
        if (hook_names[i] == s) return hook_point(i);
    return std::nullopt;
}

std::optional<phase> parse_phase(std::string_view s) noexcept {
    for (std::size_t i = 0; i < phase_count; ++i)
        if (phase_names[i] == s) return static_cast<phase>(i);
    return std::nullopt;
}

const std::string& window::message() const {
    if (auto it = p.messages.find(std::string(to_string(ph))); it != p.messages.end()) return it->second;
    return p.reason;
}

std::string check_id(std::string_view id) {
    if (id.empty() || id.size() > 64) return "a window id is 1 to 64 characters";
    for (char c : id) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-';
        if (!ok) return "a window id holds only letters, digits, '.', '_' and '-'";
    }
    return {};
}

std::string check_plan(const plan& p) {
    if (auto e = check_id(p.id); !e.empty()) return e;
    if (p.mode == policy::mode::open) return "a window starts in read-only or maintenance, not open";
    if (p.starts && p.ends <= *p.starts) return "the end must be after the start";
    if (p.starts && p.announce_from && *p.announce_from > *p.starts)
        return "the announcement must not be after the start";
    return {};
}

void tag_invoke(const js::value_from_tag&, js::value& v, const window& w) {
    js::object& o = v.emplace_object();
    o["id"] = w.p.id;
    o["phase"] = to_string(w.ph);
    o["announce_from"] = opt_ms(w.p.announce_from);
    o["starts"] = opt_ms(w.p.starts);
    o["ends"] = ms(w.p.ends);
    o["mode"] = policy::to_string(w.p.mode);
    o["reason"] = w.p.reason;
    js::object messages;
    for (const auto& [k, m] : w.p.messages) messages[k] = m;
    o["messages"] = std::move(messages);
    js::object hooks;
    for (std::size_t i = 0; i < hook_point_count; ++i) {
        if (w.p.hooks[i].empty()) continue;
        js::array names;
        for (const auto& n : w.p.hooks[i]) names.emplace_back(js::string(n));
        hooks[hook_names[i]] = std::move(names);
    }
    o["hooks"] = std::move(hooks);
    o["source"] = w.p.source;
    o["planned_at"] = ms(w.planned_at);
    o["planned_by"] = w.planned_by;
    o["updated_at"] = ms(w.updated_at);
    o["started_at"] = opt_ms(w.started_at);
    o["ended_at"] = opt_ms(w.ended_at);
    o["started_by"] = w.started_by;
    o["outcome"] = w.outcome;
    o["interrupted"] = w.interrupted;
    o["write_boundary_ms"] = w.write_boundary_ms ? js::value(*w.write_boundary_ms) : js::value(nullptr);
    js::array backups;
    for (const auto& b : w.backups)
        backups.emplace_back(js::object{{"hook", b.hook},
                                        {"ok", b.ok},
                                        {"artifact", b.artifact},
                                        {"bytes", b.bytes},
                                        {"sha256", b.sha256},
                                        {"detail", b.detail},
                                        {"at", ms(b.at)}});
    o["backups"] = std::move(backups);
    js::array runs;
    for (const auto& h : w.hook_runs)
        runs.emplace_back(js::object{{"hook", h.hook},
                                     {"point", h.point},
                                     {"outcome", h.outcome},
                                     {"ok", h.ok},
                                     {"duration_ms", h.duration_ms},
                                     {"error", h.error},
                                     {"output", h.output},
                                     {"at", ms(h.at)}});
    o["hook_runs"] = std::move(runs);
    js::array stages;
    for (const auto& s : w.stages) {
        js::array checks;
        for (const auto& c : s.checks)
            checks.emplace_back(js::object{{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
        stages.emplace_back(js::object{{"to", policy::to_string(s.to)},
                                       {"at", ms(s.at)},
                                       {"actor", s.actor},
                                       {"detail", s.detail},
                                       {"checks", std::move(checks)},
                                       {"step_back", s.step_back}});
    }
    o["stages"] = std::move(stages);
    js::array timeline;
    for (const auto& e : w.timeline)
        timeline.emplace_back(
            js::object{{"at", ms(e.at)}, {"what", e.what}, {"actor", e.actor}, {"detail", e.detail}});
    o["timeline"] = std::move(timeline);
    js::object refused;
    for (const auto& [route, n] : w.refused_by_route) refused[route] = n;
    o["refused_by_route"] = std::move(refused);
    o["refused_total"] = w.refused_total;
}

window tag_invoke(const js::value_to_tag<window>&, const js::value& v) {
    const reader r{as_object(v, ""), ""};
    window w;
    w.p.id = r.str("id", true);
    if (auto e = check_id(w.p.id); !e.empty()) throw std::invalid_argument("\"id\": " + e);
    const std::string where = "window " + w.p.id + ": ";
    const reader wr{r.o, where};
    auto ph = parse_phase(wr.str("phase", true));
    if (!ph) throw std::invalid_argument(where + "\"phase\" is not a phase");
    w.ph = *ph;
    w.p.announce_from = wr.opt_time("announce_from");
    w.p.starts = wr.opt_time("starts");
    w.p.ends = from_ms(wr.integer("ends"));
    auto mode = policy::parse_mode(wr.str("mode", true));
    if (!mode) throw std::invalid_argument(where + "\"mode\" is not a mode");
    w.p.mode = *mode;
    w.p.reason = wr.str("reason");
    for (const auto& [k, m] : wr.object("messages")) {
        if (!m.is_string()) throw std::invalid_argument(where + "a message is not a string");
        w.p.messages[std::string(k)] = std::string(m.get_string());
    }
    const auto& hooks = wr.object("hooks");
    for (std::size_t i = 0; i < hook_point_count; ++i) {
        const auto* names = hooks.if_contains(hook_names[i]);
        if (!names) continue;
        if (!names->is_array()) throw std::invalid_argument(where + "hooks are not an array");
        for (const auto& n : names->get_array()) {
            if (!n.is_string()) throw std::invalid_argument(where + "a hook name is not a string");
            w.p.hooks[i].emplace_back(n.get_string());
        }
    }
    w.p.source = wr.str("source");
    w.planned_at = from_ms(wr.integer("planned_at"));
    w.planned_by = wr.str("planned_by");
    w.updated_at = from_ms(wr.integer("updated_at"));
    w.started_at = wr.opt_time("started_at");
    w.ended_at = wr.opt_time("ended_at");
    w.started_by = wr.str("started_by");
    w.outcome = wr.str("outcome");
    w.interrupted = wr.str("interrupted");
    w.write_boundary_ms = wr.opt_integer("write_boundary_ms");
    for (const auto& bv : wr.array("backups")) {
        const reader b{as_object(bv, where), where + "backup: "};
        w.backups.push_back({b.str("hook"), b.boolean("ok"), b.str("artifact"),
                             static_cast<std::uint64_t>(b.integer("bytes")), b.str("sha256"), b.str("detail"),
                             from_ms(b.integer("at"))});
    }
    for (const auto& hv : wr.array("hook_runs")) {
        const reader h{as_object(hv, where), where + "hook run: "};
        w.hook_runs.push_back({h.str("hook"), h.str("point"), h.str("outcome"), h.boolean("ok"),
                               h.integer("duration_ms"), h.str("error"), h.str("output"), from_ms(h.integer("at"))});
    }
    for (const auto& sv : wr.array("stages")) {
        const reader s{as_object(sv, where), where + "stage: "};
        stage_step st;
        auto to = policy::parse_stage(s.str("to", true));
        if (!to) throw std::invalid_argument(where + "a stage's \"to\" is not a stage");
        st.to = *to;
        st.at = from_ms(s.integer("at"));
        st.actor = s.str("actor");
        st.detail = s.str("detail");
        st.step_back = s.boolean("step_back");
        for (const auto& cv : s.array("checks")) {
            const reader c{as_object(cv, where), where + "check: "};
            st.checks.push_back({c.str("name"), c.boolean("ok"), c.str("detail")});
        }
        w.stages.push_back(std::move(st));
    }
    for (const auto& ev : wr.array("timeline")) {
        const reader e{as_object(ev, where), where + "event: "};
        w.timeline.push_back({from_ms(e.integer("at")), e.str("what"), e.str("actor"), e.str("detail")});
    }
    for (const auto& [route, n] : wr.object("refused_by_route")) {
        if (!n.is_int64() && !n.is_uint64()) throw std::invalid_argument(where + "a refused count is not a number");
        w.refused_by_route[std::string(route)] = n.is_uint64() ? n.get_uint64() : std::uint64_t(n.get_int64());
    }
    if (const auto* t = r.o.if_contains("refused_total"); t && (t->is_int64() || t->is_uint64()))
        w.refused_total = t->is_uint64() ? t->get_uint64() : std::uint64_t(t->get_int64());
    return w;
}

}  // namespace maintgate::window
