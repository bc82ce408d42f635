#pragma once
// Hold-then-degrade ([hold]): during a freeze that holds, a write waits in its own
// session (a coroutine suspended on a timer: no thread blocks) instead of getting its
// 503. Each worker keeps its held writes in one intrusive list, in arrival order; once
// writes open again a per-worker release loop wakes them one at a time, at
// release_rate / workers per second, and each re-runs the gate's decision before it is
// forwarded (it is counted in flight only then, so the write boundary stays exact).
// Past max_wait, or when max_held / max_bytes is reached, the oldest held write gets the
// normal refusal. The quotas are counted across workers (two relaxed atomics touched
// only by held writes); the order and the rate are per worker.
//
// Nothing here runs for a request that is not held: the open path pays nothing.
#include <atomic>
#include <chrono>
#include <cstdint>

#include "proxy/config/config.hpp"
#include "proxy/net.hpp"

namespace maintgate {
struct gate_record;
}

namespace maintgate::proxy {

class worker_context;

// One held write; lives in its session's coroutine frame.
struct held_write {
    enum class state : std::uint8_t { waiting, released, over_quota };
    held_write* prev = nullptr;
    held_write* next = nullptr;
    std::chrono::steady_clock::time_point arrived{};
    std::uint64_t bytes = 0;  // body bytes read while held, counted against max_bytes
    net::steady_timer* wake = nullptr;  // cancelled to wake the session
    state st = state::waiting;
};

// Writes would be forwarded under r: the mode is open (the open and writes stages) and
// the fence is down.
bool writes_open(const gate_record& r) noexcept;

class hold_queue {
public:
    // Admits w (arrived now) under c's quotas; when they are full, the oldest write held
    // on this worker is marked over_quota and woken to make room. False: nothing here
    // to make room with, so w itself is over quota (and not queued).
    bool admit(held_write& w, const hold_config& c);
    // Body bytes read for w while held; false when they pass max_bytes (w must go).
    bool add_bytes(held_write& w, std::uint64_t n, const hold_config& c);
    // Takes w out of the list and the totals (any outcome).
    void leave(held_write& w) noexcept;
    // Starts this worker's release loop when it is not running.
    void start_release(worker_context& ctx);

    std::size_t size() const noexcept { return size_; }

    // All workers together; read by the admin thread only for reports.
    static std::uint64_t held_total() noexcept;

private:
    net::awaitable<void> release_loop(worker_context& ctx);
    held_write* oldest_waiting() const noexcept;

    held_write* head_ = nullptr;  // oldest
    held_write* tail_ = nullptr;
    std::size_t size_ = 0;
    bool releasing_ = false;
};

}  // namespace maintgate::proxy
