// freeze: read-only with the write fence up, then wait for the writes in flight.
#include "proxy/admin/admin_command.hpp"
#include "proxy/admin/commands/commands.hpp"
#include "proxy/admin/commands/reply.hpp"
#include "proxy/admin/gate_control.hpp"

namespace maintgate::proxy {
namespace {

void render_freeze(std::string& out, const admin_reply& r, sys_time) {
    const auto& o = r.body;
    if (!get_bool(o, "ok")) {
        out += "error: " + std::string(get_str(o, "error")) + "\n";
        return;
    }
    out += "frozen: no write in flight (" + std::to_string(get_uint(o, "waited_for")) + " drained in " +
           std::to_string(get_uint(o, "waited_ms")) + " ms)\n";
    out += is_null(o, "write_boundary") ? std::string("write boundary: no write since start-up\n")
                                        : "write boundary " + std::string(get_str(o, "write_boundary")) +
                                              " (the last write finished then)\n";
    if (get_bool(o, "hold"))
        out += "holding new writes (" + std::to_string(get_uint(o, "held")) +
               " held now): forwarded in arrival order when writes open, 503 past max_wait\n";
    out += "no write reaches the upstream until reopen reaches writes or set mode open\n";
}

}  // namespace

boost::asio::awaitable<admin_reply> run_freeze(admin_context& a, const admin::command& c) {
    auto f = co_await a.gate.freeze(c.timeout, c.hold, a.who, c.text);
    if (!f.fenced) co_return error_reply(f.error);
    admin_reply r;
    auto& o = r.body;
    o["ok"] = f.ok;
    o["mode"] = policy::to_string(a.gate.record().mode);
    o["fenced"] = true;
    o["waited_for"] = f.waited_for;
    o["pending"] = f.pending;
    o["hold"] = a.gate.record().hold;
    o["held"] = f.held;
    o["waited_ms"] = std::int64_t(f.waited.count());
    o["write_boundary"] =
        f.boundary_ms ? boost::json::value(format_iso8601_ms(f.boundary_ms)) : boost::json::value(nullptr);
    if (!f.ok)
        o["error"] = "freeze timed out after " + format_duration(f.timeout) + ": " +
                     std::to_string(f.pending) + " write(s) still in flight; writes stay refused";
    r.text = &render_freeze;
    co_return r;
}

}  // namespace maintgate::proxy
