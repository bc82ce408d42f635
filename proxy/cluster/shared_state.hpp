#pragma once
// What the replicas share through etcd, as the JSON stored in each key's value. Pure:
// encoding and decoding only (tests/proxy/cluster/shared_state_test.cpp).
//   <prefix>/desired        {"mode","stage","fenced","reason","until","set_by","since",
//                             "window","epoch","command","asked_by","origin"}
//     window: null, or the maintenance window that holds (or last held) the gate:
//             {"id","phase","mode","reason","ends","started_at","replica"}
//   <prefix>/replicas/<id>  {"id","pid","started"}                 (under the lease)
//   <prefix>/acks/<id>      {"id","revision","mode","stage","fenced","in_flight_writes",
//                             "write_boundary_ms","at_ms","self_fenced"} (under the lease)
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/admin/state_file.hpp"

namespace maintgate::proxy::cluster {

// The maintenance window as the cluster shares it: one replica's window object runs it
// (proxy/window/), the others show it. Phases from freezing on (a plan is that
// replica's own); completed or aborted once it is over, until the next one.
struct shared_window {
    std::string id;
    std::string phase;  // window::to_string(phase): "freezing" .. "verifying", "completed", "aborted"
    policy::mode mode = policy::mode::maintenance;
    std::string reason;
    std::optional<sys_time> ends;
    std::optional<sys_time> started_at;
    std::string replica;  // the replica whose window object runs it
    bool operator==(const shared_window&) const = default;
    // freezing .. verifying: the window holds the gate.
    bool in_progress() const noexcept { return phase != "completed" && phase != "aborted"; }
};

struct desired_state {
    gate_record record;
    std::optional<shared_window> window;
    std::int64_t epoch = 0;  // one more at every write: a count of changes, for people
    std::string command;  // the command line that asked for it ("set mode maintenance ...")
    std::string asked_by;  // the admin peer there: "uid 1000 pid 4242"
    std::string origin;  // the replica it was asked on
};

std::string encode_desired(const desired_state& d);
// nullopt and why when the value is not a desired state (a hand-written key, a bug).
std::optional<desired_state> decode_desired(std::string_view json, std::string& error);

struct replica_ack {
    std::string id;
    std::int64_t revision = 0;  // the desired state's mod_revision this replica runs
    policy::mode mode = policy::mode::open;
    policy::stage stage = policy::stage::open;
    bool fenced = false;  // the write fence
    std::uint64_t in_flight_writes = 0;
    std::int64_t write_boundary_ms = 0;  // unix ms of its last finished write; 0: none
    std::int64_t at_ms = 0;  // when it wrote this ack (unix ms)
    bool self_fenced = false;  // fenced itself after losing etcd (then revision is stale)
};

std::string encode_ack(const replica_ack& a);
std::optional<replica_ack> decode_ack(std::string_view json);

// open < read-only < maintenance: the more restrictive of two modes.
policy::mode more_restrictive(policy::mode a, policy::mode b) noexcept;

// The key layout.
inline std::string desired_key(std::string_view prefix) { return std::string(prefix) + "/desired"; }
inline std::string replicas_prefix(std::string_view prefix) { return std::string(prefix) + "/replicas/"; }
inline std::string acks_prefix(std::string_view prefix) { return std::string(prefix) + "/acks/"; }
// etcd's range_end for "every key that starts with prefix": the prefix with its last
// byte plus one.
std::string prefix_end(std::string_view prefix);

}  // namespace maintgate::proxy::cluster
