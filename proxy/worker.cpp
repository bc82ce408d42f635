#include "proxy/worker.hpp"

#include <spdlog/spdlog.h>

#include "proxy/client_session.hpp"

namespace maintgate::proxy {

worker::worker(unsigned id, std::vector<tcp::endpoint> upstream, std::atomic<std::size_t>& connections,
               std::shared_ptr<const gate_snapshot> gate)
    : id_(id), pool_(ioc_.get_executor(), gate->cfg->upstream, std::move(upstream)), connections_(connections),
      gate_(std::move(gate)) {}

void worker::publish_gate(std::shared_ptr<const gate_snapshot> s, std::function<void()> done) {
    net::post(ioc_, [this, s = std::move(s), done = std::move(done)]() mutable {
        gate_ = std::move(s);
        if (done) done();
    });
}

void worker::start() {
    for (auto& a : acceptors_) net::co_spawn(ioc_, accept_loop(a), net::detached);
    net::co_spawn(ioc_, pool_.sweep(), net::detached);
}

void worker::begin_shutdown() {
    net::post(ioc_, [this] {
        stopping_ = true;
        for (auto& a : acceptors_) {
            error_code ignored;
            a.close(ignored);
        }
        for (client_session* s = sessions_; s; s = s->next) s->close_if_idle();
        pool_.close_all();
    });
}

void worker::link(client_session* s) noexcept {
    s->next = sessions_;
    if (sessions_) sessions_->prev = s;
    sessions_ = s;
}

void worker::unlink(client_session* s) noexcept {
    if (s->prev) s->prev->next = s->next;
    else sessions_ = s->next;
    if (s->next) s->next->prev = s->prev;
    s->prev = s->next = nullptr;
}

namespace {

// Out of file descriptors or memory: accepting again at once would spin. Pause briefly;
// connections that finish meanwhile give the descriptors back.
bool is_resource_exhaustion(const error_code& ec) noexcept {
    return ec == net::error::no_descriptors || ec == net::error::no_buffer_space ||
           ec == net::error::no_memory || ec.value() == ENFILE;
}

net::awaitable<void> serve_connection(worker& w, tcp::socket socket,
                                      std::atomic<std::size_t>& connections) {
    {
        client_session session(w, std::move(socket));
        co_await session.run();
    }
    connections.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace

net::awaitable<void> worker::accept_loop(tcp::acceptor& acceptor) {
    net::steady_timer pause(ioc_);
    auto last_warning = std::chrono::steady_clock::time_point{};
    // Under a connection flood, one warning every few seconds says enough.
    auto warn_now = [&] {
        auto now = std::chrono::steady_clock::now();
        if (now - last_warning < std::chrono::seconds(5)) return false;
        last_warning = now;
        return true;
    };
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
        if (stopping_ || ec == net::error::operation_aborted) break;
        if (ec) {
            if (is_resource_exhaustion(ec)) {
                if (warn_now()) spdlog::warn("accept: {}; pausing 100ms", ec.message());
                pause.expires_after(std::chrono::milliseconds(100));
                co_await pause.async_wait(net::as_tuple(net::use_awaitable));
            }
            continue;
        }
        const std::size_t max_connections = gate_->cfg->limits.max_connections;  // reloadable
        if (connections_.fetch_add(1, std::memory_order_relaxed) >= max_connections) {
            connections_.fetch_sub(1, std::memory_order_relaxed);
            if (warn_now())
                spdlog::warn("max_connections ({}) reached; closing new connections", max_connections);
            error_code ignored;
            socket.close(ignored);
            continue;
        }
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        net::co_spawn(ioc_, serve_connection(*this, std::move(socket), connections_), net::detached);
    }
}

}  // namespace maintgate::proxy
