// window start: backup gate, freeze with its boundary, boundary hooks, then the window's mode.
#include "proxy/admin/admin_command.hpp"
#include "proxy/admin/commands/commands.hpp"
#include "proxy/admin/commands/reply.hpp"
#include "proxy/admin/gate_control.hpp"
#include "proxy/window/window_control.hpp"
#include "proxy/window/window_report.hpp"

namespace maintgate::proxy {
namespace {

void render_window_start(std::string& out, const admin_reply& r, sys_time) {
    const auto& o = r.body;
    const auto& w = get_obj(o, "window");
    if (!get_bool(o, "ok")) out += "error: " + std::string(get_str(o, "error")) + "\n";
    if (!w.empty()) out += window::summary_line(w) + "\n";
    // What the start ran: the backup gate's verdicts, then each hook with its output.
    if (const auto* b = o.if_contains("backups"); b && b->is_array()) out += window::backup_lines("backup      ", b->get_array());
    if (const auto* h = o.if_contains("hook_runs"); h && h->is_array()) out += window::hook_run_lines(h->get_array());
    if (get_bool(o, "ok")) {
        out += "write boundary " + std::string(get_str(o, "write_boundary")) + "\n";
        out += "reopen with: maintgate ctl reopen (each stage's checks run first); report: maintgate ctl window report " +
               std::string(get_str(w, "id")) + "\n";
    }
}

}  // namespace

boost::asio::awaitable<admin_reply> run_window_start(admin_context& a, const admin::command& c) {
    auto* wc = a.gate.windows();
    if (!wc) co_return error_reply("maintenance windows are not available");
    std::optional<std::string> id;
    if (!c.window_id.empty()) id = c.window_id;
    auto res = co_await wc->start_window(id, a.who, c.text);
    admin_reply r;
    auto& o = r.body;
    o["ok"] = res.ok;
    if (!res.ok) o["error"] = res.error;
    const auto* w = res.id.empty() ? nullptr : wc->find(res.id);
    if (w) {
        o["window"] = window::summary_json(*w);
        // The backups and hooks of the start (the report has them all, the reopen's too).
        auto report = window::report_json(*w);
        boost::json::array runs;
        for (auto& v : report["hook_runs"].as_array()) {
            const auto point = v.as_object().at("point").as_string();
            if (point == "pre_freeze" || point == "at_boundary") runs.push_back(std::move(v));
        }
        o["backups"] = std::move(report["backups"]);
        o["hook_runs"] = std::move(runs);
        o["write_boundary"] = !w->write_boundary_ms        ? boost::json::value(nullptr)
                              : *w->write_boundary_ms == 0 ? boost::json::value("none since start-up")
                                                           : boost::json::value(format_iso8601_ms(*w->write_boundary_ms));
    } else if (!res.ok) {
        co_return error_reply(res.error);
    }
    r.text = &render_window_start;
    co_return r;
}

}  // namespace maintgate::proxy
