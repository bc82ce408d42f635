// freeze: read-only with the write fence up, then wait for the writes in flight.
#include "proxy/admin/admin_command.hpp"
#include "proxy/admin/commands/commands.hpp"
#include "proxy/admin/commands/reply.hpp"
#include "proxy/admin/gate_control.hpp"
#include "proxy/cluster/cluster_node.hpp"

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
    if (const auto* reps = o.if_contains("replicas"); reps && reps->is_array()) {
        out += "every live replica acknowledged revision " + std::to_string(get_uint(o, "revision")) +
               " with no write in flight:\n";
        for (const auto& v : reps->as_array()) {
            const auto& p = v.as_object();
            out += "  " + std::string(get_str(p, "id")) + ": write boundary " +
                   (is_null(p, "write_boundary") ? std::string("none since start-up")
                                                 : std::string(get_str(p, "write_boundary"))) +
                   "\n";
        }
    }
    if (get_bool(o, "hold"))
        out += "holding new writes (" + std::to_string(get_uint(o, "held")) +
               " held now): forwarded in arrival order when writes open, 503 past max_wait\n";
    out += "no write reaches the upstream until reopen reaches writes or set mode open\n";
}

}  // namespace

namespace js = boost::json;

js::object replica_json(const cluster::peer& p, std::string_view state) {
    js::object o{{"id", p.id}, {"state", state}};
    o["revision"] = p.ack ? js::value(p.ack->revision) : js::value(nullptr);
    o["in_flight_writes"] = p.ack ? js::value(p.ack->in_flight_writes) : js::value(nullptr);
    o["write_boundary"] = p.ack && p.ack->write_boundary_ms
                              ? js::value(format_iso8601_ms(p.ack->write_boundary_ms))
                              : js::value(nullptr);
    return o;
}

std::string names(const std::vector<cluster::peer>& v, bool writes) {
    std::string s;
    for (const auto& p : v) {
        if (!s.empty()) s += ", ";
        s += p.id;
        if (writes && p.ack) s += " (" + std::to_string(p.ack->in_flight_writes) + " write(s))";
    }
    return s;
}

boost::asio::awaitable<admin_reply> run_freeze(admin_context& a, const admin::command& c) {
    const auto started = std::chrono::steady_clock::now();
    auto f = co_await a.gate.freeze(c.timeout, c.hold, a.who, c.text);
    if (!f.fenced) co_return error_reply(f.error);
    // In a cluster the freeze holds when every live replica has taken it, not this one.
    std::optional<cluster::acks_outcome> acks;
    auto* node = a.gate.cluster();
    if (node && f.ok) acks = co_await node->wait_acks(node->last_proposed(), started + f.timeout);
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
    if (acks) {
        o["revision"] = node->last_proposed();
        js::array reps;
        for (const auto& p : acks->done) reps.push_back(replica_json(p, "done"));
        for (const auto& p : acks->draining) reps.push_back(replica_json(p, "draining"));
        for (const auto& p : acks->silent) reps.push_back(replica_json(p, "silent"));
        o["replicas"] = std::move(reps);
        if (!acks->ok) {
            o["ok"] = false;
            std::string e = "freeze not acknowledged by every live replica within " + format_duration(f.timeout);
            if (!acks->draining.empty()) e += "; still draining: " + names(acks->draining, true);
            if (!acks->silent.empty()) e += "; silent: " + names(acks->silent, false);
            if (!acks->error.empty()) e += "; " + acks->error;
            e += "; writes stay refused where the freeze arrived";
            o["error"] = e;
        }
    }
    r.text = &render_freeze;
    co_return r;
}

}  // namespace maintgate::proxy
