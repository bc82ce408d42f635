// window history: the last N windows, newest first.
#include "proxy/admin/admin_command.hpp"
#include "proxy/admin/commands/commands.hpp"
#include "proxy/admin/commands/reply.hpp"
#include "proxy/admin/gate_control.hpp"
#include "proxy/window/window_control.hpp"
#include "proxy/window/window_report.hpp"

namespace maintgate::proxy {
namespace {

void render_window_history(std::string& out, const admin_reply& r, sys_time) {
    const auto& list = get_array(r.body, "windows");
    if (list.empty()) out += "no windows yet\n";
    for (const auto& w : list) {
        const auto& o = w.get_object();
        out += window::summary_line(o) + "\n";
        if (auto s = get_str(o, "outcome"); !s.empty()) out += "    " + one_line(s) + "\n";
    }
}

}  // namespace

boost::asio::awaitable<admin_reply> run_window_history(admin_context& a, const admin::command& c) {
    auto* wc = a.gate.windows();
    if (!wc) co_return error_reply("maintenance windows are not available");
    boost::json::array list;
    const auto& all = wc->windows();
    for (auto it = all.rbegin(); it != all.rend() && list.size() < c.count; ++it)
        list.push_back(window::summary_json(*it));
    admin_reply r;
    r.body["ok"] = true;
    r.body["windows"] = std::move(list);
    r.text = &render_window_history;
    co_return r;
}

}  // namespace maintgate::proxy
