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
    void set_https_port(std::uint16_t port) noexcept { https_port_ = port; }
    std::uint16_t https_port() const noexcept { return https_port_; }

    // Starts the accept loops and the pool sweeper; the caller then runs ioc().
    void start();

    // Stops accepting, closes idle keep-alive connections and idle upstream connections;
    // sessions in the middle of a request finish it and then close. Thread-safe (posts).
    void begin_shutdown();

    net::io_context& ioc() noexcept { return ioc_; }
    upstream_pool& pool() noexcept { return pool_; }
    bool stopping() const noexcept { return stopping_; }
    unsigned id() const noexcept { return id_; }

    // The gate as this worker sees it. Read once per request on the worker's thread; a
    // reply that writes from the snapshot's buffers holds gate_shared() across the write.
    const gate_snapshot& gate() const noexcept { return *gate_; }
    const gate_snapshot* gate_ptr() const noexcept { return gate_.get(); }
    std::shared_ptr<const gate_snapshot> gate_shared() const noexcept { return gate_; }

    // This worker's counters: written only on its thread, read by the admin thread.
    worker_stats& stats() noexcept { return stats_; }
    const worker_stats& stats() const noexcept { return stats_; }

    // Hands this worker a new snapshot. Thread-safe (posts); `done` runs on the worker's
    // thread once requests decided from now on see it.
    void publish_gate(std::shared_ptr<const gate_snapshot> s, std::function<void()> done = {});

    // The session list, for graceful shutdown; touched only on this worker's thread.
    void link(session_base* s) noexcept;
    void unlink(session_base* s) noexcept;

private:
    net::awaitable<void> accept_loop(tcp::acceptor& acceptor, std::size_t listener);
    // Every tick, cancels the waits of sessions past their deadline; ends once the
    // worker is stopping and has no session left.
    net::awaitable<void> deadline_tick();

    unsigned id_;
    // One thread runs it and every socket is used only from that thread, so the reactor
    // needs no lock per operation; posts from other threads (publish_gate, shutdown)
    // still go through the scheduler's lock.
    net::io_context ioc_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
    upstream_pool pool_;
    std::vector<tcp::acceptor> acceptors_;
    std::vector<std::size_t> acceptor_listener_;  // acceptors_[i] serves listeners[acceptor_listener_[i]]
    std::uint16_t https_port_ = 0;
    std::atomic<std::size_t>& connections_;
    bool stopping_ = false;
    session_base* sessions_ = nullptr;
    std::shared_ptr<const gate_snapshot> gate_;
    worker_stats stats_;
};

}  // namespace maintgate::proxy
