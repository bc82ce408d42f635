#pragma once
// Automatic read-only ([auto_read_only]), decided on the admin thread: the gate moves
// from open to read-only by itself when
//   (a) the app says so: a response header such as "Maintgate-Write-State: read-only;
//       ttl=30" (the workers strip it and count it: write_state_signals),
//   (b) the share of 5xx among write responses over `window` passes error_threshold,
//       with at least min_writes of them (the workers count write_responses, write_5xx),
//   (c) the configured probe fails.
// The workers only bump counters (no lock); a one-second timer here samples them.
//
// It only ever leaves `open` set by an operator or the config, never overrides another
// mode; an operator's command (any change not made by "auto") ends the automatic state
// at once. A trigger lasts ttl (the header's own, or the configured one) unless it comes
// again; once it has expired and the gate has been healthy (the probe passing, when one
// is configured) for recover_after, it reopens through the writes stage and then open,
// each step with the reopen checks (gate_control::reopen). Audit actor "auto".
#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "proxy/admin/probe.hpp"
#include "proxy/admin/state_file.hpp"
#include "proxy/net.hpp"
#include "proxy/net/stats.hpp"

namespace maintgate::proxy {

class gate_control;

enum class auto_cause : std::uint8_t { header, errors, probe };
inline constexpr std::size_t auto_cause_count = 3;
const char* to_string(auto_cause c) noexcept;

class auto_read_only {
public:
    explicit auto_read_only(gate_control& gate);

    // The loops gate_control::start() spawns: the counters sampled every second, and
    // the probe every probe_interval.
    net::awaitable<void> run();
    net::awaitable<void> probe_loop();

    // For status and metrics.
    bool active() const noexcept { return active_; }
    std::optional<auto_cause> cause() const noexcept { return cause_; }
    const std::string& detail() const noexcept { return detail_; }
    std::optional<sys_time> since() const noexcept { return since_; }
    std::optional<sys_time> expires() const noexcept { return expires_; }
    const std::array<std::uint64_t, auto_cause_count>& entries() const noexcept { return entries_; }
    const std::optional<probe_result>& last_probe() const noexcept { return last_probe_; }
    // The Prometheus families: entries by cause, and whether it is active.
    std::string metrics_text() const;

private:
    struct sample {
        std::chrono::steady_clock::time_point at;
        std::uint64_t writes, errors;
    };
    net::awaitable<void> tick();
    // A trigger: enters (from open) or re-confirms (while active).
    net::awaitable<void> trigger(auto_cause c, std::string why, duration ttl);

    gate_control& gate_;
    std::uint64_t seen_signals_ = 0;
    bool started_ = false;
    std::deque<sample> samples_;
    bool active_ = false;
    bool leaving_ = false;  // reopen to writes done, open next
    std::optional<auto_cause> cause_;
    std::string detail_;
    std::optional<sys_time> since_, expires_;
    sys_time last_bad_{};  // the last trigger or failed probe: recovery counts from it
    std::optional<probe_result> last_probe_;
    bool probe_failing_ = false;
    std::array<std::uint64_t, auto_cause_count> entries_{};
};

}  // namespace maintgate::proxy
