// status: the mode and stage, why, since and until when, the write fence, the counters.
#include "proxy/admin/admin_command.hpp"
#include "proxy/admin/commands/commands.hpp"
#include "proxy/admin/commands/reply.hpp"
#include "proxy/admin/gate_control.hpp"
#include "proxy/cluster/cluster_node.hpp"
#include "proxy/window/window_control.hpp"
#include "proxy/window/window_report.hpp"
#include "proxy/hooks/hook_report.hpp"

namespace maintgate::proxy {
namespace {

namespace js = boost::json;

// [cluster]: this replica's link to etcd, then one line per replica seen there.
void render_cluster(std::string& out, const js::object& c) {
    out += "cluster     replica " + std::string(get_str(c, "replica")) + ", desired revision " +
           std::to_string(get_uint(c, "applied_revision")) + " applied, ";
    if (get_bool(c, "self_fenced"))
        out += "FENCED ITSELF since " + std::string(get_str(c, "fenced_since")) + ": " +
               one_line(get_str(c, "fence_reason")) + "\n";
    else if (get_bool(c, "connected"))
        out += "etcd " + std::string(get_str(c, "etcd")) + " connected\n";
    else
        out += "not connected: " + one_line(get_str(c, "last_error")) + "\n";
    if (!is_null(c, "window")) {
        const auto& w = get_obj(c, "window");
        const bool gone = get_str(w, "phase") != "completed" && get_str(w, "phase") != "aborted" &&
                          !get_bool(w, "held");
        out += "  window    " + std::string(get_str(w, "id")) + " " + std::string(get_str(w, "phase")) +
               " (run by replica " + std::string(get_str(w, "replica")) +
               (gone ? ", whose lease is gone: it holds nothing" : "") + ")\n";
    }
    for (const auto& v : get_array(c, "replicas")) {
        if (!v.is_object()) continue;
        const auto& p = v.as_object();
        out += "  replica   " + std::string(get_str(p, "id"));
        if (!get_bool(p, "live")) out += " (lease gone)";
        if (is_null(p, "applied_revision")) {
            out += ": no ack yet\n";
            continue;
        }
        out += ": revision " + std::to_string(get_uint(p, "applied_revision")) + ", " +
               std::string(get_str(p, "mode"));
        if (get_bool(p, "fenced")) out += " fenced";
        if (get_bool(p, "self_fenced")) out += " (fenced itself: no etcd)";
        out += ", " + std::to_string(get_uint(p, "in_flight_writes")) + " write(s) in flight, acked " +
               std::to_string(get_uint(p, "ack_age_ms")) + " ms ago\n";
    }
}

void render_status(std::string& out, const admin_reply& r, sys_time now) {
    const auto& o = r.body;
    const auto& aside = r.aside;
    // The stages named after a mode share its name, so a stage that differs from the
    // mode's name is one of the stages in between (operators, writes).
    out += "mode        ";
    out += get_str(o, "mode");
    if (get_str(o, "stage") != get_str(o, "mode")) {
        out += " (stage ";
        out += get_str(o, "stage");
        out += ')';
    }
    if (get_bool(o, "fenced")) out += ", writes fenced";
    out += '\n';
    out += "since       " + when(*get_time(aside, "since"), now);
    if (auto by = get_str(o, "set_by"); !by.empty()) out += " by " + std::string(by);
    out += '\n';
    if (auto reason = get_str(o, "reason"); !reason.empty()) out += "reason      " + one_line(reason) + "\n";
    if (auto until = get_time(aside, "until")) out += "expected    " + when(*until, now) + "\n";
    const auto& flight = get_obj(o, "in_flight");
    out += "in flight   " + std::to_string(get_uint(flight, "reads")) + " read(s), " +
           std::to_string(get_uint(flight, "writes")) + " write(s)\n";
    const auto& sc = get_obj(o, "stage_counters");
    out += "refused     " + std::to_string(get_uint(o, "refused_writes")) + " write(s) since start, " +
           std::to_string(get_uint(sc, "refused_writes")) + " in this stage\n";
    // JSON says null both before any freeze and after one that found no write: the text
    // tells them apart.
    if (get_bool(aside, "froze"))
        out += "boundary    " +
               (is_null(o, "last_write_boundary") ? std::string("no write since start-up")
                                                  : std::string(get_str(o, "last_write_boundary"))) +
               " (last freeze)\n";
    out += "last write  " +
           (is_null(o, "last_write_completed") ? std::string("none since start-up")
                                               : std::string(get_str(o, "last_write_completed"))) +
           "\n";
    if (!is_null(o, "upstream")) {
        const auto& up = get_obj(o, "upstream");
        out += "upstream    " + std::string(get_bool(up, "healthy") ? "healthy" : "UNHEALTHY") + ": " +
               one_line(get_str(up, "detail")) + " (checked " + relative(*get_time(aside, "checked"), now) +
               ")\n";
    } else {
        out += std::string("upstream    ") +
               (get_bool(aside, "health_configured") ? "not checked yet"
                                                     : "no health check configured ([health_check])") +
               "\n";
    }
    out += "this stage  " + std::to_string(get_uint(sc, "requests")) + " request(s), " +
           std::to_string(get_uint(sc, "upstream_responses")) + " upstream response(s), " +
           std::to_string(get_uint(sc, "upstream_5xx")) + " 5xx (" + percent(get_double(sc, "error_rate")) +
           ")\n";
    if (auto w = get_time(aside, "watch_until"))
        out += "watch       until " + when(*w, now) + ": steps back above " +
               percent(get_double(aside, "max_error_rate")) + " 5xx after " +
               std::to_string(get_uint(aside, "min_requests")) + " responses\n";
    if (auto s = get_str(o, "last_step_back"); !s.empty()) out += "step back   " + std::string(s) + "\n";
    if (auto s = get_str(o, "hooks_interrupted"); !s.empty()) out += "hooks       " + std::string(s) + "\n";
    if (auto s = get_str(o, "in_progress"); !s.empty()) out += "in progress " + std::string(s) + "\n";
    const auto& held = get_obj(o, "held");
    if (get_bool(o, "hold") || get_uint(held, "total") > 0)
        out += "held        " + std::to_string(get_uint(held, "now")) + " write(s) now" +
               (get_bool(o, "hold") ? " (this freeze holds writes)" : "") + "; since start " +
               std::to_string(get_uint(held, "released")) + " released, " +
               std::to_string(get_uint(held, "timed_out")) + " timed out, " +
               std::to_string(get_uint(held, "over_quota")) + " over quota, " +
               std::to_string(get_uint(held, "dropped")) + " dropped\n";
    const auto& ar = get_obj(o, "auto_read_only");
    if (get_bool(ar, "active")) {
        out += "automatic   read-only by itself (" + std::string(get_str(ar, "cause")) +
               "): " + one_line(get_str(ar, "detail"));
        if (auto e = get_time(aside, "auto_expires")) out += "; expires " + when(*e, now);
        out += "\n";
    }
    out += "connections " + std::to_string(get_uint(o, "connections")) + "\n";
    if (!is_null(o, "cluster")) render_cluster(out, get_obj(o, "cluster"));
    if (!is_null(o, "window")) {
        const auto& w = get_obj(o, "window");
        out += "window      " + window::summary_line(w);
        if (auto rep = get_str(w, "replica"); !rep.empty()) out += "  (run by replica " + std::string(rep) + ")";
        out += "\n";
    }
}

}  // namespace

boost::asio::awaitable<admin_reply> run_status(admin_context& a, const admin::command&) {
    const gate_control& g = a.gate;
    const auto& rec = g.record();
    const auto t = g.totals();
    const auto sc = g.since_stage();
    const auto& h = g.health();
    const auto& rc = g.cfg().reopen;
    const auto boundary = g.last_boundary_ms();

    admin_reply r;
    auto& o = r.body;
    o["ok"] = true;
    o["mode"] = policy::to_string(rec.mode);
    o["stage"] = policy::to_string(rec.stage);
    o["fenced"] = rec.fenced;
    o["since"] = format_iso8601(rec.since);
    o["set_by"] = rec.set_by;
    o["reason"] = rec.reason;
    o["until"] = iso_or_null(rec.until);
    o["in_flight"] = js::object{{"reads", t.reads_in_flight()}, {"writes", t.writes_in_flight()}};
    o["refused_writes"] = t.refused_writes;
    o["last_write_boundary"] =
        boundary && *boundary ? js::value(format_iso8601_ms(*boundary)) : js::value(nullptr);
    o["last_write_completed"] =
        t.last_write_done_ms ? js::value(format_iso8601_ms(t.last_write_done_ms)) : js::value(nullptr);
    if (h.last)
        o["upstream"] =
            js::object{{"healthy", h.last->ok}, {"detail", h.last->detail}, {"checked", iso_or_null(h.at)}};
    else
        o["upstream"] = nullptr;
    o["stage_counters"] = js::object{{"since", format_iso8601(rec.since)},
                                     {"requests", sc.requests},
                                     {"upstream_responses", sc.upstream_responses},
                                     {"upstream_5xx", sc.upstream_5xx},
                                     {"error_rate", sc.error_rate()},
                                     {"refused_writes", sc.refused_writes}};
    o["watch_until"] = iso_or_null(g.watch_until());
    o["last_step_back"] = g.last_step_back();
    o["hooks_interrupted"] = interrupted_hooks_line();
    o["in_progress"] = g.busy();
    o["connections"] = std::uint64_t(g.connections());
    if (const auto* c = g.cluster())
        o["cluster"] = c->status_json(a.now);
    else
        o["cluster"] = nullptr;
    o["hold"] = rec.hold;
    o["held"] = js::object{{"now", t.writes_held()},           {"total", t.held_writes},
                           {"released", t.held_released},     {"timed_out", t.held_timed_out},
                           {"over_quota", t.held_over_quota}, {"dropped", t.held_dropped}};
    const auto& ar = g.auto_ro();
    js::object auto_o{{"enabled", g.cfg().auto_read_only.enabled}, {"active", ar.active()}};
    auto_o["cause"] = ar.cause() ? js::value(to_string(*ar.cause())) : js::value(nullptr);
    auto_o["detail"] = ar.active() ? ar.detail() : std::string();
    auto_o["since"] = ar.active() ? iso_or_null(ar.since()) : js::value(nullptr);
    auto_o["expires"] = ar.active() ? iso_or_null(ar.expires()) : js::value(nullptr);
    js::object entries;
    for (std::size_t i = 0; i < auto_cause_count; ++i)
        entries[to_string(static_cast<auto_cause>(i))] = ar.entries()[i];
    auto_o["entries"] = std::move(entries);
    o["auto_read_only"] = std::move(auto_o);
    // The maintenance window under way (here, or on another replica of the cluster: the
    // desired state carries it), else the next one planned here.
    const window::window* w = nullptr;
    const auto* wc = g.windows();
    if (wc) w = wc->current();
    const auto* c = g.cluster();
    if (w)
        o["window"] = window::summary_json(*w);
    else if (c && c->shared_window_held() && c->shared()->replica != c->id())
        o["window"] = c->shared_window_json();
    else if (wc && wc->next())
        o["window"] = window::summary_json(*wc->next());
    else
        o["window"] = nullptr;

    auto& aside = r.aside;
    put_time(aside, "since", rec.since);
    put_time(aside, "until", rec.until);
    put_time(aside, "checked", h.at);
    put_time(aside, "watch_until", g.watch_until());
    aside["froze"] = boundary.has_value();
    if (ar.active()) put_time(aside, "auto_expires", ar.expires());
    aside["health_configured"] = rc.health.has_value();
    aside["max_error_rate"] = rc.max_error_rate;
    aside["min_requests"] = std::uint64_t(rc.min_requests);
    r.text = &render_status;
    co_return r;
}

}  // namespace maintgate::proxy
