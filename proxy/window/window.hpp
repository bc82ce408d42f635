#pragma once
// The maintenance window as one object: what an operator plans (when it is announced,
// when it starts, when it is expected to end, the mode it closes the gate to, a message
// and hooks per phase) and what happened to it (every transition with its actor, the
// backups, the write boundary, each reopen stage with its checks, step-backs, refused
// writes per route). Pure data plus its JSON form; window_control runs it.
//
// Phases, in order: planned -> announced -> freezing -> active -> reopening ->
// verifying -> completed; aborted from any phase before verifying. A window that is
// neither completed nor aborted is "live"; at most one live window is past announced.
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

#include "policy/gate.hpp"
#include "proxy/admin/state_file.hpp"

namespace maintgate::window {

enum class phase : std::uint8_t { planned, announced, freezing, active, reopening, verifying, completed, aborted };
inline constexpr std::size_t phase_count = std::size_t(phase::aborted) + 1;

std::string_view to_string(phase p) noexcept;
std::optional<phase> parse_phase(std::string_view s) noexcept;

// Past announced and not yet over: the gate belongs to this window.
constexpr bool in_progress(phase p) noexcept { return p >= phase::freezing && p <= phase::verifying; }
constexpr bool finished(phase p) noexcept { return p == phase::completed || p == phase::aborted; }

// The phases that run hooks (r-hooks' runner); reopen stages' hooks are [reopen] hooks.
enum class hook_point : std::uint8_t { pre_announce, pre_freeze, at_boundary, post_reopen, on_abort };
inline constexpr std::size_t hook_point_count = std::size_t(hook_point::on_abort) + 1;
std::string_view to_string(hook_point h) noexcept;
std::optional<hook_point> parse_hook_point(std::string_view s) noexcept;

// What the operator plans, from `window plan` or a [[window]] table.
struct plan {
    std::string id;  // [A-Za-z0-9._-], 1 to 64 bytes
    std::optional<sys_time> announce_from;  // empty: announced when planned
    std::optional<sys_time> starts;  // empty: started by hand (window start ID)
    sys_time ends{};  // expected end: Retry-After, the banner and the feeds name it
    policy::mode mode = policy::mode::maintenance;  // read-only or maintenance
    std::string reason;  // the window's name in the feeds and the gate's reason
    // Shown by the banner and the feeds; by phase (announced, active, verifying...), the
    // reason when a phase has none.
    std::map<std::string, std::string> messages;
    std::array<std::vector<std::string>, hook_point_count> hooks;  // hook names per point
    std::string source;  // "config" or "ctl"
};

// One line of the timeline.
struct event {
    sys_time at{};
    std::string what;  // "phase active", "stage writes", "step back", "hook pre_freeze"...
    std::string actor;  // "uid 1000 pid 4242", "schedule", "watch", "restart"
    std::string detail;
};

// A backup's result (the hook's result file), as the backup gate accepted or refused it.
struct backup {
    std::string hook;
    bool ok = false;
    std::string artifact;
    std::uint64_t bytes = 0;
    std::string sha256;
    std::string detail;  // why refused, or how it was checked
    sys_time at{};
};

// One hook run of the window, as the report keeps it (the runner's hook_result, less
// what only the journal needs). A backup hook's verdict is in `backups` as well.
struct hook_run {
    std::string hook;
    std::string point;  // pre_freeze, at_boundary, post_reopen, on_abort, pre_announce
    std::string outcome;  // ok, failed, timed_out, killed, refused, interrupted, not_run
    bool ok = false;
    std::int64_t duration_ms = 0;
    std::string error;  // why it failed, empty when ok
    std::string output;  // the start of its output, redacted by the runner
    sys_time at{};  // when it started
};
// The bytes of a hook's output a window keeps (the audit log has up to output_cap).
inline constexpr std::size_t hook_output_excerpt = 1024;

struct check_result {
    std::string name;
    bool ok = false;
    std::string detail;
};

// One step of the staged reopen while the window owned the gate.
struct stage_step {
    policy::stage to{};
    sys_time at{};
    std::string actor;
    std::string detail;  // the gate's audit detail: "2 check(s) passed", "forced past ..."
    std::vector<check_result> checks;
    bool step_back = false;  // the watch stepped back to `to`
};

struct window {
    plan p;
    phase ph = phase::planned;
    sys_time planned_at{};
    std::string planned_by;
    sys_time updated_at{};
    std::optional<sys_time> started_at, ended_at;
    std::string started_by;
    std::string outcome;  // why it was aborted, or "completed"
    // Set at start-up when the process died in the middle of a phase that does work
    // (freezing, verifying): what was interrupted. Cleared when the phase is resumed.
    std::string interrupted;
    std::optional<std::int64_t> write_boundary_ms;  // 0: no write since start-up
    std::vector<backup> backups;  // pre_freeze (the backup gate) and post_reopen
    std::vector<hook_run> hook_runs;  // every hook the window ran, in order
    std::vector<stage_step> stages;
    std::vector<event> timeline;
    // Refused writes during the window, by route (a rule's path, or "(no rule)").
    std::map<std::string, std::uint64_t> refused_by_route;
    std::uint64_t refused_total = 0;

    const std::string& message() const;  // for the current phase
};

// "[A-Za-z0-9._-]{1,64}" or why not.
std::string check_id(std::string_view id);
// Cross-field rules of a plan: ends after starts, announce before starts, mode not open.
std::string check_plan(const plan& p);

// The store's JSON (window_store.cpp); value_to throws std::invalid_argument naming the
// field on anything malformed.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& v, const window& w);
window tag_invoke(const boost::json::value_to_tag<window>&, const boost::json::value& v);

}  // namespace maintgate::window
