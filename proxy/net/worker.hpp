#pragma once
// One worker: an io_context run by one thread, its own acceptors (SO_REUSEPORT) and its
// own upstream pool. Nothing in here is shared with another worker except the connection
// count, so the data path takes no lock.
#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "proxy/config/config.hpp"
#include "proxy/admin/gate_state.hpp"
#include "proxy/net.hpp"
#include "proxy/net/stats.hpp"
#include "proxy/net/upstream_pool.hpp"
#include "proxy/net/worker_context.hpp"

namespace maintgate::proxy {

class session_base;

class worker {
public:
    // gate->cfg is the configuration the worker starts with; a reload replaces it by
    // publishing a snapshot with another. The upstream pool keeps the first one's
    // upstream settings (the upstream cannot change without a restart).
    worker(unsigned id, std::vector<tcp::endpoint> upstream, std::atomic<std::size_t>& connections,
           std::shared_ptr<const gate_snapshot> gate);

    // Adds an acceptor for config listener number `listener` (before start()). A
    // listener with a certificate serves HTTPS.
    void add_acceptor(tcp::acceptor a, std::size_t listener);

    // The port of the first HTTPS listener as bound (0 when there is none), for
    // `redirect_https = true`. Set before start().
    void set_https_port(std::uint16_t port) noexcept { ctx_.https_port_ = port; }
    void set_spool(spool::spool* s) noexcept { ctx_.spool_ = s; }
    std::uint16_t https_port() const noexcept { return ctx_.https_port(); }

    // Starts the accept loops and the pool sweeper; the caller then runs ioc().
    void start();

    // Stops accepting, closes idle keep-alive connections and idle upstream connections;
    // sessions in the middle of a request finish it and then close. Thread-safe (posts).
    void begin_shutdown();

    net::io_context& ioc() noexcept { return ioc_; }
    upstream_pool& pool() noexcept { return ctx_.pool(); }
    bool stopping() const noexcept { return ctx_.stopping(); }
    unsigned id() const noexcept { return id_; }

    // The gate as this worker sees it. Read once per request on the worker's thread; a
    // reply that writes from the snapshot's buffers holds gate_shared() across the write.
    const gate_snapshot& gate() const noexcept { return ctx_.gate(); }
    const gate_snapshot* gate_ptr() const noexcept { return ctx_.gate_ptr(); }
    std::shared_ptr<const gate_snapshot> gate_shared() const noexcept { return ctx_.gate_shared(); }

    // This worker's counters: written only on its thread, read by the admin thread.
    worker_stats& stats() noexcept { return ctx_.stats(); }
    const worker_stats& stats() const noexcept { return ctx_.stats(); }

    // What its sessions see of this worker (they are given this, never the worker).
    worker_context& context() noexcept { return ctx_; }

    // Hands this worker a new snapshot. Thread-safe (posts); `done` runs on the worker's
    // thread once requests decided from now on see it.
    void publish_gate(std::shared_ptr<const gate_snapshot> s, std::function<void()> done = {});

private:
    net::awaitable<void> accept_loop(tcp::acceptor& acceptor, std::size_t listener);
    // Every tick, cancels the waits of sessions past their deadline; ends once the
    // worker is stopping and has no session left.
    net::awaitable<void> deadline_tick();

    unsigned id_;
    // Before ioc_, so destroyed after it: the sessions a forced shutdown left in the
    // io_context give their buffers back to it as they die.
    buffer_pool buffers_;
    // One thread runs it and every socket is used only from that thread, so the reactor
    // needs no lock per operation; posts from other threads (publish_gate, shutdown)
    // still go through the scheduler's lock.
    net::io_context ioc_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
    // The pool, the gate snapshot, the counters, the session list: after ioc_, whose
    // executor the pool uses.
    worker_context ctx_;
    std::vector<tcp::acceptor> acceptors_;
    std::vector<std::size_t> acceptor_listener_;  // acceptors_[i] serves listeners[acceptor_listener_[i]]
    std::atomic<std::size_t>& connections_;
};

}  // namespace maintgate::proxy
