#pragma once
// The gate's state machine, owned by the admin thread: every change of mode or stage goes
// through here, in one order — persist the state file, append the audit line, render the
// replies, hand the new snapshot to every worker and wait until each has taken it. The
// write fence, the staged reopen with its checks, the automatic step back, the
// background health check and reload live here too. Nothing in here runs on a worker.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/admin/audit.hpp"
#include "proxy/admin/auto_read_only.hpp"
#include "proxy/config/config.hpp"
#include "proxy/admin/gate_state.hpp"
#include "proxy/net.hpp"
#include "proxy/admin/probe.hpp"
#include "proxy/net/stats.hpp"
#include "proxy/window/publish.hpp"

namespace maintgate::window {
class window_control;
}

namespace maintgate::proxy {

class worker;
}  // namespace maintgate::proxy
namespace maintgate::spool {
class spool;
}  // namespace maintgate::spool
namespace maintgate::proxy {
namespace cluster {
class cluster_node;
}

// Who asked for a change: an admin socket peer (SO_PEERCRED), or the proxy itself.
struct admin_peer {
    long uid = -1;
    long pid = -1;
    std::string name;  // "uid 1000 pid 4242", "SIGHUP", "watch"
};

struct change_outcome {
    bool ok = false;
    std::string error;  // why nothing changed
};

struct freeze_outcome {
    bool ok = false;  // the fence is up and every write finished in time
    std::string error;  // refused before the fence went up (nothing changed)
    bool fenced = false;  // the fence went up (also when the wait timed out)
    std::uint64_t pending = 0;  // writes still in flight when the timeout passed
    std::uint64_t waited_for = 0;  // writes in flight when the fence went up
    std::uint64_t held = 0;  // writes held when the wait ended (after the boundary, not in flight)
    std::int64_t boundary_ms = 0;  // unix ms when the last write finished; 0: none since start
    duration waited{0};
    duration timeout{0};
};

struct reopen_step {
    policy::stage to{};
    std::vector<probe_result> checks;
    bool advanced = false;
    bool forced = false;  // advanced although a check failed
    std::vector<hook_result> hooks;  // [reopen.hooks] of this stage, run once it was reached
    bool stepped_back = false;  // a hook failed: the gate went back to the previous stage
};

struct reopen_outcome {
    bool ok = false;
    std::string error;
    policy::stage from{}, reached{};
    std::vector<reopen_step> steps;
};

struct reload_outcome {
    bool ok = false;
    std::vector<std::string> errors;  // the new config's errors, each file:line:column
    std::vector<std::string> warnings;  // changes that need a restart, kept at their old values
};

// Counters since the current stage began.
struct stage_counters {
    std::uint64_t requests = 0;
    std::uint64_t upstream_responses = 0;
    std::uint64_t upstream_5xx = 0;  // relayed 5xx plus local 502/504
    std::uint64_t refused_writes = 0;
    double error_rate() const noexcept {
        return upstream_responses ? double(upstream_5xx) / double(upstream_responses) : 0.0;
    }
};

struct health_state {
    std::optional<probe_result> last;  // the last background or on-demand health check
    std::optional<sys_time> at;
};

class gate_control {
public:
    gate_control(net::io_context& ioc, std::shared_ptr<const config> cfg, gate_record record,
                 std::vector<worker*> workers, std::vector<tcp::endpoint> upstream,
                 std::atomic<std::size_t>& connections);

    // The first snapshot, for the workers' constructors.
    std::shared_ptr<const gate_snapshot> snapshot() const { return snapshot_; }
    void set_workers(std::vector<worker*> workers);

    // Starts the timers: re-rendering while an expected end counts down, the background
    // health check, the step-back watch. stop() cancels them.
    void start();
    void stop();

    const gate_record& record() const noexcept { return record_; }
    net::io_context& io() noexcept { return ioc_; }
    const config& cfg() const noexcept { return *cfg_; }
    std::shared_ptr<const config> cfg_shared() const noexcept { return cfg_; }
    stats_totals totals() const;
    stage_counters since_stage() const;
    const health_state& health() const noexcept { return health_; }
    // The results of the last check run (by reopen or check), and when; empty before.
    const std::vector<probe_result>& last_checks() const noexcept { return last_checks_; }
    std::optional<sys_time> last_checks_at() const noexcept { return last_checks_at_; }
    std::optional<std::int64_t> last_boundary_ms() const noexcept { return last_boundary_ms_; }
    std::size_t connections() const noexcept { return connections_.load(std::memory_order_relaxed); }
    // The watch window after a reopen step: when it ends, or nothing.
    std::optional<sys_time> watch_until() const noexcept { return watch_until_; }
    // The last automatic step back, for status; empty when none.
    const std::string& last_step_back() const noexcept { return last_step_back_; }
    // A change in progress (freeze waiting, reopen running checks), or empty.
    const std::string& busy() const noexcept { return busy_; }

    // set mode: lands on the stage of the same name; opening lifts the write fence.
    net::awaitable<change_outcome> set_mode(policy::mode m, std::string reason, std::optional<sys_time> until,
                                            const admin_peer& who, std::string command);
    // freeze: read-only at once (maintenance stays maintenance) with the write fence up,
    // then waits until no write is in flight or the timeout passes. hold: new writes wait
    // in their sessions instead of being refused; empty: [hold] enabled decides.
    net::awaitable<freeze_outcome> freeze(std::optional<duration> timeout, std::optional<bool> hold,
                                          const admin_peer& who, std::string command);
    // reopen: one stage forward, or to `to`, running the checks before each step. The
    // write fence holds until a step reaches the writes stage.
    net::awaitable<reopen_outcome> reopen(std::optional<policy::stage> to, bool force, const admin_peer& who,
                                          std::string command);
    // The health check and every smoke check, now; updates the health state.
    net::awaitable<std::vector<probe_result>> run_checks_now();
    // Re-reads the config file (and the pages); the mode is unchanged.
    net::awaitable<reload_outcome> reload(const admin_peer& who, std::string command);

    audit_tail history(std::size_t n) const;

    // The webhook spool, told of every published change; nullptr when there is none.
    void set_spool(spool::spool* s) noexcept { spool_ = s; }
    spool::spool* spool() const noexcept { return spool_; }
    // An audit line for an action that leaves the gate as it is (spool drop, requeue,
    // replay): "" or why it could not be written.
    std::string audit_action(const admin_peer& who, const std::string& command, std::string_view outcome,
                             const std::string& detail);
    // The cluster hook ([cluster], proxy/cluster/): with one set, every change asked here
    // is handed to it instead (it makes the change the shared desired state and applies
    // it through apply_shared), and audit lines carry its replica id. Null: one replica.
    void set_cluster(cluster::cluster_node* c, std::string replica_id);
    cluster::cluster_node* cluster() const noexcept { return cluster_; }
    // The one path (persist, audit, render, publish) for a change decided elsewhere: the
    // cluster's desired state, or its fence. Never handed back to the hook.
    net::awaitable<change_outcome> apply_shared(gate_record next, const admin_peer& who,
                                                const std::string& command, const std::string& detail);

    // [auto_read_only]: its state, for status and metrics.
    const auto_read_only& auto_ro() const noexcept { return auto_ro_; }

    // The maintenance windows (proxy/window/): what they publish goes on every snapshot
    // from now on, and is published at once; the observer hears of every change applied.
    struct change_seen {
        const gate_record& before;
        const gate_record& after;
        const admin_peer& who;
        const std::string& command;
        const std::string& detail;
    };
    void set_window_publication(std::shared_ptr<const window::publication> p);
    void set_change_observer(std::function<void(const change_seen&)> f) { observer_ = std::move(f); }
    void set_windows(window::window_control* w) noexcept { windows_ = w; }
    window::window_control* windows() const noexcept { return windows_; }
    // An audit line for something that is not a gate change (a window's transition).
    void note(const admin_peer& who, const std::string& command, std::string_view outcome,
              const std::string& detail) {
        audit(who, command, record_, record_, outcome, detail);
    }

private:
    std::shared_ptr<const gate_snapshot> render(sys_time now) const;
    friend class auto_read_only;  // its loops use sleep(), stopped_ and the upstream
    // Persist, audit, render, publish; the one path every change takes (through the
    // cluster hook first when there is one).
    net::awaitable<change_outcome> apply(gate_record next, const admin_peer& who, const std::string& command,
                                         const std::string& detail);
    net::awaitable<change_outcome> apply_local(gate_record next, const admin_peer& who,
                                               const std::string& command, const std::string& detail);
    // Hands s to every worker; true once all have taken it.
    net::awaitable<bool> publish(std::shared_ptr<const gate_snapshot> s);
    // Appends one audit line; "" or why it could not. audit() logs the failure instead.
    std::string write_audit(const admin_peer& who, const std::string& command, const gate_record& before,
                            const gate_record& after, std::string_view outcome, const std::string& detail);
    void audit(const admin_peer& who, const std::string& command, const gate_record& before,
               const gate_record& after, std::string_view outcome, const std::string& detail);
    void reset_stage_baseline();
    net::awaitable<void> rerender_loop();
    net::awaitable<void> health_loop();
    net::awaitable<void> watch_loop();
    net::awaitable<void> check_watch();
    // One stage back, set by `who`: the automatic step back's path (watch, a failed stage hook).
    net::awaitable<change_outcome> step_back(std::string why, const admin_peer& who);
    net::awaitable<void> sleep(duration d);

    net::io_context& ioc_;
    std::shared_ptr<const config> cfg_;
    gate_record record_;
    std::shared_ptr<const gate_snapshot> snapshot_;
    std::vector<worker*> workers_;
    std::vector<const worker_stats*> stats_;
    std::vector<tcp::endpoint> upstream_;
    std::atomic<std::size_t>& connections_;

    std::string busy_;
    bool stopped_ = false;
    std::optional<std::int64_t> last_boundary_ms_;
    health_state health_;
    std::vector<probe_result> last_checks_;
    std::optional<sys_time> last_checks_at_;
    stats_totals stage_base_;
    std::optional<sys_time> watch_until_;
    std::string last_step_back_;
    std::vector<std::shared_ptr<net::steady_timer>> timers_;
    spool::spool* spool_ = nullptr;
    cluster::cluster_node* cluster_ = nullptr;
    std::string replica_id_;
    auto_read_only auto_ro_{*this};
    std::shared_ptr<const window::publication> window_pub_;
    std::function<void(const change_seen&)> observer_;
    window::window_control* windows_ = nullptr;
};

}  // namespace maintgate::proxy
