#pragma once
// Counters the data path keeps for the admin socket and the metrics listener. Each
// worker owns one worker_stats and is its only writer, so an increment is a relaxed
// load and store on the worker's own cache line: no locked instruction, no sharing.
// Readers (the admin thread) sum over workers; a sum is a moment's view, exact for
// counters that have stopped moving, which is what the write fence waits for.
//
// Every counter is declared once, in the lists below (envoy's ALL_*_STATS(COUNTER)
// shape): worker_stats, stats_totals, sum_stats() and render_metrics() all expand the
// same list, so a new counter is one line here and cannot be summed or exported by half.
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "policy/gate.hpp"
#include "proxy/http/banner.hpp"

namespace maintgate {

// X(member, metric name, HELP text): plain counters, each exported as its own counter
// family, in this order, after maintgate_in_flight_requests.
#define MAINTGATE_WORKER_COUNTERS(X)                                                                  \
    X(refused_writes, "maintgate_refused_writes_total", "Writes and held webhooks refused with 503.") \
    X(upstream_responses, "maintgate_upstream_responses_total",                                       \
      "Final responses relayed from the upstream.")                                                   \
    X(upstream_5xx, "maintgate_upstream_5xx_responses_total",                                         \
      "Final responses from the upstream with a 5xx status.")                                         \
    X(upstream_errors, "maintgate_upstream_errors_total",                                             \
      "Requests answered locally with 502 or 504 because the upstream failed.")                        \
    X(banners_inserted, "maintgate_banners_inserted_total",                                           \
      "HTML pages relayed with the maintenance window's banner.") \
    X(held_writes, "maintgate_held_writes_total", "Writes held during a freeze ([hold]).")            \
    X(held_released, "maintgate_held_released_total", "Held writes forwarded after the freeze lifted.") \
    X(held_timed_out, "maintgate_held_timed_out_total", "Held writes refused with 503 past max_wait.") \
    X(held_over_quota, "maintgate_held_over_quota_total",                                             \
      "Held writes refused with 503 past max_held or max_bytes (oldest first).")                     \
    X(held_dropped, "maintgate_held_dropped_total",                                                   \
      "Held writes whose client went away: never forwarded.")                                         \
    X(write_responses, "maintgate_write_responses_total",                                             \
      "Responses to forwarded writes, relayed or local 502/504.")                                     \
    X(write_5xx, "maintgate_write_5xx_responses_total", "Responses to forwarded writes with a 5xx.")  \
    X(write_state_signals, "maintgate_app_read_only_signals_total",                                   \
      "Responses whose [auto_read_only] header asked for read-only.")

// X(label, prefix): forwarded requests in flight, counted from the decision to forward
// until the upstream exchange is over (response relayed, or failed); tunnels are not
// writes. Each is a pair prefix_started / prefix_finished, exported together as the gauge
// maintgate_in_flight_requests{kind="label"}, in this order.
#define MAINTGATE_IN_FLIGHT_KINDS(X) \
    X(read, reads)                   \
    X(write, writes)

// A counter with one writer thread.
class counter {
public:
    void inc(std::uint64_t n = 1) noexcept {
        v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_release);
    }
    std::uint64_t get() const noexcept { return v_.load(std::memory_order_acquire); }

private:
    std::atomic<std::uint64_t> v_{0};
};

// Derived from the enums' last enumerators, not kept in step by hand. The decision
// arrays are indexed by an enumerator's value, which only works while the values run
// densely from 0.
inline constexpr std::size_t mode_count = static_cast<std::size_t>(policy::mode::maintenance) + 1;
inline constexpr std::size_t verdict_count = static_cast<std::size_t>(policy::verdict::deny_method) + 1;
static_assert(static_cast<std::size_t>(policy::mode::open) == 0 &&
                  static_cast<std::size_t>(policy::mode::read_only) == 1 && mode_count == 3,
              "policy::mode must run densely from 0 with maintenance last");
static_assert(static_cast<std::size_t>(policy::verdict::forward) == 0 &&
                  static_cast<std::size_t>(policy::verdict::deny_method) == verdict_count - 1,
              "policy::verdict must run densely from 0 with deny_method last");

// Refused writes by the rule that refused them: slot 0 for requests no rule matched (the
// mode's default), slot i + 1 for rule i, the last slot for every rule past it. A
// maintenance window's report counts them per route.
inline constexpr std::size_t refused_route_slots = 32;
constexpr std::size_t refused_slot(int rule) noexcept {
    return rule < 0 ? 0 : std::size_t(rule) + 1 < refused_route_slots ? std::size_t(rule) + 1
                                                                       : refused_route_slots - 1;
}

struct alignas(64) worker_stats {
    // Requests by the mode they were decided in and the gate's verdict.
    std::array<std::array<counter, verdict_count>, mode_count> decisions;
#define MAINTGATE_X(label, prefix) counter prefix##_started, prefix##_finished;
    MAINTGATE_IN_FLIGHT_KINDS(MAINTGATE_X)
#undef MAINTGATE_X
#define MAINTGATE_X(name, metric, help) counter name;
    MAINTGATE_WORKER_COUNTERS(MAINTGATE_X)
#undef MAINTGATE_X
    // Navigations that went out without the banner, by banner_skip.
    std::array<counter, banner_skip_count> banner_skipped;
    std::array<counter, refused_route_slots> refused_by_rule;
    // Unix time in milliseconds when the last forwarded write finished; 0: none yet.
    std::atomic<std::int64_t> last_write_done_ms{0};
    // The ttl in seconds of the last read-only signal (0: the configured default).
    std::atomic<std::int64_t> write_state_ttl_s{0};
};

// A sum over workers at one moment.
struct stats_totals {
    std::array<std::array<std::uint64_t, verdict_count>, mode_count> decisions{};
#define MAINTGATE_X(label, prefix) std::uint64_t prefix##_started = 0, prefix##_finished = 0;
    MAINTGATE_IN_FLIGHT_KINDS(MAINTGATE_X)
#undef MAINTGATE_X
#define MAINTGATE_X(name, metric, help) std::uint64_t name = 0;
    MAINTGATE_WORKER_COUNTERS(MAINTGATE_X)
#undef MAINTGATE_X
    std::array<std::uint64_t, banner_skip_count> banner_skipped{};
    std::array<std::uint64_t, refused_route_slots> refused_by_rule{};
    std::int64_t last_write_done_ms = 0;  // the latest over workers
    std::int64_t write_state_ttl_s = 0;  // the longest over workers

    std::uint64_t writes_in_flight() const noexcept { return writes_started - writes_finished; }
    std::uint64_t reads_in_flight() const noexcept { return reads_started - reads_finished; }
    // Held now: every held write ends released, timed out, over quota or dropped.
    std::uint64_t writes_held() const noexcept {
        const auto out = held_released + held_timed_out + held_over_quota + held_dropped;
        return held_writes > out ? held_writes - out : 0;
    }
};

inline stats_totals sum_stats(const std::vector<const worker_stats*>& all) noexcept {
    stats_totals t;
    for (const worker_stats* w : all) {
        for (std::size_t m = 0; m < mode_count; ++m)
            for (std::size_t v = 0; v < verdict_count; ++v) t.decisions[m][v] += w->decisions[m][v].get();
                // finished before started: a request that starts between the two reads makes the
                // in-flight count too high, never too low.
#define MAINTGATE_X(label, prefix)                     \
    t.prefix##_finished += w->prefix##_finished.get(); \
    t.prefix##_started += w->prefix##_started.get();
        MAINTGATE_IN_FLIGHT_KINDS(MAINTGATE_X)
#undef MAINTGATE_X
#define MAINTGATE_X(name, metric, help) t.name += w->name.get();
        MAINTGATE_WORKER_COUNTERS(MAINTGATE_X)
#undef MAINTGATE_X
        for (std::size_t i = 0; i < banner_skip_count; ++i) t.banner_skipped[i] += w->banner_skipped[i].get();
        for (std::size_t i = 0; i < refused_route_slots; ++i) t.refused_by_rule[i] += w->refused_by_rule[i].get();
        auto last = w->last_write_done_ms.load(std::memory_order_acquire);
        if (last > t.last_write_done_ms) t.last_write_done_ms = last;
        auto ttl = w->write_state_ttl_s.load(std::memory_order_relaxed);
        if (ttl > t.write_state_ttl_s) t.write_state_ttl_s = ttl;
    }
    return t;
}

}  // namespace maintgate
