#pragma once
// Idle upstream connections of one worker. Single-threaded by construction (one pool per
// worker's io_context), so it needs no lock; allocation happens per new connection only.
#include <chrono>
#include <memory>
#include <optional>
#include <tuple>
#include <vector>

#include <boost/beast/ssl/ssl_stream.hpp>

#include "proxy/config/config.hpp"
#include "proxy/net.hpp"
#include "proxy/net/tls.hpp"

namespace maintgate::proxy {

// The byte stream to the upstream: TCP, or TLS over TCP for an https:// upstream. Which
// one is fixed when the connection is made, and each I/O call branches on it once (no
// virtual call, no allocation), so the client session has one upstream type and the
// rest of the proxy does not care. Meets Beast's AsyncReadStream and AsyncWriteStream.
class upstream_stream {
public:
    using executor_type = net::any_io_executor;
    using tls_stream = beast::ssl_stream<beast::tcp_stream>;

    // tls: the upstream's client context, or nullptr for plain TCP.
    upstream_stream(const net::any_io_executor& ex, const tls_client* tls);

    executor_type get_executor() noexcept { return tcp().get_executor(); }

    // The TCP layer: deadlines (expires_after applies to every layer above it), the
    // socket, connect.
    beast::tcp_stream& tcp() noexcept { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }
    void expires_after(std::chrono::steady_clock::duration d) { tcp().expires_after(d); }
    void expires_never() { tcp().expires_never(); }
    tcp::socket& socket() noexcept { return tcp().socket(); }

    bool is_tls() const noexcept { return tls_.has_value(); }

    // After connect: the TLS handshake (SNI, certificate and name verification) under
    // the deadline already set; nothing for plain TCP. On failure, detail says why in
    // one line for the log.
    net::awaitable<error_code> handshake(std::string& detail);

    template <class MutableBufferSequence, class Token>
    auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
        return net::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto handler, const MutableBufferSequence& b) {
                if (tls_)
                    tls_->async_read_some(b, std::move(handler));
                else
                    plain_->async_read_some(b, std::move(handler));
            },
            token, buffers);
    }

    template <class ConstBufferSequence, class Token>
    auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
        return net::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto handler, const ConstBufferSequence& b) {
                if (tls_)
                    tls_->async_write_some(b, std::move(handler));
                else
                    plain_->async_write_some(b, std::move(handler));
            },
            token, buffers);
    }

private:
    const tls_client* client_;
    std::optional<beast::tcp_stream> plain_;
    std::optional<tls_stream> tls_;
};

struct upstream_conn {
    upstream_conn(const net::any_io_executor& ex, const tls_client* tls) : stream(ex, tls) {}
    upstream_stream stream;
    std::chrono::steady_clock::time_point idle_since{};
    unsigned uses = 0;  // requests sent on it so far; > 0 means "reused" for retry decisions
};

using upstream_conn_ptr = std::unique_ptr<upstream_conn>;

// Connects `s` to the first of `endpoints` that accepts, within the stream's deadline
// (error::timeout past it). The error otherwise is the last address's. Unlike Asio's
// range connect, which reports a socket it could not open (no descriptors left) as
// "Operation canceled", this says what happened: the log is what an operator reads.
net::awaitable<std::tuple<error_code, tcp::endpoint>> connect_any(
    beast::tcp_stream& s, const std::vector<tcp::endpoint>& endpoints);

class upstream_pool {
public:
    upstream_pool(net::any_io_executor ex, const upstream_config& cfg, std::vector<tcp::endpoint> endpoints);

    // The most recently used idle connection that is still open, or nullptr. Connections
    // idle past idle_timeout, closed by the upstream, or holding unexpected bytes are
    // dropped on the way.
    upstream_conn_ptr take_idle() noexcept;

    // A new connection, within connect_timeout (the TLS handshake included, for an
    // https:// upstream). error::timeout on time-out. The bool is true when the TLS
    // handshake failed (not timed out); that is logged here with its reason, such as a
    // certificate that did not verify, so the caller need not.
    net::awaitable<std::tuple<error_code, upstream_conn_ptr, bool>> connect();

    // The upstream speaks TLS.
    bool tls() const noexcept { return cfg_.tls_context != nullptr; }

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
