#include "proxy/window/window_hooks.hpp"

#include "proxy/hooks/runner.hpp"

namespace maintgate::window {

namespace {

sys_time from_unix_ms(std::int64_t ms) { return sys_time(std::chrono::milliseconds(ms)); }

hook_run to_run(const hook_result& r, hook_point point) {
    hook_run h;
    h.hook = r.name;
    h.point = std::string(to_string(point));
    h.outcome = r.outcome();
    h.ok = r.ok;
    h.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.took).count();
    h.error = r.error;
    // Already capped at output_cap and redacted by the runner; the window keeps the start.
    h.output = r.output.substr(0, hook_output_excerpt);
    h.at = from_unix_ms(r.started_ms);
    return h;
}

bool cfg_has_backup(const config& cfg, const std::string& name) {
    for (const auto& h : cfg.hooks)
        if (h.name == name) return h.backup.has_value();
    return false;
}

}  // namespace

net::awaitable<hook_outcome> run_window_hooks(net::io_context& ioc, const proxy::gate_control& gate,
                                              const hook_request& req) {
    hook_outcome out;
    if (req.names.empty()) {
        out.ok = true;
        out.detail = "no hooks";
        co_return out;
    }
    // Held for the whole run: a reload meanwhile must not free the specs being run.
    const std::shared_ptr<const config> cfg = gate.cfg_shared();
    const hook_context ctx{req.window_id, std::string(to_string(req.point)), req.write_boundary_ms, req.actor};
    const std::vector<hook_result> results = co_await proxy::run_hooks(ioc, *cfg, req.names, ctx);
    for (const auto& r : results) {
        out.runs.push_back(to_run(r, req.point));
        if (r.backup) {
            const backup_verdict& v = *r.backup;
            out.backups.push_back({r.name, v.ok, v.artifact, v.bytes, v.sha256,
                                   v.ok ? "passed the backup gate" : v.refused,
                                   from_unix_ms(r.started_ms)});
        } else if (cfg_has_backup(*cfg, r.name)) {
            // A backup hook that failed before its gate (exit code, timeout): no artifact.
            out.backups.push_back({r.name, false, {}, 0, {}, r.error, from_unix_ms(r.started_ms)});
        }
    }
    // run_hooks stops at the first failure; all passed only if every name ran and passed.
    out.ok = results.size() == req.names.size() && !results.empty() && results.back().ok;
    out.detail = out.ok ? std::to_string(results.size()) + " hook(s) ok" : proxy::summarize(results);
    co_return out;
}

}  // namespace maintgate::window
