#pragma once
// The I/O and bookkeeping every step of client_session shares: the constants, the reads
// and writes under the session's one deadline, and the small per-request helpers.
// Included only by the session's own files (client_session.cpp and the step files);
// client_session.cpp instantiates the members defined here, and the small ones are
// inline so that each step calls them as before, without a call across files.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>

#include <spdlog/spdlog.h>

#include "proxy/http/client_session.hpp"

namespace maintgate::proxy {
namespace session_io {

inline constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
// Bodies move in 64 KiB steps (one pool slab): a quarter of the reads and writes per
// MiB that 16 KiB took, as HAProxy's default bufsize-sized transfers.
inline constexpr std::size_t body_buffer_size = buffer_pool::large_size;
inline constexpr std::size_t read_chunk = 16 * 1024;  // a head's reads
inline constexpr std::size_t body_read_chunk = buffer_pool::large_size;  // a body's reads
inline constexpr std::size_t response_header_limit = 64 * 1024;
inline constexpr auto linger_deadline = std::chrono::seconds(2);
// The most of a refused request's body read and thrown away to keep the connection.
inline constexpr std::uint64_t max_drain = 1024 * 1024;

// Only requests that are safe by definition and carry no body are worth a second try:
// a write must never reach the app twice.
inline bool retryable_method(http::verb v) noexcept {
    return v == http::verb::get || v == http::verb::head || v == http::verb::options;
}

inline bool is_timeout(const error_code& ec) noexcept { return ec == beast::error::timeout; }

// The upstream closed or reset the connection before sending a single byte back. Over
// TLS a close without close_notify (stream_truncated) is the usual way a server drops
// an idle connection.
inline bool nothing_came_back(const error_code& ec, bool got_some) noexcept {
    if (got_some) return false;
    return ec == http::error::end_of_stream || ec == net::error::connection_reset || ec == net::error::eof ||
           ec == net::error::broken_pipe || ec == ssl::error::stream_truncated;
}

inline policy::ip_address to_ip(const tcp::endpoint& ep) noexcept {
    auto a = ep.address();
    if (a.is_v4()) return policy::ip_from_v4(a.to_v4().to_uint());
    auto v6 = a.to_v6();
    if (v6.is_v4_mapped())
        return policy::ip_from_v4(net::ip::make_address_v4(net::ip::v4_mapped, v6).to_uint());
    return policy::ip_from_v6(v6.to_bytes());
}

// The bytes around one piece of a body on its way out: none for a body whose length
// the head states, chunk framing when the proxy chunks it. The last chunk rides with
// the last piece, so a body that arrives in one read leaves in one write.
class body_frame {
public:
    body_frame(bool chunked, std::size_t n, bool last) noexcept {
        if (!chunked) return;
        if (n > 0) {
            char digits[16];
            std::size_t len = 0;
            for (std::size_t v = n; v; v >>= 4) digits[len++] = "0123456789abcdef"[v & 0xf];
            for (std::size_t i = 0; i < len; ++i) prefix_[i] = digits[len - 1 - i];
            prefix_[len] = '\r';
            prefix_[len + 1] = '\n';
            prefix_len_ = len + 2;
            suffix_ = last ? std::string_view("\r\n0\r\n\r\n") : std::string_view("\r\n");
        } else if (last) {
            suffix_ = "0\r\n\r\n";
        }
    }
    net::const_buffer prefix() const noexcept { return {prefix_, prefix_len_}; }
    net::const_buffer suffix() const noexcept { return net::buffer(suffix_); }

private:
    char prefix_[18];
    std::size_t prefix_len_ = 0;
    std::string_view suffix_;
};

// Every response says the gate's mode while it is not open, local errors included.
inline std::string_view mode_field(policy::mode m) noexcept {
    switch (m) {
    case policy::mode::open: return {};
    case policy::mode::read_only: return "X-Maintgate-Mode: read-only\r\n";
    case policy::mode::maintenance: return "X-Maintgate-Mode: maintenance\r\n";
    }
    return {};
}

inline void log_upstream_error(const char* what, const error_code& ec) {
    spdlog::warn("upstream {}: {}", what, ec.message());
}

}  // namespace session_io
using namespace session_io;

template <class Stream>
inline void client_session<Stream>::refresh_gate() noexcept {
    // A pointer comparison per request; the reference count is touched only when the
    // worker has a new snapshot (a mode change or a reload), not per request.
    if (ctx_.gate_ptr() != gate_.get()) {
        gate_ = ctx_.gate_shared();
        cfg_ = gate_->cfg.get();
    }
}

template <class Stream>
inline void client_session<Stream>::begin_in_flight(bool write) noexcept {
    auto& st = ctx_.stats();
    in_flight_ = write ? in_flight::write : in_flight::read;
    (write ? st.writes_started : st.reads_started).inc();
}

template <class Stream>
inline void client_session<Stream>::end_in_flight() noexcept {
    auto& st = ctx_.stats();
    switch (in_flight_) {
    case in_flight::none: return;
    case in_flight::read: st.reads_finished.inc(); break;
    case in_flight::write:
        // The time first, then the count: whoever sees the count drop sees this time.
        st.last_write_done_ms.store(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count(),
                                    std::memory_order_release);
        st.writes_finished.inc();
        break;
    }
    in_flight_ = in_flight::none;
}

template <class Stream>
inline char* client_session<Stream>::body_buffer() {
    if (!body_buf_) body_buf_ = ctx_.buffers().take(body_buffer_size);
    return body_buf_;
}

template <class Stream>
inline std::string_view client_session<Stream>::hsts_field() const noexcept {
    if constexpr (is_tls) {
        // A reload keeps the listeners' number and order, so the index stays valid.
        if (listener_ < cfg_->listeners.size()) return cfg_->listeners[listener_].hsts_field;
    }
    return {};
}

template <class Stream>
net::awaitable<bool> client_session<Stream>::write_client(net::const_buffer b) {
    co_return !co_await send_client(b);
}

template <class Stream>
net::awaitable<std::tuple<error_code, std::size_t>> client_session<Stream>::read_plain(
    tcp::socket& s, net::mutable_buffer b, std::chrono::steady_clock::time_point deadline) {
    // Not a read tried here and then a wait for readiness: Asio's wait re-registers the
    // descriptor with epoll each time. Its own read tries at once only when the last
    // readiness event may have more behind it, else waits for the next event and reads
    // in the reactor, as nginx does.
    arm_at(s, deadline);
    auto [ec, n] = co_await s.async_read_some(b, use_tuple);
    disarm();
    co_return std::tuple{checked(ec), n};
}

template <class Stream>
template <class Buffers>
net::awaitable<error_code> client_session<Stream>::send_plain(tcp::socket& s, const Buffers& b,
                                                              std::chrono::steady_clock::duration timeout) {
    error_code ec;
    const std::size_t n = s.write_some(b, ec);  // the socket is non-blocking
    if (!ec && n == net::buffer_size(b)) co_return error_code{};
    if (ec && ec != net::error::would_block) co_return ec;
    // The socket's send buffer is full (a large body, a slow reader): wait for room.
    beast::buffers_suffix<Buffers> rest(b);
    rest.consume(n);
    arm(s, timeout);
    auto [wec, m] = co_await net::async_write(s, rest, use_tuple);
    disarm();
    co_return checked(wec);
}

template <class Stream>
net::awaitable<std::tuple<error_code, std::size_t>> client_session<Stream>::read_client(
    net::mutable_buffer b, std::chrono::steady_clock::time_point deadline) {
    if constexpr (is_tls) {
        arm_at(*tcp_, deadline);
        auto [ec, n] = co_await client_.async_read_some(b, use_tuple);
        disarm();
        co_return std::tuple{checked(ec), n};
    } else {
        co_return co_await read_plain(*tcp_, b, deadline);
    }
}

template <class Stream>
net::awaitable<std::tuple<error_code, std::size_t>> client_session<Stream>::read_upstream(
    upstream_conn& conn, net::mutable_buffer b) {
    if (conn.stream.is_tls()) {
        arm(conn.stream.socket(), cfg_->upstream.response_timeout);
        auto [ec, n] = co_await conn.stream.async_read_some(b, use_tuple);
        disarm();
        co_return std::tuple{checked(ec), n};
    }
    co_return co_await read_plain(conn.stream.socket(), b,
                                  std::chrono::steady_clock::now() + cfg_->upstream.response_timeout);
}

template <class Stream>
template <class Buffers>
net::awaitable<error_code> client_session<Stream>::send_client(const Buffers& b) {
    if constexpr (is_tls) {
        arm(*tcp_, cfg_->timeouts.send);
        auto [ec, n] = co_await net::async_write(client_, b, use_tuple);
        disarm();
        co_return checked(ec);
    } else {
        co_return co_await send_plain(*tcp_, b, cfg_->timeouts.send);
    }
}

template <class Stream>
template <class Buffers>
net::awaitable<error_code> client_session<Stream>::send_upstream(upstream_conn& conn, const Buffers& b) {
    if (conn.stream.is_tls()) {
        arm(conn.stream.socket(), cfg_->upstream.response_timeout);
        auto [ec, n] = co_await net::async_write(conn.stream, b, use_tuple);
        disarm();
        co_return checked(ec);
    }
    co_return co_await send_plain(conn.stream.socket(), b, cfg_->upstream.response_timeout);
}

template <class Stream>
template <bool isRequest>
net::awaitable<error_code> client_session<Stream>::read_parsed(upstream_conn* conn, session_buffer& b,
                                                               head_parser<isRequest>& p) {
    for (;;) {
        if (b.size() > 0) {
            error_code ec;
            const std::size_t used = p.put(b.data(), ec);
            b.consume(used);
            if (ec != http::error::need_more) co_return ec;  // progress, need_buffer, or a parse error
            // An eager parser says need_more after taking a part of a chunk: those bytes
            // are in the body buffer already and go out before the next read (which may
            // fail: a truncated body still reaches the client as far as it came).
            if (used > 0 && p.is_header_done()) co_return error_code{};
        }
        // Body reads fill one large slab (what is buffered already counts against it).
        const std::size_t want = !p.is_header_done()          ? read_chunk
                                 : b.size() < body_read_chunk ? body_read_chunk - b.size()
                                                              : read_chunk;
        const std::size_t room = std::min(b.max_size() - b.size(), want);
        if (room == 0) co_return http::error::buffer_overflow;
        auto [ec, n] = conn ? co_await read_upstream(*conn, b.prepare(room))
                            : co_await read_client(b.prepare(room), std::chrono::steady_clock::now() +
                                                                        cfg_->timeouts.body_idle);
        b.commit(n);
        if (ec == net::error::eof) {
            // What the parser has may be complete only at the end of the stream (a body
            // delimited by the close); otherwise the message was cut.
            if (!p.got_some()) co_return http::error::end_of_stream;
            error_code eof_ec;
            p.put_eof(eof_ec);
            co_return eof_ec;
        }
        if (ec) co_return ec;
    }
}

}  // namespace maintgate::proxy
