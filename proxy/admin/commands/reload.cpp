// reload: re-read the configuration file; the mode and stage are kept.
#include "proxy/admin/admin_command.hpp"
#include "proxy/admin/commands/commands.hpp"
#include "proxy/admin/commands/reply.hpp"
#include "proxy/admin/gate_control.hpp"

namespace maintgate::proxy {
namespace {

namespace js = boost::json;

js::array strings(const std::vector<std::string>& v) {
    js::array out;
    out.reserve(v.size());
    for (const auto& s : v) out.emplace_back(js::string(s));
    return out;
}

void render_reload(std::string& out, const admin_reply& r, sys_time) {
    const auto& o = r.body;
    if (!get_bool(o, "ok")) {
        out += "error: " + std::string(get_str(o, "error")) + "\n";
        for (const auto& e : get_array(o, "errors")) out += std::string(e.get_string()) + "\n";
        return;
    }
    out += "reloaded " + std::string(get_str(o, "source")) + "; mode unchanged (" +
           std::string(get_str(r.aside, "stage")) + ")\n";
    for (const auto& w : get_array(o, "warnings")) out += "warning: " + std::string(w.get_string()) + "\n";
}

}  // namespace

boost::asio::awaitable<admin_reply> run_reload(admin_context& a, const admin::command& c) {
    auto outcome = co_await a.gate.reload(a.who, c.text);
    admin_reply r;
    auto& o = r.body;
    o["ok"] = outcome.ok;
    if (!outcome.ok) {
        o["error"] = "reload refused; the running config stays";
        o["errors"] = strings(outcome.errors);
    } else {
        o["source"] = a.gate.cfg().source;
        o["warnings"] = strings(outcome.warnings);
        r.aside["stage"] = policy::to_string(a.gate.record().stage);
    }
    r.text = &render_reload;
    co_return r;
}

}  // namespace maintgate::proxy
