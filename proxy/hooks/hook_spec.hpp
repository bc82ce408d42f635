#pragma once
// A configured hook as plain data ([[hook]] in the config), and what one run of it gives
// back. No Asio here: the config library and its tests include this header; the runner
// (proxy/hooks/runner.hpp) and the journal (proxy/hooks/hook_store.hpp) do the I/O.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "proxy/config/duration.hpp"

namespace maintgate {

// [hook.backup]: the contract a backup hook's result must meet before a window goes on.
struct backup_gate {
    std::string result_file;  // the hook writes {"artifact": path, "bytes": n, "sha256": hex} here
    std::uint64_t min_bytes = 1;  // an empty artifact is never a backup
    double min_ratio = 0.0;  // size >= min_ratio * the last good run's bytes; 0: off
    duration max_age{0};  // the artifact's mtime at most this old; 0: off
    std::vector<std::string> verify;  // argv run after the checks pass, must exit 0; empty: none
};

struct hook_spec {
    std::string name;  // unique among [[hook]]
    std::vector<std::string> argv;  // argv[0] is looked up in maintgate's PATH; no shell
    std::vector<std::string> env;  // names copied from maintgate's environment; all else dropped
    std::vector<std::pair<std::string, std::string>> set_env;  // fixed values, after the copies
    duration timeout{300'000};  // then SIGTERM to the process group
    duration kill_grace{10'000};  // after SIGTERM, then SIGKILL to the process group
    std::size_t output_cap = 65'536;  // bytes of stdout+stderr kept (together, in order)
    std::vector<std::string> redact;  // regexes, or env names (all upper case) whose values go
    std::string cwd;  // empty: maintgate's own
    std::optional<backup_gate> backup;
    std::string where;  // "file:line:column" of the [[hook]] table
};

// Why a hook runs: handed to the child as MAINTGATE_WINDOW_ID, MAINTGATE_PHASE and
// MAINTGATE_WRITE_BOUNDARY (unix ms, empty when there is none), and written to the journal
// and the audit line.
struct hook_context {
    std::string window_id;  // empty: not in a window (ctl hook run, a reopen stage by hand)
    std::string phase;  // "pre_freeze", "at_boundary", "reopen:writes", "manual", ...
    std::optional<std::int64_t> write_boundary_ms;
    std::string actor;  // "uid 1000 pid 4242", "schedule", ...
};

// The backup gate's verdict on one run.
struct backup_verdict {
    bool ok = false;
    std::string artifact;  // as the result file names it
    std::uint64_t bytes = 0;  // the artifact's size on disk (0 when it could not be read)
    std::string sha256;  // computed by maintgate (lower-case hex), empty when not reached
    std::string refused;  // why the gate refused, empty when ok
};

// The last run that passed its backup gate: the baseline for min_ratio. Replaced only by
// a run that passes, durably (hook_store).
struct backup_record {
    std::string artifact;
    std::uint64_t bytes = 0;
    std::string sha256;
    std::int64_t at_ms = 0;  // unix ms when the run finished
    std::string window_id;
};

struct hook_result {
    std::string name;
    std::string phase;
    std::string window_id;
    bool ok = false;  // exit 0 (not timed out) and, for a backup hook, the gate passed
    std::optional<int> exit_code;  // set when the process exited
    std::optional<int> signal;  // set when a signal ended it
    bool timed_out = false;  // the timeout passed: SIGTERM was sent to the group
    bool killed = false;  // the grace passed too: SIGKILL was sent to the group
    bool interrupted = false;  // from the journal: maintgate died while it ran; not re-run
    long pid = -1;
    std::int64_t started_ms = 0;  // unix ms
    duration took{0};
    std::string output;  // stdout+stderr, capped at output_cap, secrets replaced by "***"
    bool output_truncated = false;
    std::string error;  // why it failed, for people: "exit 3", "timed out after 5s", ...
    std::optional<backup_verdict> backup;  // set for a hook with [hook.backup] that ran

    // "ok", "failed", "timed_out", "killed", "refused" (backup gate), "interrupted",
    // "not_run" (spawn failed): the metrics' outcome label and the audit line's outcome.
    std::string outcome() const;
};

}  // namespace maintgate
