#pragma once
// Idle upstream connections of one worker. Single-threaded by construction (one pool per
// worker's io_context), so it needs no lock; allocation happens per new connection only.
#include <chrono>
#include <memory>
#include <tuple>
#include <vector>

#include "proxy/config.hpp"
#include "proxy/net.hpp"

namespace maintgate::proxy {

struct upstream_conn {
    explicit upstream_conn(const net::any_io_executor& ex) : stream(ex) {}
    beast::tcp_stream stream;
    std::chrono::steady_clock::time_point idle_since{};
    unsigned uses = 0;  // requests sent on it so far; > 0 means "reused" for retry decisions
};

using upstream_conn_ptr = std::unique_ptr<upstream_conn>;

class upstream_pool {
public:
    upstream_pool(net::any_io_executor ex, const upstream_config& cfg,
                  std::vector<tcp::endpoint> endpoints);

    // The most recently used idle connection that is still open, or nullptr. Connections
    // idle past idle_timeout, closed by the upstream, or holding unexpected bytes are
    // dropped on the way.
    upstream_conn_ptr take_idle() noexcept;

    // A new connection, within connect_timeout. error::timeout on time-out.
    net::awaitable<std::tuple<error_code, upstream_conn_ptr>> connect();

    // Returns a connection whose last exchange ended cleanly; kept when there is room.
    void put_back(upstream_conn_ptr c) noexcept;

    // Closes every idle connection and stops the sweeper (shutdown).
    void close_all() noexcept;

    // Periodically closes connections idle past idle_timeout, so an upstream is not left
    // holding sockets we will never use. Runs until close_all().
    net::awaitable<void> sweep();

    std::size_t idle_count() const noexcept { return idle_.size(); }

private:
    static bool still_open(upstream_conn& c) noexcept;

    net::any_io_executor ex_;
    const upstream_config cfg_;  // a copy: a reload may free the config it came from
    std::vector<tcp::endpoint> endpoints_;
    std::vector<upstream_conn_ptr> idle_;  // LIFO: the warmest connection first
    net::steady_timer sweep_timer_;
    bool closed_ = false;
};

}  // namespace maintgate::proxy
