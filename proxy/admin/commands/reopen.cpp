// reopen and reopen status: the staged way back to open, and where it stands.
#include <boost/json/value_from.hpp>

#include "proxy/admin/admin_command.hpp"
#include "proxy/admin/commands/commands.hpp"
#include "proxy/admin/commands/reply.hpp"
#include "proxy/admin/commands/hooks_reply.hpp"
#include "proxy/admin/gate_control.hpp"
#include "proxy/hooks/hook_store.hpp"
#include "proxy/hooks/stage_hooks.hpp"

namespace maintgate::proxy {
namespace {

namespace js = boost::json;

void render_reopen(std::string& out, const admin_reply& r, sys_time now) {
    const auto& o = r.body;
    std::string steps;
    for (const auto& v : get_array(o, "steps")) {
        const auto& st = v.get_object();
        steps += (get_bool(st, "advanced") ? "-> " : "x  ") + std::string(get_str(st, "stage")) +
                 (get_bool(st, "forced") ? " (forced past failing checks)" : "") + "\n";
        probes_text(steps, get_array(st, "checks"), "     ");
        if (const auto& hooks = get_array(st, "hooks"); !hooks.empty()) {
            steps += "   hooks at " + std::string(get_str(st, "stage")) + ":\n";
            hooks_text(steps, hooks, "     ", false);
        }
        if (get_bool(st, "stepped_back")) steps += "<- stepped back: a stage hook failed\n";
    }
    if (!get_bool(o, "ok")) {
        out += "error: " + std::string(get_str(o, "error")) + "\n" + steps + "stage stays " +
               std::string(get_str(o, "stage")) + "\n";
        return;
    }
    out += "stage " + std::string(get_str(o, "stage")) + " (was " + std::string(get_str(o, "from")) + ")\n" +
           steps;
    if (get_bool(o, "fenced"))
        out += "the write fence stays up until reopen reaches writes or set mode open\n";
    if (auto w = get_time(r.aside, "watch_until"))
        out += "watching the upstream 5xx rate until " + when(*w, now) + "\n";
}

void render_reopen_status(std::string& out, const admin_reply& r, sys_time now) {
    const auto& o = r.body;
    const auto& aside = r.aside;
    const auto stage = get_str(o, "stage");
    out += "stage " + std::string(stage) + " since " + when(*get_time(aside, "since"), now) + "\n";
    if (is_null(o, "next"))
        out += "next        none: open\n";
    else
        out += "next        " + std::string(get_str(o, "next")) + " (reopen)\n";
    std::string stages;
    for (int s = 0; s <= static_cast<int>(policy::stage::open); ++s) {
        const auto name = policy::to_string(static_cast<policy::stage>(s));
        if (s) stages += " -> ";
        stages += name == stage ? "[" + std::string(name) + "]" : std::string(name);
    }
    out += "stages      " + stages + "\n";
    out += "this stage  " + std::to_string(get_uint(o, "upstream_responses")) + " upstream response(s), " +
           std::to_string(get_uint(o, "upstream_5xx")) + " 5xx (" + percent(get_double(o, "error_rate")) +
           ")\n";
    if (auto w = get_time(aside, "watch_until")) out += "watch       until " + when(*w, now) + "\n";
    if (auto s = get_str(o, "last_step_back"); !s.empty()) out += "step back   " + std::string(s) + "\n";
    for (const auto& v : get_array(o, "stage_hooks")) {
        const auto& sh = v.get_object();
        out += "hooks       at " + std::string(get_str(sh, "stage")) + ": " + std::string(get_str(sh, "names")) + "\n";
        if (const auto& last = get_array(sh, "last"); !last.empty()) hooks_text(out, last, "     ", false);
    }
    if (auto at = get_time(aside, "last_checks_at")) {
        out += "checks      last run " + when(*at, now) + "\n";
        probes_text(out, get_array(o, "last_checks"), "     ");
    } else {
        out += "checks      not run yet (reopen and check run them)\n";
    }
}

}  // namespace

boost::asio::awaitable<admin_reply> run_reopen(admin_context& a, const admin::command& c) {
    auto outcome = co_await a.gate.reopen(c.to, c.force, a.who, c.text);
    js::array steps;
    steps.reserve(outcome.steps.size());
    for (const auto& st : outcome.steps)
        steps.emplace_back(js::object{{"stage", policy::to_string(st.to)},
                                      {"advanced", st.advanced},
                                      {"forced", st.forced},
                                      {"checks", probes_json(st.checks)},
                                      {"hooks", hooks_json(st.hooks)},
                                      {"stepped_back", st.stepped_back}});
    admin_reply r;
    auto& o = r.body;
    o["ok"] = outcome.ok;
    o["from"] = policy::to_string(outcome.from);
    o["stage"] = policy::to_string(outcome.reached);
    o["mode"] = policy::to_string(a.gate.record().mode);
    o["fenced"] = a.gate.record().fenced;
    o["steps"] = std::move(steps);
    if (!outcome.ok) o["error"] = outcome.error;
    put_time(r.aside, "watch_until", a.gate.watch_until());
    r.text = &render_reopen;
    co_return r;
}

boost::asio::awaitable<admin_reply> run_reopen_status(admin_context& a, const admin::command&) {
    const gate_control& g = a.gate;
    const auto& rec = g.record();
    const auto sc = g.since_stage();
    admin_reply r;
    auto& o = r.body;
    o["ok"] = true;
    o["last_checks"] = probes_json(g.last_checks());
    o["last_checks_at"] = iso_or_null(g.last_checks_at());
    o["stage"] = policy::to_string(rec.stage);
    o["since"] = format_iso8601(rec.since);
    if (rec.stage != policy::stage::open)
        o["next"] = policy::to_string(static_cast<policy::stage>(static_cast<int>(rec.stage) + 1));
    else
        o["next"] = nullptr;
    o["upstream_responses"] = sc.upstream_responses;
    o["upstream_5xx"] = sc.upstream_5xx;
    o["error_rate"] = sc.error_rate();
    o["watch_until"] = iso_or_null(g.watch_until());
    o["last_step_back"] = g.last_step_back();
    // [reopen.hooks], each stage with the last run of each of its hooks there.
    js::array stage_hooks;
    const auto& cfg_hooks = g.cfg().reopen.stage_hooks;
    for (std::size_t s = 0; s < cfg_hooks.size(); ++s) {
        if (cfg_hooks[s].empty()) continue;
        const auto stage = static_cast<policy::stage>(s);
        std::string names;
        std::vector<hook_result> last;
        for (const auto& n : cfg_hooks[s]) {
            names += (names.empty() ? "" : ", ") + n;
            const auto& runs = hooks_store().runs();
            for (auto it = runs.rbegin(); it != runs.rend(); ++it)
                if (it->name == n && it->phase == stage_phase(stage)) {
                    last.push_back(*it);
                    break;
                }
        }
        stage_hooks.emplace_back(js::object{
            {"stage", policy::to_string(stage)}, {"hooks", js::value_from(cfg_hooks[s])}, {"names", names},
            {"last", hooks_json(last)}});
    }
    o["stage_hooks"] = std::move(stage_hooks);
    put_time(r.aside, "since", rec.since);
    put_time(r.aside, "watch_until", g.watch_until());
    put_time(r.aside, "last_checks_at", g.last_checks_at());
    r.text = &render_reopen_status;
    co_return r;
}

}  // namespace maintgate::proxy
