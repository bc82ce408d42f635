// check: the health check and every smoke check, now; changes nothing.
#include <algorithm>

#include "proxy/admin/admin_command.hpp"
#include "proxy/admin/commands/commands.hpp"
#include "proxy/admin/commands/reply.hpp"
#include "proxy/admin/gate_control.hpp"

namespace maintgate::proxy {
namespace {

void render_check(std::string& out, const admin_reply& r, sys_time) {
    const auto& checks = get_array(r.body, "checks");
    if (!get_bool(r.body, "ok")) {
        auto failed = std::count_if(checks.begin(), checks.end(), [](const boost::json::value& v) {
            return !get_bool(v.get_object(), "ok");
        });
        out += "error: " + std::to_string(failed) + " check(s) failed\n";
    }
    probes_text(out, checks, "");
}

}  // namespace

boost::asio::awaitable<admin_reply> run_check(admin_context& a, const admin::command&) {
    auto results = co_await a.gate.run_checks_now();
    const bool ok = std::all_of(results.begin(), results.end(), [](const probe_result& p) { return p.ok; });
    admin_reply r;
    r.body["ok"] = ok;
    r.body["checks"] = probes_json(results);
    if (!ok) r.body["error"] = "checks failed";
    r.text = &render_check;
    co_return r;
}

}  // namespace maintgate::proxy
