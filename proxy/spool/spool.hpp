#pragma once
// The webhook spool at run time: one per process, shared by the workers (ingest), its
// own delivery thread (replay) and the admin thread (ctl, metrics, the gate's changes).
//
// Ingest: a worker's session hands over a verified event with async_ingest() and
// suspends; the one writer thread takes everything queued (waiting commit_interval for
// more), decides each (dedupe, quotas) against the index, appends them with one write
// and one fsync (group commit), and only then posts each outcome back to the executor
// of the session that asked. No worker thread ever blocks on the disk.
//
// Replay: runs on the spool's own thread while the gate lets webhooks through (stage
// `open`, no fence; set_gate() says so on every change) and stops starting deliveries
// the moment it does not. The first pending event of each order key is delivered, at
// most `concurrency` at once and `rate` per second; 2xx marks it done (appended and
// fsynced before the next of its key starts), 5xx/408/429 and connection errors retry
// with exponential backoff and full jitter up to max_attempts, anything else is
// dead-lettered. At-least-once: a kill between the app's 2xx and the done mark sends it
// again after restart, with the same delivery id and Maintgate-Spool-Id; once marked
// done it is never sent again.
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/any_completion_handler.hpp>

#include "proxy/admin/state_file.hpp"
#include "proxy/config/config.hpp"
#include "proxy/net.hpp"
#include "proxy/spool/spool_log.hpp"

namespace maintgate::spool {

struct ingest_outcome {
    admit_result what = admit_result::accepted;
    std::uint64_t id = 0;  // accepted: the new id; duplicate: the first one's
    std::string error;  // the disk failed: nothing stored (503)
};

// Why a request was not stored; the metric's reason label.
enum class reject_reason : std::uint8_t { signature, too_large, bytes, events, age, disk, no_key };
inline constexpr std::size_t reject_reason_count = 7;
std::string_view to_string(reject_reason r) noexcept;

struct spool_counters {
    std::atomic<std::uint64_t> accepted{0}, duplicates{0}, delivered{0}, retried{0}, dead_lettered{0};
    std::array<std::atomic<std::uint64_t>, reject_reason_count> rejected{};
    std::atomic<std::int64_t> last_quota_refusal_ms{0};
};

// What ctl shows of one event.
struct event_info {
    entry e;
    bool in_flight = false;
    std::int64_t next_try_ms = 0;  // 0: now
};

struct spool_status {
    log_counts counts;
    bool replaying = false;  // the gate lets webhooks through and the loop runs
    std::size_t in_flight = 0;
    std::uint64_t torn_bytes = 0;  // cut at the last start
    std::string dir;
    bool quota_alert = false;
};

class spool {
public:
    spool(spool_settings settings, std::vector<tcp::endpoint> upstream, std::shared_ptr<const config> cfg);
    ~spool();
    spool(const spool&) = delete;
    spool& operator=(const spool&) = delete;

    // Opens the log (start-up: an error refuses to start) and starts both threads.
    std::string start();
    void stop();

    const spool_settings& settings() const noexcept { return settings_; }
    spool_counters& counters() noexcept { return counters_; }
    const spool_counters& counters() const noexcept { return counters_; }

    // From a worker: the outcome is delivered on the caller's executor after the batch
    // that holds the event is fsynced (or refused).
    template <class Token>
    auto async_ingest(event e, Token&& token) {
        return net::async_initiate<Token, void(ingest_outcome)>(
            [this](auto handler, event ev) {
                auto ex = net::get_associated_executor(handler);
                submit({std::move(ev), {}, false, std::move(ex), ingest_handler(std::move(handler)), {}});
            },
            token, std::move(e));
    }

    // A state change (done, dead-letter, drop, requeue), durable when the handler runs:
    // "" or why not (unknown id, wrong state, the disk).
    template <class Token>
    auto async_mark(mark m, Token&& token) {
        return net::async_initiate<Token, void(std::string)>(
            [this](auto handler, mark mk) {
                auto ex = net::get_associated_executor(handler);
                submit({{}, std::move(mk), true, std::move(ex), {}, mark_handler(std::move(handler))});
            },
            token, std::move(m));
    }

    // The gate changed (admin thread): replay runs while webhooks pass.
    void set_gate(const gate_record& r, std::shared_ptr<const config> cfg);
    static bool webhooks_pass(const gate_record& r) noexcept {
        return r.mode == policy::mode::open && r.stage == policy::stage::open && !r.fenced;
    }

    // For ctl (any thread).
    spool_status status() const;
    std::vector<event_info> list(std::size_t n) const;  // pending and dead first, oldest first
    std::optional<event_info> info(std::uint64_t id) const;
    std::optional<event> load(std::uint64_t id) const;
    // The order in which the next deliveries would go (the heads), at most n.
    std::vector<event_info> next_deliveries(std::size_t n) const;
    // Every pending head is due now (backoff forgotten); false when the gate holds webhooks.
    bool replay_now();

    // The maintgate_spool_* families for /metrics: stored events and bytes (gauges, by
    // state), accepted, duplicates, rejected{reason}, delivered, retried, dead-lettered
    // (counters), and the quota alert (1 while a quota refused an event in the last 60 s).
    std::string metrics_text() const;

private:
    using ingest_handler = net::any_completion_handler<void(ingest_outcome)>;
    using mark_handler = net::any_completion_handler<void(std::string)>;
    struct job {
        event ev;
        mark mk;
        bool is_mark = false;
        net::any_io_executor ex;
        ingest_handler on_ingest;
        mark_handler on_mark;
    };

    void submit(job j);
    void writer_loop();
    void run_batch(std::vector<job>& jobs);
    net::awaitable<void> replay_loop();
    net::awaitable<void> deliver(std::uint64_t id);
    void wake_replay();

    spool_settings settings_;
    std::vector<tcp::endpoint> upstream_;
    std::shared_ptr<const config> cfg_;  // for the upstream's settings; under mutex_
    spool_counters counters_;

    mutable std::mutex mutex_;  // the log and the replay state
    spool_log log_;
    std::set<std::uint64_t> in_flight_;
    std::map<std::uint64_t, std::int64_t> next_try_ms_;
    std::atomic<bool> open_{false};

    std::mutex queue_mutex_;
    std::condition_variable queue_cv_;
    std::vector<job> queue_;
    bool stopping_ = false;

    net::io_context replay_ioc_{1};
    std::optional<net::steady_timer> replay_wake_;
    std::thread writer_, replayer_;
    bool started_ = false;
};

}  // namespace maintgate::spool
