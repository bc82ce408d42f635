#include "proxy/window/window_report.hpp"

#include <boost/json/array.hpp>

namespace maintgate::window {
namespace {

namespace js = boost::json;

js::value iso(std::optional<sys_time> t) { return t ? js::value(format_iso8601(*t)) : js::value(nullptr); }

std::string_view str(const js::object& o, std::string_view k) {
    const auto* v = o.if_contains(k);
    return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view{};
}
std::string text_or(const js::object& o, std::string_view k, std::string_view dflt) {
    auto s = str(o, k);
    return std::string(s.empty() ? dflt : s);
}
std::uint64_t num(const js::object& o, std::string_view k) {
    const auto* v = o.if_contains(k);
    if (!v) return 0;
    if (v->is_uint64()) return v->get_uint64();
    if (v->is_int64()) return std::uint64_t(v->get_int64());
    return 0;
}
bool flag(const js::object& o, std::string_view k) {
    const auto* v = o.if_contains(k);
    return v && v->is_bool() && v->get_bool();
}
const js::array& arr(const js::object& o, std::string_view k) {
    static const js::array empty;
    const auto* v = o.if_contains(k);
    return v && v->is_array() ? v->get_array() : empty;
}
const js::object& obj(const js::object& o, std::string_view k) {
    static const js::object empty;
    const auto* v = o.if_contains(k);
    return v && v->is_object() ? v->get_object() : empty;
}
// No raw newline from a hook's detail may end a text reply early (nor trail a line).
std::string one_line(std::string_view s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.remove_suffix(1);
    std::string out;
    for (char c : s) out += (c == '\n' || c == '\r') ? ' ' : c;
    return out;
}

js::object backup_json(const backup& b) {
    return js::object{{"hook", b.hook},   {"ok", b.ok},         {"artifact", b.artifact}, {"bytes", b.bytes},
                      {"sha256", b.sha256}, {"detail", b.detail}, {"at", format_iso8601(b.at)}};
}

// The backups taken before the freeze and after the reopen, told apart by time.
bool after_reopen(const window& w, const backup& b) {
    for (const auto& e : w.timeline)
        if (e.what == "phase verifying") return b.at >= e.at;
    return false;
}

}  // namespace

js::object summary_json(const window& w) {
    return js::object{
        {"id", w.p.id},
        {"phase", to_string(w.ph)},
        {"mode", policy::to_string(w.p.mode)},
        {"reason", w.p.reason},
        {"announce_from", iso(w.p.announce_from)},
        {"starts", iso(w.p.starts)},
        {"ends", format_iso8601(w.p.ends)},
        {"started_at", iso(w.started_at)},
        {"ended_at", iso(w.ended_at)},
        {"started_by", w.started_by},
        {"outcome", w.outcome},
        {"interrupted", w.interrupted},
        {"message", w.message()},
        {"source", w.p.source},
    };
}

js::object report_json(const window& w) {
    js::object o = summary_json(w);
    o["planned_at"] = format_iso8601(w.planned_at);
    o["planned_by"] = w.planned_by;
    js::object hooks;
    for (std::size_t i = 0; i < hook_point_count; ++i) {
        js::array names;
        for (const auto& n : w.p.hooks[i]) names.emplace_back(js::string(n));
        hooks[to_string(hook_point(i))] = std::move(names);
    }
    o["hooks"] = std::move(hooks);
    o["write_boundary"] = !w.write_boundary_ms        ? js::value(nullptr)
                          : *w.write_boundary_ms == 0 ? js::value("none since start-up")
                                                      : js::value(format_iso8601_ms(*w.write_boundary_ms));
    js::array pre, post;
    for (const auto& b : w.backups) (after_reopen(w, b) ? post : pre).push_back(backup_json(b));
    o["backups"] = std::move(pre);
    o["post_window_backups"] = std::move(post);
    js::array runs;
    for (const auto& h : w.hook_runs)
        runs.emplace_back(js::object{{"hook", h.hook},
                                     {"point", h.point},
                                     {"outcome", h.outcome},
                                     {"ok", h.ok},
                                     {"duration_ms", h.duration_ms},
                                     {"error", h.error},
                                     {"output", h.output},
                                     {"at", format_iso8601_ms(h.at)}});
    o["hook_runs"] = std::move(runs);
    js::array stages, step_backs;
    for (const auto& s : w.stages) {
        js::array checks;
        for (const auto& c : s.checks)
            checks.emplace_back(js::object{{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
        js::object so{{"stage", policy::to_string(s.to)}, {"at", format_iso8601(s.at)}, {"actor", s.actor},
                      {"detail", s.detail},           {"checks", std::move(checks)},  {"step_back", s.step_back}};
        if (s.step_back) step_backs.push_back(so);
        stages.push_back(std::move(so));
    }
    o["stages"] = std::move(stages);
    o["step_backs"] = std::move(step_backs);
    js::object routes;
    for (const auto& [r, n] : w.refused_by_route) routes[r] = n;
    o["refused_writes"] = js::object{{"total", w.refused_total}, {"by_route", std::move(routes)}};
    js::array timeline;
    for (const auto& e : w.timeline)
        timeline.emplace_back(js::object{
            {"at", format_iso8601_ms(e.at)}, {"what", e.what}, {"actor", e.actor}, {"detail", e.detail}});
    o["timeline"] = std::move(timeline);
    return o;
}

std::string summary_line(const js::object& s) {
    std::string line = std::string(str(s, "id")) + "  " + std::string(str(s, "phase")) + "  " +
                       std::string(str(s, "mode")) + "  " + text_or(s, "starts", "by hand") + " .. " +
                       std::string(str(s, "ends"));
    if (auto r = str(s, "reason"); !r.empty()) line += "  " + one_line(r);
    if (auto i = str(s, "interrupted"); !i.empty()) line += "\n    INTERRUPTED: " + one_line(i);
    return line;
}

std::string backup_lines(std::string_view label, const js::array& list) {
    std::string out;
    for (const auto& v : list) {
        const auto& b = v.get_object();
        out += std::string(label) + (flag(b, "ok") ? "ok  " : "REFUSED  ") + std::string(str(b, "hook")) + ": " +
               std::string(str(b, "artifact")) + ", " + std::to_string(num(b, "bytes")) + " bytes, sha256 " +
               text_or(b, "sha256", "-") + (str(b, "detail").empty() ? "" : " (" + one_line(str(b, "detail")) + ")") +
               "\n";
    }
    return out;
}

std::string hook_run_lines(const js::array& runs) {
    std::string out;
    for (const auto& v : runs) {
        const auto& h = v.get_object();
        out += "hook        " + std::string(flag(h, "ok") ? "ok    " : "FAIL  ") + std::string(str(h, "hook")) + " (" +
               std::string(str(h, "point")) + ") " + std::string(str(h, "outcome")) + " in " +
               std::to_string(num(h, "duration_ms")) + "ms at " + std::string(str(h, "at")) + "\n";
        if (auto e = str(h, "error"); !e.empty()) out += "              " + one_line(e) + "\n";
        if (auto o = str(h, "output"); !o.empty()) out += "              | " + one_line(o) + "\n";
    }
    return out;
}

std::string report_text(const js::object& r) {
    std::string out;
    out += "window      " + std::string(str(r, "id")) + " (" + std::string(str(r, "phase")) + ")\n";
    if (auto s = str(r, "reason"); !s.empty()) out += "reason      " + one_line(s) + "\n";
    out += "planned     " + std::string(str(r, "planned_at")) + " by " + std::string(str(r, "planned_by")) + "\n";
    out += "schedule    " + text_or(r, "starts", "by hand") + " .. " + std::string(str(r, "ends")) + ", " +
           std::string(str(r, "mode")) + "\n";
    if (auto s = str(r, "started_at"); !s.empty())
        out += "started     " + std::string(s) + " by " + std::string(str(r, "started_by")) + "\n";
    if (auto s = str(r, "ended_at"); !s.empty()) out += "ended       " + std::string(s) + "\n";
    if (auto s = str(r, "outcome"); !s.empty()) out += "outcome     " + one_line(s) + "\n";
    if (auto s = str(r, "interrupted"); !s.empty()) out += "INTERRUPTED " + one_line(s) + "\n";
    auto backups = [&](std::string_view label, const js::array& list) {
        if (list.empty()) out += std::string(label) + "none\n";
        else out += backup_lines(label, list);
    };
    backups("backup      ", arr(r, "backups"));
    out += hook_run_lines(arr(r, "hook_runs"));
    out += "boundary    " + text_or(r, "write_boundary", "not reached") + "\n";
    for (const auto& v : arr(r, "stages")) {
        const auto& s = v.get_object();
        out += std::string(flag(s, "step_back") ? "step back   " : "stage       ") + std::string(str(s, "stage")) +
               " at " + std::string(str(s, "at")) + " by " + std::string(str(s, "actor")) +
               (str(s, "detail").empty() ? "" : ": " + one_line(str(s, "detail"))) + "\n";
        for (const auto& cv : arr(s, "checks")) {
            const auto& c = cv.get_object();
            out += "              " + std::string(flag(c, "ok") ? "pass  " : "FAIL  ") + std::string(str(c, "name")) +
                   ": " + one_line(str(c, "detail")) + "\n";
        }
    }
    const auto& refused = obj(r, "refused_writes");
    out += "refused     " + std::to_string(num(refused, "total")) + " write(s)\n";
    for (const auto& [route, n] : obj(refused, "by_route"))
        out += "              " + std::string(route) + ": " +
               std::to_string(n.is_uint64() ? n.get_uint64() : std::uint64_t(n.to_number<std::int64_t>())) + "\n";
    backups("post backup ", arr(r, "post_window_backups"));
    out += "timeline\n";
    for (const auto& v : arr(r, "timeline")) {
        const auto& e = v.get_object();
        out += "  " + std::string(str(e, "at")) + "  " + std::string(str(e, "what")) + " (" +
               std::string(str(e, "actor")) + ")" + (str(e, "detail").empty() ? "" : ": " + one_line(str(e, "detail"))) +
               "\n";
    }
    return out;
}

std::string report_markdown(const js::object& r) {
    auto cell = [](std::string_view s) {
        std::string out;
        for (char c : one_line(s)) {
            if (c == '|') out += "\\|";
            else out += c;
        }
        return out;
    };
    std::string out = "# Maintenance window " + std::string(str(r, "id")) + "\n\n";
    if (auto s = str(r, "reason"); !s.empty()) out += one_line(s) + "\n\n";
    out += "| | |\n|---|---|\n";
    out += "| Phase | " + std::string(str(r, "phase")) + " |\n";
    out += "| Mode | " + std::string(str(r, "mode")) + " |\n";
    out += "| Scheduled | " + text_or(r, "starts", "by hand") + " .. " + std::string(str(r, "ends")) + " |\n";
    out += "| Started | " + text_or(r, "started_at", "-") + " by " + cell(text_or(r, "started_by", "-")) + " |\n";
    out += "| Ended | " + text_or(r, "ended_at", "-") + " |\n";
    out += "| Outcome | " + cell(text_or(r, "outcome", "-")) + " |\n";
    out += "| Write boundary | " + text_or(r, "write_boundary", "not reached") + " |\n";
    if (auto s = str(r, "interrupted"); !s.empty()) out += "| Interrupted | " + cell(s) + " |\n";
    auto backups = [&](std::string_view title, const js::array& list) {
        out += "\n## " + std::string(title) + "\n\n";
        if (list.empty()) {
            out += "None.\n";
            return;
        }
        out += "| Hook | Result | Artifact | Bytes | SHA-256 |\n|---|---|---|---|---|\n";
        for (const auto& v : list) {
            const auto& b = v.get_object();
            out += "| " + cell(str(b, "hook")) + " | " + (flag(b, "ok") ? "ok" : "refused: " + cell(str(b, "detail"))) +
                   " | " + cell(str(b, "artifact")) + " | " + std::to_string(num(b, "bytes")) + " | `" +
                   text_or(b, "sha256", "-") + "` |\n";
        }
    };
    backups("Backup before the freeze", arr(r, "backups"));
    out += "\n## Hooks\n\n";
    if (arr(r, "hook_runs").empty()) out += "None ran.\n";
    else out += "| At | Hook | Phase | Outcome | Took | Error | Output |\n|---|---|---|---|---|---|---|\n";
    for (const auto& v : arr(r, "hook_runs")) {
        const auto& h = v.get_object();
        out += "| " + std::string(str(h, "at")) + " | " + cell(str(h, "hook")) + " | " + cell(str(h, "point")) + " | " +
               cell(str(h, "outcome")) + " | " + std::to_string(num(h, "duration_ms")) + " ms | " +
               cell(text_or(h, "error", "-")) + " | " + cell(text_or(h, "output", "-")) + " |\n";
    }
    out += "\n## Reopen\n\n";
    if (arr(r, "stages").empty()) out += "No stage yet.\n";
    else out += "| At | Stage | By | Checks | Detail |\n|---|---|---|---|---|\n";
    for (const auto& v : arr(r, "stages")) {
        const auto& s = v.get_object();
        std::string checks;
        for (const auto& cv : arr(s, "checks")) {
            const auto& c = cv.get_object();
            if (!checks.empty()) checks += "; ";
            checks += std::string(flag(c, "ok") ? "pass " : "FAIL ") + std::string(str(c, "name"));
        }
        out += "| " + std::string(str(s, "at")) + " | " + (flag(s, "step_back") ? "step back to " : "") +
               std::string(str(s, "stage")) + " | " + cell(str(s, "actor")) + " | " + cell(checks) + " | " +
               cell(str(s, "detail")) + " |\n";
    }
    const auto& refused = obj(r, "refused_writes");
    out += "\n## Refused writes\n\n" + std::to_string(num(refused, "total")) + " in total.\n";
    if (!obj(refused, "by_route").empty()) out += "\n| Route | Refused |\n|---|---|\n";
    for (const auto& [route, n] : obj(refused, "by_route"))
        out += "| " + cell(route) + " | " + std::to_string(n.is_uint64() ? n.get_uint64() : std::uint64_t(n.to_number<std::int64_t>())) + " |\n";
    backups("Post-window backup", arr(r, "post_window_backups"));
    out += "\n## Timeline\n\n";
    for (const auto& v : arr(r, "timeline")) {
        const auto& e = v.get_object();
        out += "- " + std::string(str(e, "at")) + " **" + cell(str(e, "what")) + "** (" + cell(str(e, "actor")) + ")" +
               (str(e, "detail").empty() ? "" : ": " + cell(str(e, "detail"))) + "\n";
    }
    return out;
}

}  // namespace maintgate::window
