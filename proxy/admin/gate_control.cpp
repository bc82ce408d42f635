#include "proxy/admin/gate_control.hpp"

#include <algorithm>
#include <cstdio>

#include <spdlog/spdlog.h>

#include "proxy/cluster/cluster_node.hpp"
#include "proxy/cluster/settings.hpp"
#include "proxy/hooks/stage_hooks.hpp"
#include "proxy/net/worker.hpp"
#include "proxy/spool/spool.hpp"

namespace maintgate::proxy {
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

sys_time now_sys() { return std::chrono::system_clock::now(); }

std::string percent(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%%", x * 100.0);
    return buf;
}

// Marks the gate busy for the length of one change; a second change is refused rather
// than interleaved with the first at one of its suspension points.
struct busy_scope {
    std::string& slot;
    busy_scope(std::string& s, std::string what) : slot(s) { slot = std::move(what); }
    ~busy_scope() { slot.clear(); }
};

std::string check_failures(const std::vector<probe_result>& checks) {
    std::string s;
    for (const auto& c : checks) {
        if (c.ok) continue;
        if (!s.empty()) s += "; ";
        s += c.name + ": " + c.detail;
    }
    return s;
}

}  // namespace

gate_control::gate_control(net::io_context& ioc, std::shared_ptr<const config> cfg, gate_record record,
                           std::vector<worker*> workers, std::vector<tcp::endpoint> upstream,
                           std::atomic<std::size_t>& connections)
    : ioc_(ioc), cfg_(std::move(cfg)), record_(std::move(record)), upstream_(std::move(upstream)),
      connections_(connections) {
    snapshot_ = render(now_sys());
    set_workers(std::move(workers));
}

std::shared_ptr<const gate_snapshot> gate_control::render(sys_time now) const {
    auto snap = render_snapshot(record_, cfg_, now);
    if (!window_pub_) return snap;
    auto s = std::const_pointer_cast<gate_snapshot>(snap);
    window::decorate(*s, *window_pub_, retry_after_seconds(record_, cfg_->gate, now));
    return s;
}

void gate_control::set_window_publication(std::shared_ptr<const window::publication> p) {
    window_pub_ = std::move(p);
    snapshot_ = render(now_sys());
    for (auto* w : workers_) w->publish_gate(snapshot_);
}

void gate_control::set_workers(std::vector<worker*> workers) {
    workers_ = std::move(workers);
    stats_.clear();
    for (auto* w : workers_) stats_.push_back(&w->stats());
    reset_stage_baseline();
}

stats_totals gate_control::totals() const { return sum_stats(stats_); }

void gate_control::reset_stage_baseline() { stage_base_ = totals(); }

stage_counters gate_control::since_stage() const {
    auto t = totals();
    stage_counters c;
    for (std::size_t m = 0; m < mode_count; ++m)
        for (std::size_t v = 0; v < verdict_count; ++v)
            c.requests += t.decisions[m][v] - stage_base_.decisions[m][v];
    // A local 502/504 is the upstream failing as much as a relayed 503 is.
    auto errors = t.upstream_errors - stage_base_.upstream_errors;
    c.upstream_responses = t.upstream_responses - stage_base_.upstream_responses + errors;
    c.upstream_5xx = t.upstream_5xx - stage_base_.upstream_5xx + errors;
    c.refused_writes = t.refused_writes - stage_base_.refused_writes;
    return c;
}

void gate_control::start() {
    net::co_spawn(ioc_, rerender_loop(), net::detached);
    net::co_spawn(ioc_, health_loop(), net::detached);
    net::co_spawn(ioc_, watch_loop(), net::detached);
    net::co_spawn(ioc_, auto_ro_.run(), net::detached);
    net::co_spawn(ioc_, auto_ro_.probe_loop(), net::detached);
}

void gate_control::stop() {
    stopped_ = true;
    for (auto& t : timers_) t->cancel();
    timers_.clear();  // the io_context goes before this object: keep no timer of its own
}

net::awaitable<void> gate_control::sleep(duration d) {
    auto t = std::make_shared<net::steady_timer>(ioc_);
    timers_.push_back(t);
    t->expires_after(d);
    co_await t->async_wait(use_tuple);
    if (auto it = std::find(timers_.begin(), timers_.end(), t); it != timers_.end()) timers_.erase(it);
}

net::awaitable<bool> gate_control::publish(std::shared_ptr<const gate_snapshot> s) {
    snapshot_ = s;
    // The spool replays only while webhooks pass: told first, so a step back stops it
    // before the workers even see the new state.
    if (spool_) spool_->set_gate(record_, cfg_);
    if (workers_.empty()) co_return true;
    // Each worker acknowledges on its own thread once requests it decides from then on
    // see s; the acknowledgements come back here, and the last one ends the wait.
    auto timer = std::make_shared<net::steady_timer>(ioc_);
    auto remaining = std::make_shared<std::size_t>(workers_.size());
    timer->expires_after(std::chrono::seconds(10));
    for (auto* w : workers_)
        w->publish_gate(s, [&ioc = ioc_, timer, remaining] {
            net::post(ioc, [timer, remaining] {
                if (--*remaining == 0) timer->cancel();
            });
        });
    co_await timer->async_wait(use_tuple);
    if (*remaining != 0)
        spdlog::error("gate: {} worker(s) did not take the new state within 10 s", *remaining);
    co_return *remaining == 0;
}

std::string gate_control::audit_action(const admin_peer& who, const std::string& command,
                                       std::string_view outcome, const std::string& detail) {
    return write_audit(who, command, record_, record_, outcome, detail);
}

std::string gate_control::write_audit(const admin_peer& who, const std::string& command,
                                      const gate_record& before, const gate_record& after,
                                      std::string_view outcome, const std::string& detail) {
    if (cfg_->gate.audit_log.empty()) return {};
    audit_entry e;
    e.time = now_sys();
    e.uid = who.uid;
    e.pid = who.pid;
    e.actor = who.name;
    e.command = command;
    e.old_mode = before.mode;
    e.new_mode = after.mode;
    e.old_stage = before.stage;
    e.new_stage = after.stage;
    e.reason = after.reason;
    e.outcome = std::string(outcome);
    e.detail = detail;
    e.replica = replica_id_;
    return append_audit(cfg_->gate.audit_log, e);
}

void gate_control::audit(const admin_peer& who, const std::string& command, const gate_record& before,
                         const gate_record& after, std::string_view outcome, const std::string& detail) {
    if (auto err = write_audit(who, command, before, after, outcome, detail); !err.empty())
        spdlog::error("audit log: {} (the {} of '{}' is not recorded)", err, outcome, command);
}

void gate_control::set_cluster(cluster::cluster_node* c, std::string replica_id) {
    cluster_ = c;
    replica_id_ = std::move(replica_id);
}

net::awaitable<change_outcome> gate_control::apply(gate_record next, const admin_peer& who,
                                                   const std::string& command, const std::string& detail) {
    if (cluster_) co_return co_await cluster_->propose(std::move(next), who, command, detail);
    co_return co_await apply_local(std::move(next), who, command, detail);
}

net::awaitable<change_outcome> gate_control::apply_shared(gate_record next, const admin_peer& who,
                                                          const std::string& command, const std::string& detail) {
    co_return co_await apply_local(std::move(next), who, command, detail);
}

net::awaitable<change_outcome> gate_control::apply_local(gate_record next, const admin_peer& who,
                                                         const std::string& command, const std::string& detail) {
    change_outcome out;
    const gate_record before = record_;
    const auto& state_file = cfg_->gate.state_file;
    // Three writes, ordered so that a failure at any of them changes nothing: the new
    // state into a temp file (a change a restart would forget is not made at all), the
    // audit line (the log never misses a change), then the rename over the state file.
    // Nothing is ever written back to undo a step: on a full disk that write would fail
    // too, and leave the file and the workers disagreeing.
    if (!state_file.empty()) {
        if (auto err = stage_gate_record(state_file, next); !err.empty()) {
            out.error = "cannot persist the change: " + err + "; nothing changed";
            spdlog::error("gate: {}", out.error);
            audit(who, command, before, before, "failed", out.error);
            co_return out;
        }
    }
    if (auto err = write_audit(who, command, before, next, "ok", detail); !err.empty()) {
        if (!state_file.empty()) discard_gate_record(state_file);
        out.error = "cannot write the audit log: " + err + "; nothing changed";
        spdlog::error("gate: {}", out.error);
        co_return out;
    }
    if (!state_file.empty()) {
        auto committed = commit_gate_record(state_file);
        if (!committed.error.empty()) {
            // Rare (the temp file is already in the folder); the "ok" line just written
            // is followed by this one, so the log still tells what happened.
            out.error = "cannot persist the change: " + committed.error + "; nothing changed";
            spdlog::error("gate: {}", out.error);
            audit(who, command, before, before, "failed", out.error);
            co_return out;
        }
        if (!committed.not_durable.empty())
            spdlog::warn("gate: the state file is replaced, but {}: a power cut may bring back the old one",
                         committed.not_durable);
    }
    bool stage_changed = next.stage != record_.stage;
    record_ = std::move(next);
    if (stage_changed) {
        reset_stage_baseline();
        watch_until_.reset();
    }
    spdlog::info("gate: {} (stage {}{}) set by {}{}{}", policy::to_string(record_.mode),
                 policy::to_string(record_.stage), record_.fenced ? ", writes fenced" : "", who.name,
                 record_.reason.empty() ? "" : ": ", record_.reason);
    if (observer_) observer_({before, record_, who, command, detail});
    if (!co_await publish(render(now_sys()))) {
        out.error = "the change is saved but not every worker took it within 10 s";
        co_return out;
    }
    out.ok = true;
    co_return out;
}

net::awaitable<change_outcome> gate_control::set_mode(policy::mode m, std::string reason,
                                                      std::optional<sys_time> until, const admin_peer& who,
                                                      std::string command) {
    if (!busy_.empty()) co_return change_outcome{false, "another change is in progress: " + busy_};
    busy_scope busy(busy_, command + " by " + who.name);
    gate_record next = record_;
    // Closed to closed (read-only to maintenance, or maintenance again) with neither a
    // reason nor an end given keeps both: the window has not changed, only how far the
    // gate is closed. Anything given replaces both, and opening clears them.
    const bool keep_window =
        m != policy::mode::open && record_.mode != policy::mode::open && reason.empty() && !until;
    next.mode = m;
    next.stage = policy::stage_of(m);
    if (!keep_window) {
        next.reason = std::move(reason);
        next.until = until;
    }
    next.set_by = who.name;
    next.since = now_sys();
    // The fence holds until writes are let in: `set mode open` here, or reopen reaching
    // the writes stage. Going from read-only to maintenance (or back) keeps it.
    if (m == policy::mode::open) next.fenced = next.hold = false;
    co_return co_await apply(std::move(next), who, command, {});
}

net::awaitable<freeze_outcome> gate_control::freeze(std::optional<duration> timeout, std::optional<bool> hold,
                                                    const admin_peer& who, std::string command) {
    freeze_outcome out;
    out.timeout = timeout.value_or(cfg_->reopen.freeze_timeout);
    if (!busy_.empty()) {
        out.error = "another change is in progress: " + busy_;
        co_return out;
    }
    busy_scope busy(busy_, command + " by " + who.name);

    gate_record next = record_;
    // Read-only at once, unless the gate is already closed further: freezing during
    // maintenance must not reopen reads.
    if (next.mode == policy::mode::open) {
        next.mode = policy::mode::read_only;
        next.stage = policy::stage::read_only;
        next.since = now_sys();
        next.set_by = who.name;
        if (next.reason.empty()) next.reason = "writes frozen";
    }
    next.fenced = true;
    // Held writes wait in their sessions ([hold]); they are after the boundary, never in flight.
    next.hold = hold.value_or(cfg_->hold.enabled);
    auto changed = co_await apply(std::move(next), who, command,
                                  next.hold ? "write fence raised; writes held" : "write fence raised");
    if (!changed.ok) {
        out.error = changed.error;
        co_return out;
    }
    out.fenced = true;

    // Every worker has taken the fenced snapshot, so no new write starts; the ones
    // counted before can only finish. Wait for them.
    const auto started = std::chrono::steady_clock::now();
    const auto deadline = started + out.timeout;
    auto t = totals();
    out.waited_for = t.writes_in_flight();
    while (t.writes_in_flight() > 0 && std::chrono::steady_clock::now() < deadline && !stopped_) {
        co_await sleep(std::chrono::milliseconds(2));
        t = totals();
    }
    out.waited = std::chrono::duration_cast<duration>(std::chrono::steady_clock::now() - started);
    out.pending = t.writes_in_flight();
    out.held = t.writes_held();
    out.boundary_ms = t.last_write_done_ms;
    out.ok = out.pending == 0;
    std::string detail;
    if (out.ok) {
        last_boundary_ms_ = out.boundary_ms;
        detail = out.boundary_ms ? "write boundary " + format_iso8601_ms(out.boundary_ms)
                                 : "write boundary: no write since start-up";
        spdlog::info("gate: writes frozen; {} ({} in flight drained in {} ms)", detail, out.waited_for,
                     out.waited.count());
    } else {
        detail = "timed out after " + format_duration(out.timeout) + " with " + std::to_string(out.pending) +
                 " write(s) still in flight; the fence stays up";
        spdlog::warn("gate: freeze {}", detail);
    }
    audit(who, command, record_, record_, out.ok ? "ok" : "failed", detail);
    co_return out;
}

net::awaitable<std::vector<probe_result>> gate_control::run_checks_now() {
    auto results = co_await run_checks(cfg_->reopen, upstream_, cfg_->upstream);
    if (cfg_->reopen.health && !results.empty()) {
        health_.last = results.front();
        health_.at = now_sys();
    }
    last_checks_ = results;
    last_checks_at_ = now_sys();
    co_return results;
}

net::awaitable<reopen_outcome> gate_control::reopen(std::optional<policy::stage> to, bool force,
                                                    const admin_peer& who, std::string command) {
    reopen_outcome out;
    out.from = out.reached = record_.stage;
    if (!busy_.empty()) {
        out.error = "another change is in progress: " + busy_;
        co_return out;
    }
    const auto cur = static_cast<int>(record_.stage);
    const int last = static_cast<int>(policy::stage::open);
    if (cur == last) {
        out.error = "already open; nothing to reopen";
        co_return out;
    }
    const int target = to ? static_cast<int>(*to) : cur + 1;
    if (target <= cur) {
        out.error = "reopen only moves forward: the gate is at " +
                    std::string(policy::to_string(record_.stage)) + "; use set mode to step back";
        co_return out;
    }
    busy_scope busy(busy_, command + " by " + who.name);

    for (int s = cur + 1; s <= target; ++s) {
        reopen_step step;
        step.to = static_cast<policy::stage>(s);
        step.checks = co_await run_checks_now();
        auto failures = check_failures(step.checks);
        if (!failures.empty() && !force) {
            out.steps.push_back(std::move(step));
            out.error = "not advancing to " + std::string(policy::to_string(static_cast<policy::stage>(s))) +
                        ": " + failures;
            audit(who, command, record_, record_, "refused", out.error);
            spdlog::warn("gate: reopen refused: {}", out.error);
            co_return out;
        }
        step.forced = !failures.empty();
        gate_record next = record_;
        next.stage = step.to;
        next.mode = policy::mode_of(step.to);
        // The fence is what the write boundary was taken against: it holds through the
        // stages that still refuse writes (operators, read-only) and lifts at the first
        // one that lets them in (writes, open).
        if (step.to >= policy::stage::writes) next.fenced = next.hold = false;
        next.since = now_sys();
        next.set_by = who.name;
        if (step.to == policy::stage::open) {
            next.reason.clear();
            next.until.reset();
        }
        std::string detail = step.checks.empty() ? "no checks configured"
                             : step.forced       ? "forced past failing checks: " + failures
                                                 : std::to_string(step.checks.size()) + " check(s) passed";
        auto changed = co_await apply(std::move(next), who, command, detail);
        if (!changed.ok) {
            out.steps.push_back(std::move(step));
            out.error = changed.error;
            co_return out;
        }
        step.advanced = true;
        out.reached = step.to;
        if (auto failed = co_await run_stage_hooks(ioc_, *cfg_, step.to, who.name, last_boundary_ms_, step.hooks)) {
            out.error = *failed;
            admin_peer hook{-1, -1, "hook " + step.hooks.back().name};
            auto back = co_await step_back(*failed, hook);
            step.stepped_back = back.ok;
            if (back.ok) out.reached = record_.stage;
            out.steps.push_back(std::move(step));
            co_return out;
        }
        out.steps.push_back(std::move(step));
        if (cfg_->reopen.watch.count() > 0) watch_until_ = now_sys() + cfg_->reopen.watch;
    }
    out.ok = true;
    co_return out;
}

net::awaitable<reload_outcome> gate_control::reload(const admin_peer& who, std::string command) {
    reload_outcome out;
    if (!busy_.empty()) {
        out.errors.push_back("another change is in progress: " + busy_);
        co_return out;
    }
    busy_scope busy(busy_, command + " by " + who.name);
    auto loaded = cfg_->source == "<embedded default>"
                      ? load_config_string(default_config_text(), "<embedded default>")
                      : load_config_file(cfg_->source);
    if (!loaded.errors.empty()) {
        for (const auto& e : loaded.errors) out.errors.push_back(e.to_string());
        audit(who, command, record_, record_, "refused",
              std::to_string(out.errors.size()) + " config error(s); the running config stays");
        spdlog::error("reload refused: {} error(s) in {}; the running config stays", out.errors.size(),
                      cfg_->source);
        for (const auto& e : out.errors) spdlog::error("  {}", e);
        co_return out;
    }
    config next = std::move(*loaded.cfg);
    const config& old = *cfg_;
    // What a running process cannot change in place: kept, and said so.
    auto keep = [&](bool changed, const char* what) {
        if (changed) out.warnings.push_back(std::string(what) + " changed; takes effect at the next restart");
    };
    // A listener's socket, and whether it speaks TLS, are fixed once bound; its
    // certificates, HSTS and redirect settings are not.
    auto listener_sockets = [](const config& c) {
        std::vector<std::string> v;
        for (const auto& l : c.listeners) v.push_back(l.address + (l.https() ? " https" : " http"));
        return v;
    };
    const bool listeners_kept = listener_sockets(next) != listener_sockets(old);
    keep(listeners_kept, "listeners");
    keep(next.workers != old.workers, "workers");
    keep(next.upstream.url != old.upstream.url || next.upstream.max_idle != old.upstream.max_idle ||
             next.upstream.idle_timeout != old.upstream.idle_timeout ||
             next.upstream.connect_timeout != old.upstream.connect_timeout,
         "upstream url, connect_timeout, max_idle or idle_timeout");
    keep(next.upstream.tls_verify != old.upstream.tls_verify ||
             next.upstream.tls_ca_file != old.upstream.tls_ca_file ||
             next.upstream.tls_server_name != old.upstream.tls_server_name,
         "upstream tls_verify, tls_ca_file or tls_server_name");
    keep(next.admin.socket != old.admin.socket || next.admin.socket_mode != old.admin.socket_mode ||
             next.admin.socket_owner != old.admin.socket_owner ||
             next.admin.socket_group != old.admin.socket_group || next.admin.metrics != old.admin.metrics,
         "[admin]");
    keep(next.log.error != old.log.error || next.log.access != old.log.access ||
             next.log.format != old.log.format,
         "log destinations");
    keep(next.gate.state_file != old.gate.state_file || next.gate.audit_log != old.gate.audit_log,
         "state_file or audit_log");
    keep(cluster::settings_differ(next.cluster, old.cluster), "[cluster]");
    next.cluster = old.cluster;
    if (listeners_kept) next.listeners = old.listeners;
    next.workers = old.workers;
    next.upstream.url = old.upstream.url;
    next.upstream.host = old.upstream.host;
    next.upstream.port = old.upstream.port;
    next.upstream.max_idle = old.upstream.max_idle;
    next.upstream.idle_timeout = old.upstream.idle_timeout;
    next.upstream.connect_timeout = old.upstream.connect_timeout;
    // The workers' pools hold the upstream's TLS context; the checks must use the same.
    next.upstream.tls = old.upstream.tls;
    next.upstream.tls_verify = old.upstream.tls_verify;
    next.upstream.tls_ca_file = old.upstream.tls_ca_file;
    next.upstream.tls_server_name = old.upstream.tls_server_name;
    next.upstream.tls_where = old.upstream.tls_where;
    next.upstream.tls_context = old.upstream.tls_context;
    if (!listeners_kept) {
        // Certificates are read again (renewed ones take effect here). A bad or
        // mismatched pair refuses the whole reload: the running contexts stay, and with
        // them every connection. New connections get the new contexts; open ones keep
        // the context they started with.
        auto report = build_tls(next, &old, false, now_sys());
        if (!report.errors.empty()) {
            out.errors = std::move(report.errors);
            audit(who, command, record_, record_, "refused",
                  std::to_string(out.errors.size()) +
                      " TLS error(s); the running config and certificates stay");
            spdlog::error("reload refused: {} TLS error(s); the running config and certificates stay",
                          out.errors.size());
            for (const auto& e : out.errors) spdlog::error("  {}", e);
            co_return out;
        }
        for (const auto& e : report.expired) {
            spdlog::error("reload: {}; serving it anyway (clients will refuse it)", e);
            out.warnings.push_back(e);
        }
        for (auto& w : report.warnings) out.warnings.push_back(std::move(w));
    }
    next.admin = old.admin;
    next.log.error = old.log.error;
    next.log.access = old.log.access;
    next.log.format = old.log.format;
    next.gate.state_file = old.gate.state_file;
    next.gate.audit_log = old.gate.audit_log;
    if (next.log.level != old.log.level) spdlog::set_level(spdlog::level::from_str(next.log.level));

    cfg_ = std::make_shared<const config>(std::move(next));
    std::string detail = "config and pages reloaded from " + cfg_->source;
    for (const auto& w : out.warnings) detail += "; " + w;
    audit(who, command, record_, record_, "ok", detail);
    spdlog::info("reload: {}", detail);
    if (!co_await publish(render(now_sys()))) {
        out.errors.push_back("the new config is loaded but not every worker took it within 10 s");
        co_return out;
    }
    out.ok = true;
    co_return out;
}

audit_tail gate_control::history(std::size_t n) const {
    if (cfg_->gate.audit_log.empty()) {
        audit_tail t;
        t.error = "no audit_log is configured ([gate] audit_log)";
        return t;
    }
    return read_audit_tail(cfg_->gate.audit_log, n);
}

net::awaitable<void> gate_control::rerender_loop() {
    // Retry-After and the page's refresh count down to the expected end: re-render once
    // a second (Retry-After's unit) rather than format anything per request. No wait for
    // the workers here: nothing depends on when they take a countdown.
    while (!stopped_) {
        co_await sleep(std::chrono::seconds(1));
        if (stopped_) break;
        if (record_.until) {
            snapshot_ = render(now_sys());
            for (auto* w : workers_) w->publish_gate(snapshot_);
        }
    }
}

net::awaitable<void> gate_control::health_loop() {
    while (!stopped_) {
        auto interval = cfg_->reopen.health_interval;
        if (!cfg_->reopen.health || interval.count() == 0) {
            co_await sleep(std::chrono::seconds(1));  // a reload may turn it on
            continue;
        }
        auto r = co_await run_probe(*cfg_->reopen.health, upstream_, cfg_->upstream);
        if (stopped_) break;
        bool was = health_.last && health_.last->ok;
        if (health_.last && was != r.ok) {
            if (r.ok)
                spdlog::info("health check: upstream healthy again ({})", r.detail);
            else
                spdlog::warn("health check: upstream unhealthy: {}", r.detail);
        } else if (!health_.last && !r.ok) {
            spdlog::warn("health check: upstream unhealthy: {}", r.detail);
        }
        health_.last = std::move(r);
        health_.at = now_sys();
        co_await sleep(interval);
    }
}

net::awaitable<void> gate_control::watch_loop() {
    while (!stopped_) {
        co_await sleep(std::chrono::seconds(1));
        if (stopped_) break;
        co_await check_watch();
    }
}

net::awaitable<void> gate_control::check_watch() {
    if (!watch_until_ || !busy_.empty()) co_return;
    if (now_sys() >= *watch_until_) {
        spdlog::info("gate: watch over; stage {} held for {}", policy::to_string(record_.stage),
                     format_duration(cfg_->reopen.watch));
        watch_until_.reset();
        co_return;
    }
    auto c = since_stage();
    const auto& r = cfg_->reopen;
    if (c.upstream_responses < r.min_requests || c.error_rate() <= r.max_error_rate) co_return;
    if (record_.stage == policy::stage::maintenance) co_return;  // nowhere further back
    std::string why = "upstream 5xx rate " + percent(c.error_rate()) + " (" + std::to_string(c.upstream_5xx) +
                      " of " + std::to_string(c.upstream_responses) + ") since stage " +
                      std::string(policy::to_string(record_.stage)) + " began, above " +
                      percent(r.max_error_rate);
    admin_peer watcher{-1, -1, "watch"};
    busy_scope busy(busy_, "automatic step back");
    co_await step_back(std::move(why), watcher);
}

net::awaitable<change_outcome> gate_control::step_back(std::string why, const admin_peer& who) {
    if (record_.stage == policy::stage::maintenance) co_return change_outcome{false, "nowhere further back"};
    auto back = static_cast<policy::stage>(static_cast<int>(record_.stage) - 1);
    spdlog::warn("gate: stepping back from {} to {}: {}", policy::to_string(record_.stage),
                 policy::to_string(back), why);
    gate_record next = record_;
    next.stage = back;
    next.mode = policy::mode_of(back);
    next.since = now_sys();
    next.set_by = who.name;
    // Said before the change is published: apply() makes the new stage visible to status
    // while it waits for the workers, and status must never show it without the why.
    std::string previous = std::move(last_step_back_);
    last_step_back_ =
        format_iso8601(now_sys()) + ": stepped back to " + std::string(policy::to_string(back)) + ": " + why;
    std::string command = "step back to " + std::string(policy::to_string(back));
    auto changed = co_await apply(std::move(next), who, command, why);
    if (!changed.ok) {
        if (record_.stage != back) last_step_back_ = std::move(previous);
        spdlog::error("gate: automatic step back failed: {}", changed.error);
    }
    co_return changed;
}

}  // namespace maintgate::proxy
