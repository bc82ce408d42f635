#include "proxy/net/upstream_pool.hpp"

#include <sys/socket.h>

#include <spdlog/spdlog.h>

namespace maintgate::proxy {
namespace {

std::string endpoint_text(const tcp::endpoint& ep) {
    auto a = ep.address();
    if (a.is_v6()) return "[" + a.to_string() + "]:" + std::to_string(ep.port());
    return a.to_string() + ":" + std::to_string(ep.port());
}

}  // namespace

net::awaitable<std::tuple<error_code, tcp::endpoint>> connect_any(
    beast::tcp_stream& s, const std::vector<tcp::endpoint>& endpoints) {
    error_code ec = net::error::host_not_found;
    for (const auto& ep : endpoints) {
        std::tie(ec) = co_await s.async_connect(ep, net::as_tuple(net::use_awaitable));
        if (!ec) co_return std::tuple{ec, ep};
        if (ec == beast::error::timeout) break;  // the one deadline covers every address
        error_code ignored;
        s.socket().close(ignored);  // a failed connect leaves the socket unusable
    }
    co_return std::tuple{ec, tcp::endpoint{}};
}

upstream_stream::upstream_stream(const net::any_io_executor& ex, const tls_client* tls) : client_(tls) {
    if (tls)
        tls_.emplace(ex, tls->context());
    else
        plain_.emplace(ex);
}

net::awaitable<error_code> upstream_stream::handshake(std::string& detail) {
    if (!tls_) co_return error_code{};
    if (!client_->prepare(tls_->native_handle())) {
        detail = "cannot set the TLS server name " + client_->server_name();
        co_return net::error::no_memory;
    }
    auto [ec] = co_await tls_->async_handshake(ssl::stream_base::client, net::as_tuple(net::use_awaitable));
    if (ec) detail = client_->describe_failure(tls_->native_handle(), ec);
    co_return ec;
}

upstream_pool::upstream_pool(net::any_io_executor ex, const upstream_config& cfg,
                             std::vector<tcp::endpoint> endpoints)
    : ex_(std::move(ex)), cfg_(cfg), endpoints_(std::move(endpoints)), sweep_timer_(ex_) {
    idle_.reserve(cfg_.max_idle);
}

bool upstream_pool::still_open(upstream_conn& c) noexcept {
    // An idle HTTP/1.1 connection must have nothing to read. EOF means the upstream
    // closed it (keep-alive timeout, restart); data means it broke protocol. Either way a
    // request sent on it could be lost, so only "would block" counts as alive.
    char byte;
    // A TLS connection's close_notify or reset shows here as bytes or EOF too.
    auto fd = c.stream.socket().native_handle();
    ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

upstream_conn_ptr upstream_pool::take_idle() noexcept {
    auto now = std::chrono::steady_clock::now();
    while (!idle_.empty()) {
        upstream_conn_ptr c = std::move(idle_.back());
        idle_.pop_back();
        if (now - c->idle_since < cfg_.idle_timeout && still_open(*c)) return c;
        error_code ignored;
        c->stream.socket().close(ignored);
    }
    return nullptr;
}

net::awaitable<std::tuple<error_code, upstream_conn_ptr, bool>> upstream_pool::connect() {
    auto c = std::make_unique<upstream_conn>(ex_, cfg_.tls_context.get());
    // One deadline for connect and handshake: a stalled TLS upstream fails as fast as a
    // silent one.
    c->stream.expires_after(cfg_.connect_timeout);
    auto [ec, ep] = co_await connect_any(c->stream.tcp(), endpoints_);
    if (ec) co_return std::tuple{ec, nullptr, false};
    // From here the session bounds each wait with its own deadline, and its plain-TCP
    // paths try reads and writes before waiting.
    c->stream.expires_never();
    error_code ignored;
    c->stream.socket().set_option(tcp::no_delay(true), ignored);
    c->stream.socket().non_blocking(true, ignored);
    if (c->stream.is_tls()) {
        std::string detail;
        if (auto hec = co_await c->stream.handshake(detail)) {
            if (hec == beast::error::timeout) co_return std::tuple{hec, nullptr, false};
            spdlog::warn("upstream {}: TLS handshake with {} failed: {}", cfg_.url, endpoint_text(ep),
                         detail);
            co_return std::tuple{hec, nullptr, true};
        }
    }
    co_return std::tuple{error_code{}, std::move(c), false};
}

void upstream_pool::put_back(upstream_conn_ptr c) noexcept {
    if (closed_ || idle_.size() >= cfg_.max_idle) {
        error_code ignored;
        c->stream.socket().close(ignored);
        return;
    }
    c->stream.expires_never();
    c->idle_since = std::chrono::steady_clock::now();
    idle_.push_back(std::move(c));
}

void upstream_pool::close_all() noexcept {
    closed_ = true;
    sweep_timer_.cancel();
    for (auto& c : idle_) {
        error_code ignored;
        c->stream.socket().close(ignored);
    }
    idle_.clear();
}

net::awaitable<void> upstream_pool::sweep() {
    auto period = std::max<duration>(cfg_.idle_timeout / 2, duration{100});
    while (!closed_) {
        sweep_timer_.expires_after(period);
        co_await sweep_timer_.async_wait(net::as_tuple(net::use_awaitable));
        if (closed_) break;  // cancelled by close_all(); otherwise the timer simply fired
        auto now = std::chrono::steady_clock::now();
        // idle_ is ordered by idle_since (LIFO), so the expired ones are at the front.
        std::size_t expired = 0;
        while (expired < idle_.size() && now - idle_[expired]->idle_since >= cfg_.idle_timeout) {
            error_code ignored;
            idle_[expired]->stream.socket().close(ignored);
            ++expired;
        }
        idle_.erase(idle_.begin(), idle_.begin() + static_cast<std::ptrdiff_t>(expired));
    }
}

}  // namespace maintgate::proxy
