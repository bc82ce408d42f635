// The hold step and the per-worker hold queue ([hold], hold.hpp).
//
// When it runs: decide() found a write the gate refuses while a freeze holds writes
// (gate_record::hold), and it is not an upgrade. The write is not in flight: the
// freeze's boundary is before it.
//
// What it does: queues the write on its worker (arrival order), then waits in slices of
// at most 100 ms, each one checking in this order: released (the release loop woke it:
// the gate decides again, and a write it forwards is counted in flight only now and
// goes on as any other: forward_request, relay_response); over quota (a newer write took
// its place); max_wait passed or the worker stopping (the normal refusal); the freeze
// ended without writes opening (the gate's answer for the new mode); the client gone
// (poll POLLRDHUP: a disconnected client is dropped, never forwarded, and nothing is
// written back). While it waits, a plain connection's body is read into the session's
// buffer up to body_cap (counted against max_bytes), no further: the rest stays in the
// kernel and TCP pushes back on the client. Over TLS nothing past what came with the
// head is read. No 100 Continue goes out while held: forward_request sends it (or
// relays the upstream's) after the release, as for any write.
//
// Outcomes: the forwarded write's step; the refusal's (write_rendered); close when the
// client went away.
#include <poll.h>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "proxy/http/hold.hpp"
#include "proxy/http/session_io.hpp"
#include "proxy/net/worker_context.hpp"

namespace maintgate::proxy {
namespace {

// All workers together: the quotas are global, the queues per worker.
std::atomic<std::uint64_t> held_count{0};
std::atomic<std::uint64_t> held_bytes{0};

constexpr auto slice = std::chrono::milliseconds(100);

// The peer closed (or reset) its side: POLLRDHUP is seen even with unread bytes queued.
bool peer_gone(int fd) noexcept {
    pollfd p{fd, POLLRDHUP, 0};
    if (::poll(&p, 1, 0) < 0) return false;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

}  // namespace

bool writes_open(const gate_record& r) noexcept { return r.mode == policy::mode::open && !r.fenced; }

std::uint64_t hold_queue::held_total() noexcept { return held_count.load(std::memory_order_relaxed); }

held_write* hold_queue::oldest_waiting() const noexcept {
    for (held_write* w = head_; w; w = w->next)
        if (w->st == held_write::state::waiting) return w;
    return nullptr;
}

bool hold_queue::admit(held_write& w, const hold_config& c) {
    // Full: the oldest write held here makes room (oldest first), as often as needed.
    while (held_count.load(std::memory_order_relaxed) >= c.max_held ||
           held_bytes.load(std::memory_order_relaxed) + w.bytes > c.max_bytes) {
        held_write* old = oldest_waiting();
        if (!old) return false;
        old->st = held_write::state::over_quota;
        leave(*old);
        if (old->wake) old->wake->cancel();
    }
    w.prev = tail_;
    w.next = nullptr;
    if (tail_)
        tail_->next = &w;
    else
        head_ = &w;
    tail_ = &w;
    ++size_;
    held_count.fetch_add(1, std::memory_order_relaxed);
    held_bytes.fetch_add(w.bytes, std::memory_order_relaxed);
    return true;
}

bool hold_queue::add_bytes(held_write& w, std::uint64_t n, const hold_config& c) {
    w.bytes += n;
    return held_bytes.fetch_add(n, std::memory_order_relaxed) + n <= c.max_bytes;
}

void hold_queue::leave(held_write& w) noexcept {
    // Taken out once: prev/next of a write not in the list are null and it is not head_.
    if (!w.prev && !w.next && head_ != &w) return;
    if (w.prev)
        w.prev->next = w.next;
    else
        head_ = w.next;
    if (w.next)
        w.next->prev = w.prev;
    else
        tail_ = w.prev;
    w.prev = w.next = nullptr;
    --size_;
    held_count.fetch_sub(1, std::memory_order_relaxed);
    held_bytes.fetch_sub(w.bytes, std::memory_order_relaxed);
}

void hold_queue::start_release(worker_context& ctx) {
    if (releasing_) return;
    releasing_ = true;
    net::co_spawn(ctx.executor(), release_loop(ctx), net::detached);
}

net::awaitable<void> hold_queue::release_loop(worker_context& ctx) {
    // Runs only while something is held. While the gate keeps writes out it looks every
    // 50 ms; once they are let in it wakes the oldest waiting write, then waits one
    // release interval: release_rate / workers per second on each worker.
    net::steady_timer timer(ctx.executor());
    while (size_ > 0 && !ctx.stopping()) {
        const auto& g = ctx.gate();
        auto wait = std::chrono::steady_clock::duration(std::chrono::milliseconds(50));
        if (writes_open(g.record)) {
            if (held_write* w = oldest_waiting()) {
                w->st = held_write::state::released;
                if (w->wake) w->wake->cancel();
                const double workers = std::max(1u, g.cfg->workers);
                wait = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(workers / g.cfg->hold.release_rate));
            }
        }
        timer.expires_after(wait);
        co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    }
    releasing_ = false;
}

template <class Stream>
net::awaitable<session_base::step> client_session<Stream>::hold_write() {
    auto& st = ctx_.stats();
    auto& q = ctx_.holds();
    st.held_writes.inc();
    net::steady_timer wake(client_.get_executor());
    held_write w;
    w.arrived = std::chrono::steady_clock::now();
    w.wake = &wake;
    w.bytes = buf_.size();  // read with the head (the head itself is consumed)
    const policy::decision refusal{policy::verdict::refuse_write, true};

    enum class end { released, timed_out, over_quota, gone, regate };
    end why = end::timed_out;
    policy::decision d = refusal;
    if (!q.admit(w, cfg_->hold)) {
        why = end::over_quota;
    } else {
        q.start_release(ctx_);
        // The body bytes still to come, as far as body_cap: a declared length says how
        // many there are; a chunked body is read to the cap.
        const auto remaining = req_->content_length_remaining();
        for (;;) {
            if (w.st == held_write::state::released) {
                d = judge(held_underscores_);
                if (d.what == policy::verdict::forward) {
                    why = end::released;
                    break;
                }
                // The gate closed again before it left: it keeps its place.
                if (d.what == policy::verdict::refuse_write && gate_->record.hold) {
                    w.st = held_write::state::waiting;
                    q.start_release(ctx_);
                } else {
                    why = end::regate;
                    break;
                }
            }
            if (w.st == held_write::state::over_quota) {
                why = end::over_quota;
                break;
            }
            const auto now = std::chrono::steady_clock::now();
            const auto deadline = w.arrived + cfg_->hold.max_wait;
            if (now >= deadline || ctx_.stopping()) {
                why = end::timed_out;
                break;
            }
            refresh_gate();
            if (!gate_->record.hold && !writes_open(gate_->record)) {
                // The freeze that held it is over without writes opening (an operator
                // set another mode): the gate's answer for that mode.
                d = judge(held_underscores_);
                why = d.what == policy::verdict::forward ? end::released : end::regate;
                break;
            }
            if (peer_gone(tcp_->native_handle())) {
                why = end::gone;
                break;
            }
            wake.expires_at(std::min(deadline, now + slice));
            const std::uint64_t wanted =
                remaining ? std::min<std::uint64_t>(*remaining, cfg_->hold.body_cap) : cfg_->hold.body_cap;
            if (!is_tls && !req_->is_done() && w.bytes < wanted) {
                using namespace net::experimental::awaitable_operators;
                auto which = co_await (wake.async_wait(use_tuple) ||
                                       tcp_->async_wait(tcp::socket::wait_read, use_tuple));
                if (which.index() == 1) {
                    error_code ec;
                    const std::size_t room = std::min<std::uint64_t>(wanted - w.bytes, read_chunk);
                    const std::size_t n = tcp_->read_some(buf_.prepare(room), ec);
                    if (ec == net::error::would_block || ec == net::error::try_again) continue;
                    if (ec || n == 0) {
                        why = end::gone;
                        break;
                    }
                    buf_.commit(n);
                    if (!q.add_bytes(w, n, cfg_->hold)) {
                        w.st = held_write::state::over_quota;
                        continue;
                    }
                }
            } else {
                co_await wake.async_wait(use_tuple);
            }
        }
        q.leave(w);
    }
    w.wake = nullptr;

    switch (why) {
    case end::released:
        st.held_released.inc();
        begin_in_flight(d.write);
        {
            auto up = co_await forward_request();
            if (up.failure) co_return co_await fail_upstream(*up.failure);
            if (!up.conn) co_return up.next;
            co_return co_await relay_response(std::move(up.conn), up.request_complete);
        }
    case end::gone:
        // Never forwarded, never answered: there is nobody to answer.
        st.held_dropped.inc();
        co_return step::close;
    case end::over_quota:
        st.held_over_quota.inc();
        co_return co_await gate_reply(refusal);
    case end::timed_out:
        st.held_timed_out.inc();
        refresh_gate();
        co_return co_await gate_reply(refusal);
    case end::regate:
        // Not a degrade: the write left the hold by the operator's change of mode. It is
        // counted with the timed-out ones so that every held write ends in one counter.
        st.held_timed_out.inc();
        co_return co_await gate_reply(d);
    }
    co_return step::close;
}

template net::awaitable<session_base::step> client_session<tcp::socket>::hold_write();
template net::awaitable<session_base::step> client_session<tls_client_stream>::hold_write();

}  // namespace maintgate::proxy
