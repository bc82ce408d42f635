// window status: the window under way (with its phase and message), the planned ones, and
// the one that ended last with its outcome (a window the backup gate stopped says why here).
#include "proxy/admin/admin_command.hpp"
#include "proxy/admin/commands/commands.hpp"
#include "proxy/admin/commands/reply.hpp"
#include "proxy/admin/gate_control.hpp"
#include "proxy/cluster/cluster_node.hpp"
#include "proxy/window/window_control.hpp"
#include "proxy/window/window_report.hpp"

namespace maintgate::proxy {
namespace {

void render_window_status(std::string& out, const admin_reply& r, sys_time) {
    const auto& o = r.body;
    if (!is_null(o, "current"))
        out += "under way  " + window::summary_line(get_obj(o, "current")) + "\n";
    else if (!is_null(o, "elsewhere"))
        out += "under way  on replica " + std::string(get_str(get_obj(o, "elsewhere"), "replica")) + ": " +
               window::summary_line(get_obj(o, "elsewhere")) + "\n";
    else
        out += "no window under way\n";
    const auto& live = get_array(o, "planned");
    if (live.empty()) out += "none planned\n";
    for (const auto& w : live) out += "planned    " + window::summary_line(w.get_object()) + "\n";
    if (!is_null(o, "last_ended")) {
        const auto& w = get_obj(o, "last_ended");
        out += "last ended " + window::summary_line(w) + "\n";
        if (auto s = get_str(w, "outcome"); !s.empty()) out += "    outcome: " + one_line(s) + "\n";
    }
    if (auto e = get_str(o, "store_error"); !e.empty()) out += "windows file: " + std::string(e) + "\n";
    if (auto e = get_str(o, "in_progress"); !e.empty()) out += "in progress " + std::string(e) + "\n";
}

}  // namespace

boost::asio::awaitable<admin_reply> run_window_status(admin_context& a, const admin::command&) {
    auto* wc = a.gate.windows();
    if (!wc) co_return error_reply("maintenance windows are not available");
    admin_reply r;
    auto& o = r.body;
    o["ok"] = true;
    const auto* cur = wc->current();
    o["current"] = cur ? boost::json::value(window::summary_json(*cur)) : boost::json::value(nullptr);
    // [cluster]: the window another replica runs on the shared gate (its report is there).
    const auto* c = a.gate.cluster();
    o["elsewhere"] = c && c->shared_window_held() && c->shared()->replica != c->id() ? c->shared_window_json()
                                                                                      : boost::json::value(nullptr);
    boost::json::array planned;
    for (const auto& w : wc->windows())
        if (w.ph == window::phase::planned || w.ph == window::phase::announced)
            planned.push_back(window::summary_json(w));
    o["planned"] = std::move(planned);
    const window::window* last = nullptr;
    for (const auto& w : wc->windows())
        if (window::finished(w.ph) && w.ended_at && (!last || *w.ended_at >= *last->ended_at)) last = &w;
    o["last_ended"] = last ? boost::json::value(window::summary_json(*last)) : boost::json::value(nullptr);
    o["store_error"] = wc->store_error();
    o["in_progress"] = wc->running();
    r.text = &render_window_status;
    co_return r;
}

}  // namespace maintgate::proxy
