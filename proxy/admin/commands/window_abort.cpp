// window abort: on_abort hooks, then back to open through set mode.
#include "proxy/admin/admin_command.hpp"
#include "proxy/admin/commands/commands.hpp"
#include "proxy/admin/commands/reply.hpp"
#include "proxy/admin/gate_control.hpp"
#include "proxy/window/window_control.hpp"
#include "proxy/window/window_report.hpp"

namespace maintgate::proxy {
namespace {

void render_window_abort(std::string& out, const admin_reply& r, sys_time) {
    const auto& w = get_obj(r.body, "window");
    out += "aborted " + window::summary_line(w) + "\n";
    out += "gate " + std::string(get_str(r.body, "mode")) + "\n";
}

}  // namespace

boost::asio::awaitable<admin_reply> run_window_abort(admin_context& a, const admin::command& c) {
    auto* wc = a.gate.windows();
    if (!wc) co_return error_reply("maintenance windows are not available");
    std::optional<std::string> id;
    if (!c.window_id.empty()) id = c.window_id;
    auto res = co_await wc->abort_window(id, a.who, c.text);
    if (!res.ok) co_return error_reply(res.error);
    admin_reply r;
    r.body["ok"] = true;
    r.body["window"] = window::summary_json(*wc->find(res.id));
    r.body["mode"] = policy::to_string(a.gate.record().mode);
    r.text = &render_window_abort;
    co_return r;
}

}  // namespace maintgate::proxy
