// set mode: lands on the stage of the same name, with the reason and expected end.
#include "proxy/admin/admin_command.hpp"
#include "proxy/admin/commands/commands.hpp"
#include "proxy/admin/commands/reply.hpp"
#include "proxy/admin/gate_control.hpp"

namespace maintgate::proxy {
namespace {

void render_set_mode(std::string& out, const admin_reply& r, sys_time now) {
    const auto& o = r.body;
    out += "mode " + std::string(get_str(o, "mode")) + " (was " + std::string(get_str(o, "previous_stage")) +
           ")";
    if (auto reason = get_str(o, "reason"); !reason.empty()) out += ": " + one_line(reason);
    out += '\n';
    if (auto until = get_time(r.aside, "until")) out += "expected end " + when(*until, now) + "\n";
    if (get_bool(o, "fenced"))
        out += "the write fence stays up until reopen reaches writes or set mode open\n";
}

}  // namespace

boost::asio::awaitable<admin_reply> run_set_mode(admin_context& a, const admin::command& c) {
    const auto before = a.gate.record();
    auto outcome = co_await a.gate.set_mode(c.mode, c.reason, c.until, a.who, c.text);
    if (!outcome.ok) co_return error_reply(outcome.error);
    const auto& rec = a.gate.record();
    admin_reply r;
    auto& o = r.body;
    o["ok"] = true;
    o["mode"] = policy::to_string(rec.mode);
    o["stage"] = policy::to_string(rec.stage);
    o["previous_stage"] = policy::to_string(before.stage);
    o["fenced"] = rec.fenced;
    o["reason"] = rec.reason;
    o["until"] = iso_or_null(rec.until);
    put_time(r.aside, "until", rec.until);
    r.text = &render_set_mode;
    co_return r;
}

}  // namespace maintgate::proxy
