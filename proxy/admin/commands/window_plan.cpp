// window plan: a maintenance window, planned (or planned again before it starts).
#include "proxy/admin/admin_command.hpp"
#include "proxy/admin/commands/commands.hpp"
#include "proxy/admin/commands/reply.hpp"
#include "proxy/admin/gate_control.hpp"
#include "proxy/window/window_control.hpp"
#include "proxy/window/window_report.hpp"

namespace maintgate::proxy {
namespace {

void render_window_plan(std::string& out, const admin_reply& r, sys_time) {
    const auto& w = get_obj(r.body, "window");
    out += "planned " + window::summary_line(w) + "\n";
    if (is_null(w, "starts"))
        out += "starts by hand: window start " + std::string(get_str(w, "id")) + "\n";
    else
        out += "starts by itself at " + std::string(get_str(w, "starts")) + "\n";
    out += "announced from " +
           (is_null(w, "announce_from") ? std::string("now") : std::string(get_str(w, "announce_from"))) + "\n";
}

}  // namespace

boost::asio::awaitable<admin_reply> run_window_plan(admin_context& a, const admin::command& c) {
    auto* wc = a.gate.windows();
    if (!wc) co_return error_reply("maintenance windows are not available");
    window::plan p;
    p.id = c.window_id;
    p.starts = c.window_starts;
    p.ends = *c.window_ends;
    p.announce_from = c.window_announce;
    p.mode = c.mode;
    p.reason = c.reason;
    p.source = "ctl";
    // A window planned again keeps what only the config can say (messages, hooks).
    if (const auto* old = wc->find(p.id)) {
        p.messages = old->p.messages;
        p.hooks = old->p.hooks;
    }
    auto res = wc->plan_window(std::move(p), a.who, c.text);
    if (!res.ok) co_return error_reply(res.error);
    admin_reply r;
    r.body["ok"] = true;
    r.body["window"] = window::summary_json(*wc->find(res.id));
    r.text = &render_window_plan;
    co_return r;
}

}  // namespace maintgate::proxy
