// hooks and hook run: what is configured, the last good backups, the recent runs (and
// the ones a crash interrupted), and one hook run by hand.
#include <chrono>

#include <boost/json/value_from.hpp>

#include "proxy/admin/admin_command.hpp"
#include "proxy/admin/commands/commands.hpp"
#include "proxy/admin/commands/hooks_reply.hpp"
#include "proxy/admin/commands/reply.hpp"
#include "proxy/admin/gate_control.hpp"
#include "proxy/hooks/hook_store.hpp"
#include "proxy/hooks/runner.hpp"

namespace maintgate::proxy {

namespace js = boost::json;

namespace {

constexpr std::size_t max_output_lines = 20;

std::string ms_text(std::int64_t ms) { return format_duration(duration(ms)); }

void output_lines(std::string& out, std::string_view text, std::string_view indent, bool truncated) {
    std::size_t lines = 0;
    std::size_t at = 0;
    while (at < text.size() && lines < max_output_lines) {
        auto nl = text.find('\n', at);
        if (nl == std::string_view::npos) nl = text.size();
        out += indent;
        out += "| " + one_line(text.substr(at, nl - at)) + "\n";
        at = nl + 1;
        ++lines;
    }
    if (at < text.size() || truncated) out += std::string(indent) + "| ... (more in --json and the audit log)\n";
}

void render_hooks(std::string& out, const admin_reply& r, sys_time now) {
    const auto& o = r.body;
    const auto& hooks = get_array(o, "hooks");
    if (hooks.empty()) out += "no [[hook]] configured\n";
    for (const auto& v : hooks) {
        const auto& h = v.get_object();
        out += std::string(get_str(h, "name")) + "  " + one_line(get_str(h, "argv")) + "  timeout " +
               std::string(get_str(h, "timeout")) + " + grace " + std::string(get_str(h, "kill_grace")) + "\n";
        if (!is_null(h, "stages")) out += "    runs at   " + std::string(get_str(h, "stages")) + "\n";
        if (get_bool(h, "backup")) {
            const auto& g = get_obj(h, "last_good");
            if (g.empty()) {
                out += "    backup    no good backup recorded yet\n";
            } else {
                const auto at = sys_time(std::chrono::milliseconds(get_uint(g, "at_ms")));
                out += "    backup    last good " + std::string(get_str(g, "artifact")) + ", " +
                       std::to_string(get_uint(g, "bytes")) + " bytes, sha256 " + std::string(get_str(g, "sha256")) +
                       ", " + when(at, now) + "\n";
            }
        }
    }
    const auto& interrupted = get_array(o, "interrupted");
    if (!interrupted.empty()) {
        out += "interrupted by a restart (reported, not re-run):\n";
        hooks_text(out, interrupted, "  ", true);
    }
    const auto& runs = get_array(o, "runs");
    out += runs.empty() ? "no runs recorded yet\n" : "recent runs (newest last):\n";
    hooks_text(out, runs, "  ", false);
    for (const auto& v : get_array(o, "running")) {
        const auto& e = v.get_object();
        out += "running   " + std::string(get_str(e, "hook")) + " (" + std::string(get_str(e, "phase")) + ") pid " +
               std::to_string(get_uint(e, "pid")) + "\n";
    }
}

void render_hook_run(std::string& out, const admin_reply& r, sys_time) {
    const auto& o = r.body;
    if (!get_bool(o, "ok")) out += "error: hook " + std::string(get_str(get_obj(o, "result"), "name")) + ": " +
                                   std::string(get_str(o, "error")) + "\n";
    js::array one;
    one.push_back(get_obj(o, "result"));
    hooks_text(out, one, "", true);
}

std::string argv_text(const std::vector<std::string>& argv) {
    std::string s;
    for (const auto& a : argv) {
        if (!s.empty()) s += ' ';
        s += admin::quote_arg(a);
    }
    return s;
}

}  // namespace

js::array hooks_json(const std::vector<hook_result>& v) {
    js::array a;
    a.reserve(v.size());
    for (const auto& r : v) a.emplace_back(to_json(r));
    return a;
}

void hooks_text(std::string& out, const js::array& results, std::string_view indent, bool verbose) {
    for (const auto& v : results) {
        const auto& h = v.get_object();
        const bool ok = get_bool(h, "ok");
        std::string line = std::string(indent) + (ok ? "ok    " : "FAIL  ") + std::string(get_str(h, "name"));
        if (auto p = get_str(h, "phase"); !p.empty()) line += " (" + std::string(p) + ")";
        if (auto w = get_str(h, "window"); !w.empty()) line += " window " + std::string(w);
        if (!get_bool(h, "interrupted")) line += " " + ms_text(static_cast<std::int64_t>(get_uint(h, "duration_ms")));
        if (!ok) line += " " + std::string(get_str(h, "outcome"));
        out += line + "\n";
        if (!is_null(h, "backup")) {
            const auto& b = get_obj(h, "backup");
            if (get_bool(b, "ok"))
                out += std::string(indent) + "      backup " + std::string(get_str(b, "artifact")) + " " +
                       std::to_string(get_uint(b, "bytes")) + " bytes sha256 " + std::string(get_str(b, "sha256")) +
                       "\n";
        }
        if (auto e = get_str(h, "error"); !e.empty()) out += std::string(indent) + "      " + one_line(e) + "\n";
        if (!ok || verbose)
            output_lines(out, get_str(h, "output"), std::string(indent) + "      ", get_bool(h, "output_truncated"));
    }
}

boost::asio::awaitable<admin_reply> run_hooks_list(admin_context& a, const admin::command&) {
    const config& cfg = a.gate.cfg();
    const hook_store& store = hooks_store();
    admin_reply r;
    auto& o = r.body;
    o["ok"] = true;
    js::array hooks;
    for (const auto& h : cfg.hooks) {
        std::string stages;
        for (std::size_t s = 0; s < cfg.reopen.stage_hooks.size(); ++s)
            for (const auto& n : cfg.reopen.stage_hooks[s])
                if (n == h.name) {
                    if (!stages.empty()) stages += ", ";
                    stages += "reopen " + std::string(policy::to_string(static_cast<policy::stage>(s)));
                }
        js::object row{{"name", h.name},
                       {"argv", argv_text(h.argv)},
                       {"timeout", format_duration(h.timeout)},
                       {"kill_grace", format_duration(h.kill_grace)},
                       {"output_cap", h.output_cap},
                       {"env", js::value_from(h.env)},
                       {"backup", h.backup.has_value()},
                       {"stages", stages.empty() ? js::value(nullptr) : js::value(stages)},
                       {"last_good", js::object{}}};
        if (const auto g = store.last_good(h.name)) row["last_good"] = to_json(*g);
        hooks.emplace_back(std::move(row));
    }
    o["hooks"] = std::move(hooks);
    o["interrupted"] = hooks_json(store.interrupted());
    js::array runs;
    for (const auto& run : store.runs()) runs.emplace_back(to_json(run));
    o["runs"] = std::move(runs);
    js::array running;
    for (const auto& e : store.running())
        running.emplace_back(js::object{{"hook", e.hook}, {"phase", e.phase}, {"window", e.window_id}, {"pid", e.pid}});
    o["running"] = std::move(running);
    o["journal"] = store.path().empty() ? js::value(nullptr) : js::value(store.path());
    r.text = &render_hooks;
    co_return r;
}

boost::asio::awaitable<admin_reply> run_hook_now(admin_context& a, const admin::command& c) {
    // The config is held for the run: a reload meanwhile must not free the spec.
    const auto cfg = a.gate.cfg_shared();
    const hook_spec* spec = nullptr;
    for (const auto& h : cfg->hooks)
        if (h.name == c.name) spec = &h;
    if (!spec) {
        std::string names;
        for (const auto& h : cfg->hooks) names += (names.empty() ? "" : ", ") + h.name;
        co_return error_reply("no [[hook]] named " + admin::quote_arg(c.name) +
                              (names.empty() ? "; none is configured" : "; configured: " + names));
    }
    // A named local, not a temporary in the co_await: GCC 12 destroys such a temporary
    // twice when the coroutine resumes (valgrind: invalid free in ~hook_context).
    const hook_context ctx{"", "manual", std::nullopt, a.who.name};
    const auto result = co_await run_hook(a.gate.io(), *spec, ctx);
    admin_reply r;
    r.body["ok"] = result.ok;
    if (!result.ok) r.body["error"] = result.error;
    r.body["result"] = to_json(result);
    r.text = &render_hook_run;
    co_return r;
}

}  // namespace maintgate::proxy
