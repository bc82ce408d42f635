#pragma once
// This replica's part in a cluster of maintgates that share one gate through etcd. It
// runs on the admin thread beside gate_control and is its hook: a change asked here
// (ctl set mode, freeze, reopen's steps, the step back) becomes a compare-and-swap on
// <prefix>/desired, and every replica, this one too, applies the desired state through
// gate_control's normal path (state file, audit line with actor "cluster rev N",
// snapshot). Each replica acknowledges what it runs under its lease in <prefix>/acks/<id>.
//
// Losing etcd: at (last keep-alive acknowledged + lease_ttl - 2 x keepalive), before etcd
// can let the lease expire and the others stop counting this replica, it fences itself
// to the more restrictive of the last known mode and fence_mode. It leaves the fence only
// after a fresh read of the desired state and an acknowledgement written.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "proxy/admin/gate_control.hpp"
#include "proxy/cluster/etcd_client.hpp"
#include "proxy/cluster/shared_state.hpp"

namespace maintgate::proxy::cluster {

// One replica as the last read of replicas/ and acks/ saw it.
struct peer {
    std::string id;
    bool live = false;  // its replicas/ key exists (its lease holds)
    std::optional<replica_ack> ack;
};

// What freeze waits for: every live replica at the revision, fenced, no write in flight.
struct acks_outcome {
    bool ok = false;
    std::string error;  // etcd could not be read at all
    std::vector<peer> done;  // with their write boundaries
    std::vector<peer> draining;  // at the revision, writes still in flight
    std::vector<peer> silent;  // no ack of the revision (stopped, partitioned, slow)
};

class cluster_node {
public:
    cluster_node(net::io_context& ioc, gate_control& gate, const cluster_config& c, std::string replica_id);
    ~cluster_node();

    // "" or why the node cannot start (the password file).
    std::string prepare();
    void start();
    void stop();

    // gate_control's hook: writes next as the desired state (CAS on the revision this
    // replica last applied), applies it here and returns the outcome of that apply.
    net::awaitable<change_outcome> propose(gate_record next, const admin_peer& who, const std::string& command,
                                           const std::string& detail);

    // The window object's hook (proxy/window/): the window this replica runs moved to a
    // new phase. Written into the desired state (a CAS like any change, gate unchanged)
    // so that every replica's status shows it; retried after a lost race, and after
    // etcd comes back if it is away.
    void share_window(shared_window w);
    // The window the desired state carries (this replica's or another's), or none.
    const std::optional<shared_window>& shared() const noexcept { return shared_window_; }
    // The shared window holds the gate and the replica running it is alive (its lease
    // holds, as the last read of replicas/ saw): a window of a replica that is gone is
    // history, not a reason to refuse another.
    bool shared_window_held() const noexcept;

    // Waits until every live replica acknowledged `revision` fenced with zero writes in
    // flight, or the deadline passes.
    net::awaitable<acks_outcome> wait_acks(std::int64_t revision, std::chrono::steady_clock::time_point deadline);

    const std::string& id() const noexcept { return id_; }
    std::int64_t last_proposed() const noexcept { return last_proposed_; }
    std::int64_t applied_revision() const noexcept { return applied_rev_; }
    bool self_fenced() const noexcept { return self_fenced_; }

    // status's "cluster" object and the metrics families (maintgate_cluster_*).
    boost::json::object status_json(sys_time now) const;
    // The shared window in the shape of window::summary_json (plus "replica"), or null.
    boost::json::value shared_window_json() const;
    std::string metrics_text(sys_time now) const;

private:
    net::awaitable<void> run();
    net::awaitable<bool> session();
    net::awaitable<bool> fresh_read();
    net::awaitable<void> watch_loop(std::uint64_t generation, std::int64_t from);
    net::awaitable<void> ack_loop();
    net::awaitable<void> fence_loop();
    net::awaitable<void> peers_loop();
    net::awaitable<bool> write_ack();
    net::awaitable<bool> refresh_peers();
    // Applies a desired state read from etcd at revision rev (serialised: one at a time).
    net::awaitable<change_outcome> apply_desired(std::int64_t rev, const desired_state& d, bool fresh);
    net::awaitable<void> fence_self(std::string why);
    net::awaitable<void> share_loop();
    // One writer of the desired key at a time (a proposal, a window's phase).
    net::awaitable<void> wait_writer();
    net::awaitable<void> sleep(std::chrono::milliseconds d);
    replica_ack current_ack() const;

    net::io_context& ioc_;
    gate_control& gate_;
    const cluster_config& cfg_;
    std::string id_;
    etcd_client etcd_;
    etcd_client watch_client_;

    bool stopped_ = false;
    bool connected_ = false;  // a lease is held and the desired state was read
    std::uint64_t generation_ = 0;  // one per session: an old watch loop ends itself
    std::int64_t lease_ = 0;
    std::chrono::steady_clock::time_point last_keepalive_{};
    std::optional<sys_time> last_keepalive_sys_;
    std::int64_t applied_rev_ = 0;  // the desired state's mod_revision this replica runs
    std::int64_t seen_rev_ = 0;  // the desired key's mod_revision last read (CAS base)
    std::int64_t epoch_ = 0;
    std::int64_t watch_from_ = 0;  // the last fresh read's revision + 1
    std::optional<gate_record> prefence_;  // what ran before the fence
    std::int64_t last_proposed_ = 0;
    bool applying_ = false;
    bool writing_ = false;  // a CAS on the desired key is under way
    gate_record desired_record_;  // the gate the last applied desired state asks for
    std::optional<shared_window> shared_window_;  // the window it carries
    std::optional<shared_window> pending_window_;  // this replica's window, not yet written
    bool sharing_ = false;  // share_loop runs
    bool self_fenced_ = false;
    std::string fence_reason_;
    std::optional<sys_time> fenced_since_;
    std::string last_error_;
    std::optional<replica_ack> last_ack_;
    std::chrono::steady_clock::time_point last_ack_at_{};
    bool ack_dirty_ = true;
    std::vector<peer> peers_;
    std::uint64_t watch_restarts_ = 0;
    std::uint64_t fences_ = 0;
    std::vector<std::shared_ptr<net::steady_timer>> timers_;
};

}  // namespace maintgate::proxy::cluster
