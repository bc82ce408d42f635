#pragma once
// Counters the data path keeps for the admin socket and the metrics listener. Each
// worker owns one worker_stats and is its only writer, so an increment is a relaxed
// load and store on the worker's own cache line: no locked instruction, no sharing.
// Readers (the admin thread) sum over workers; a sum is a moment's view, exact for
// counters that have stopped moving, which is what the write fence waits for.
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "policy/gate.hpp"

namespace maintgate {

// A counter with one writer thread.
class counter {
public:
    void inc(std::uint64_t n = 1) noexcept { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_release); }
    std::uint64_t get() const noexcept { return v_.load(std::memory_order_acquire); }

private:
    std::atomic<std::uint64_t> v_{0};
};

inline constexpr std::size_t mode_count = 3;     // policy::mode
inline constexpr std::size_t verdict_count = 6;  // policy::verdict

struct alignas(64) worker_stats {
    // Requests by the mode they were decided in and the gate's verdict.
    std::array<std::array<counter, verdict_count>, mode_count> decisions;
    // Forwarded requests in flight: counted from the decision to forward until the
    // upstream exchange is over (response relayed, or failed). Tunnels are not writes.
    counter writes_started, writes_finished;
    counter reads_started, reads_finished;
    counter refused_writes;       // 503 refusals of writes and held webhooks
    counter upstream_responses;   // final responses relayed from the upstream
    counter upstream_5xx;         // of which 5xx
    counter upstream_errors;      // local 502/504: refused, reset, timed out, garbage
    // Unix time in milliseconds when the last forwarded write finished; 0: none yet.
    std::atomic<std::int64_t> last_write_done_ms{0};
};

// A sum over workers at one moment.
struct stats_totals {
    std::array<std::array<std::uint64_t, verdict_count>, mode_count> decisions{};
    std::uint64_t writes_started = 0, writes_finished = 0;
    std::uint64_t reads_started = 0, reads_finished = 0;
    std::uint64_t refused_writes = 0;
    std::uint64_t upstream_responses = 0, upstream_5xx = 0, upstream_errors = 0;
    std::int64_t last_write_done_ms = 0;  // the latest over workers

    std::uint64_t writes_in_flight() const noexcept { return writes_started - writes_finished; }
    std::uint64_t reads_in_flight() const noexcept { return reads_started - reads_finished; }
};

inline stats_totals sum_stats(const std::vector<const worker_stats*>& all) noexcept {
    stats_totals t;
    for (const worker_stats* w : all) {
        for (std::size_t m = 0; m < mode_count; ++m)
            for (std::size_t v = 0; v < verdict_count; ++v) t.decisions[m][v] += w->decisions[m][v].get();
        // finished before started: a write that starts between the two reads makes the
        // in-flight count too high, never too low.
        t.writes_finished += w->writes_finished.get();
        t.writes_started += w->writes_started.get();
        t.reads_finished += w->reads_finished.get();
        t.reads_started += w->reads_started.get();
        t.refused_writes += w->refused_writes.get();
        t.upstream_responses += w->upstream_responses.get();
        t.upstream_5xx += w->upstream_5xx.get();
        t.upstream_errors += w->upstream_errors.get();
        auto last = w->last_write_done_ms.load(std::memory_order_acquire);
        if (last > t.last_write_done_ms) t.last_write_done_ms = last;
    }
    return t;
}

}  // namespace maintgate
