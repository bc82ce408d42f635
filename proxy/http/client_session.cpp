#include "proxy/http/client_session.hpp"

#include <arpa/inet.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include "policy/accept.hpp"
#include "policy/ascii.hpp"
#include "proxy/http/forward.hpp"
#include "proxy/http/http_date.hpp"
#include "proxy/admin/gate_state.hpp"
#include "proxy/http/local_reply.hpp"
#include "proxy/logging.hpp"
#include "proxy/net/worker.hpp"

namespace maintgate::proxy {
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t body_buffer_size = 16 * 1024;
constexpr std::size_t read_chunk = 16 * 1024;
constexpr std::size_t response_header_limit = 64 * 1024;
constexpr auto linger_deadline = std::chrono::seconds(2);
// A keep-alive connection idle this long gives its buffers back (release_buffers); one
// that sends its next request sooner reuses them without allocating.
constexpr auto idle_release = std::chrono::milliseconds(250);
// The most of a refused request's body read and thrown away to keep the connection.
constexpr std::uint64_t max_drain = 1024 * 1024;

// The fields apps read a method override from (policy::request_view::method_override).
constexpr std::array<std::string_view, 3> method_override_fields{"X-HTTP-Method-Override", "X-HTTP-Method",
                                                                 "X-Method-Override"};

// Only requests that are safe by definition and carry no body are worth a second try:
// a write must never reach the app twice.
bool retryable_method(http::verb v) noexcept {
    return v == http::verb::get || v == http::verb::head || v == http::verb::options;
}

bool is_timeout(const error_code& ec) noexcept { return ec == beast::error::timeout; }

// The upstream closed or reset the connection before sending a single byte back. Over
// TLS a close without close_notify (stream_truncated) is the usual way a server drops
// an idle connection.
bool nothing_came_back(const error_code& ec, bool got_some) noexcept {
    if (got_some) return false;
    return ec == http::error::end_of_stream || ec == net::error::connection_reset ||
           ec == net::error::eof || ec == net::error::broken_pipe || ec == ssl::error::stream_truncated;
}

policy::ip_address to_ip(const tcp::endpoint& ep) noexcept {
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
std::string_view mode_field(policy::mode m) noexcept {
    switch (m) {
    case policy::mode::open: return {};
    case policy::mode::read_only: return "X-Maintgate-Mode: read-only\r\n";
    case policy::mode::maintenance: return "X-Maintgate-Mode: maintenance\r\n";
    }
    return {};
}

void log_upstream_error(const char* what, const error_code& ec) {
    spdlog::warn("upstream {}: {}", what, ec.message());
}

}  // namespace

template <class Stream>
Stream client_session<Stream>::make_stream(tcp::socket socket, const tls_handle& tls) {
    if constexpr (is_tls)
        return Stream(std::move(socket), tls->context());
    else
        return Stream(std::move(socket));
}

template <class Stream>
client_session<Stream>::client_session(worker& w, tcp::socket socket, std::size_t listener, tls_handle tls,
                                       const tcp::endpoint& peer)
    : w_(w), gate_(w.gate_shared()), cfg_(gate_->cfg.get()), listener_(listener), tls_(std::move(tls)),
      client_(make_stream(std::move(socket), tls_)), buf_(cfg_->limits.max_header_size + 2 * read_chunk) {
    tcp_ = &beast::get_lowest_layer(client_);
    // The plain paths try reads and writes before waiting (read_plain, send_plain). The
    // accept loop hands over sockets that are non-blocking already (accept4).
    if (!tcp_->socket().non_blocking()) {
        error_code ec;
        tcp_->socket().non_blocking(true, ec);
    }
    peer_ = to_ip(peer);
    std::string text = peer_.to_string();  // once per connection
    peer_len_ = std::min(text.size(), sizeof peer_text_);
    std::memcpy(peer_text_, text.data(), peer_len_);
    w_.link(this);
}

template <class Stream>
client_session<Stream>::~client_session() {
    end_in_flight();
    w_.unlink(this);
}

template <class Stream>
void client_session<Stream>::refresh_gate() noexcept {
    // A pointer comparison per request; the reference count is touched only when the
    // worker has a new snapshot (a mode change or a reload), not per request.
    if (w_.gate_ptr() != gate_.get()) {
        gate_ = w_.gate_shared();
        cfg_ = gate_->cfg.get();
    }
}

template <class Stream>
void client_session<Stream>::begin_in_flight(bool write) noexcept {
    auto& st = w_.stats();
    in_flight_ = write ? in_flight::write : in_flight::read;
    (write ? st.writes_started : st.reads_started).inc();
}

template <class Stream>
void client_session<Stream>::end_in_flight() noexcept {
    auto& st = w_.stats();
    switch (in_flight_) {
    case in_flight::none: return;
    case in_flight::read: st.reads_finished.inc(); break;
    case in_flight::write:
        // The time first, then the count: whoever sees the count drop sees this time.
        st.last_write_done_ms.store(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch()).count(),
                                    std::memory_order_release);
        st.writes_finished.inc();
        break;
    }
    in_flight_ = in_flight::none;
}

template <class Stream>
void client_session<Stream>::release_buffers() noexcept {
    buf_.shrink_to_fit();  // empty here, so this frees it
    ubuf_.clear();
    ubuf_.shrink_to_fit();
    req_.reset();
    res_.reset();
    body_buf_.reset();
    std::string().swap(head_out_);
}

template <class Stream>
char* client_session<Stream>::body_buffer() {
    if (!body_buf_) body_buf_ = std::make_unique<char[]>(body_buffer_size);
    return body_buf_.get();
}

template <class Stream>
std::string_view client_session<Stream>::hsts_field() const noexcept {
    if constexpr (is_tls) {
        // A reload keeps the listeners' number and order, so the index stays valid.
        if (listener_ < cfg_->listeners.size()) return cfg_->listeners[listener_].hsts_field;
    }
    return {};
}

template <class Stream>
net::awaitable<void> client_session<Stream>::run() {
    if constexpr (is_tls) {
        if (!co_await handshake()) {
            error_code ignored;
            tcp_->socket().close(ignored);
            co_return;
        }
    }
    for (;;) {
        step s = co_await read_head();
        if (s == step::next_request) s = co_await serve();
        if (s == step::next_request) continue;
        if (s == step::linger_close)
            co_await linger_close();
        else if constexpr (is_tls)
            co_await send_close_notify();
        break;
    }
    error_code ignored;
    tcp_->socket().close(ignored);
}

template <class Stream>
net::awaitable<bool> client_session<Stream>::handshake() {
    if constexpr (is_tls) {
        // The whole handshake, from its first byte, runs under the header deadline: a
        // client that opens a connection and stalls is dropped as a slow head would be.
        arm(tcp_->socket(), cfg_->timeouts.header);
        auto [ec, n] = co_await tcp_->async_read_some(buf_.prepare(read_chunk), use_tuple);
        if (ec) {
            disarm();
            co_return false;
        }
        buf_.commit(n);
        const auto first = *static_cast<const unsigned char*>(buf_.data().data());
        // Every TLS connection starts with a handshake record (0x16). Anything else is
        // not TLS: a plain HTTP request (a method starts with a capital letter) is told
        // where it went wrong, as nginx does; other bytes are just closed.
        if (first != 0x16) {
            spdlog::debug("{}: not TLS on an HTTPS listener", std::string_view(peer_text_, peer_len_));
            if (first >= 'A' && first <= 'Z') {
                constexpr std::string_view head =
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    "Content-Length: 62\r\nCache-Control: no-store\r\nConnection: close\r\n";
                constexpr std::string_view body =
                    "\r\nThis port speaks HTTPS: send the request over TLS (https://).\n";
                static_assert(body.size() == 2 + 62);
                std::array<net::const_buffer, 3> bufs{net::buffer(head), net::buffer(date_field()), net::buffer(body)};
                arm(tcp_->socket(), cfg_->timeouts.send);
                auto [wec, wn] = co_await net::async_write(*tcp_, bufs, use_tuple);
                disarm();
                if (!wec) co_await drain_and_close(64 * 1024);
            }
            disarm();
            co_return false;
        }
        auto [hec, used] = co_await client_.async_handshake(ssl::stream_base::server, buf_.data(), use_tuple);
        disarm();
        // The engine took every byte read so far; what follows arrives decrypted.
        buf_.consume(buf_.size());
        if (hec) {
            spdlog::debug("{}: TLS handshake failed: {}", std::string_view(peer_text_, peer_len_), hec.message());
            co_return false;
        }
    }
    co_return true;
}

template <class Stream>
net::awaitable<void> client_session<Stream>::send_close_notify() {
    if constexpr (is_tls) {
        // close_notify tells the client that what it got is all there is (not a cut).
        // One way only: marking the client's close_notify as received makes the shutdown
        // finish once ours is written, instead of waiting for a client that may never
        // answer. A dead connection fails at once; a stalled one within linger_deadline.
        SSL* ssl = client_.native_handle();
        SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_RECEIVED_SHUTDOWN);
        arm(tcp_->socket(), linger_deadline);
        co_await client_.async_shutdown(use_tuple);
        disarm();
    }
    co_return;
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
        arm_at(tcp_->socket(), deadline);
        auto [ec, n] = co_await client_.async_read_some(b, use_tuple);
        disarm();
        co_return std::tuple{checked(ec), n};
    } else {
        co_return co_await read_plain(tcp_->socket(), b, deadline);
    }
}

template <class Stream>
net::awaitable<std::tuple<error_code, std::size_t>> client_session<Stream>::read_upstream(upstream_conn& conn,
                                                                                         net::mutable_buffer b) {
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
        arm(tcp_->socket(), cfg_->timeouts.send);
        auto [ec, n] = co_await net::async_write(client_, b, use_tuple);
        disarm();
        co_return checked(ec);
    } else {
        co_return co_await send_plain(tcp_->socket(), b, cfg_->timeouts.send);
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
net::awaitable<error_code> client_session<Stream>::read_parsed(upstream_conn* conn, beast::flat_buffer& b,
                                                               http::basic_parser<isRequest>& p) {
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
        const std::size_t room = std::min(b.max_size() - b.size(), read_chunk);
        if (room == 0) co_return http::error::buffer_overflow;
        auto [ec, n] = conn ? co_await read_upstream(*conn, b.prepare(room))
                            : co_await read_client(b.prepare(room),
                                                   std::chrono::steady_clock::now() + cfg_->timeouts.body_idle);
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

template <class Stream>
net::awaitable<session_base::step> client_session<Stream>::reply(unsigned status, const char* detail) {
    status_ = status;
    spdlog::debug("{} {}: {}", std::string_view(peer_text_, peer_len_), status, detail);
    auto parts = local_reply(status);
    // hsts_field() is empty on plain HTTP.
    std::array<net::const_buffer, 5> bufs{net::buffer(parts.head), net::buffer(date_field()),
                                          net::buffer(mode_field(gate_->record.mode)), net::buffer(hsts_field()),
                                          net::buffer(parts.rest)};
    co_await send_client(bufs);
    log_request();
    co_return step::linger_close;
}

template <class Stream>
net::awaitable<session_base::step> client_session<Stream>::reply_upstream_error(unsigned status,
                                                                         const char* detail) {
    w_.stats().upstream_errors.inc();
    if (!cfg_->gate.upstream_down_page) co_return co_await reply(status, detail);
    spdlog::debug("{}; serving the maintenance page", detail);
    auto fmt = policy::choose_format(req_->get()[http::field::accept]);
    co_return co_await write_rendered(gate_->page[static_cast<std::size_t>(fmt)], 503);
}

template <class Stream>
net::awaitable<session_base::step> client_session<Stream>::gate_reply(const policy::decision& d) {
    // The session holds gate_ across the write, so the rendered buffers stay alive
    // even if the worker gets a new snapshot meanwhile.
    const gate_snapshot* hold = gate_.get();
    auto& req = req_->get();
    auto fmt = static_cast<std::size_t>(policy::choose_format(req[http::field::accept]));
    switch (d.what) {
    case policy::verdict::refuse_write:
        w_.stats().refused_writes.inc();
        co_return co_await write_rendered(hold->refusal[fmt], 503);
    case policy::verdict::maintenance:
        co_return co_await write_rendered(hold->page[fmt], 503);
    case policy::verdict::status:
        co_return co_await write_rendered(hold->status, 200);
    case policy::verdict::grant_bypass: {
        // The secret URL: a signed, expiring cookie, then back to the app. Rare, so the
        // response is built here.
        const auto& g = cfg_->gate.policy;
        auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
        rendered_reply r;
        r.head = "HTTP/1.1 302 Found\r\nLocation: /\r\nSet-Cookie: " + g.bypass_cookie + "=" +
                 g.signer.make_cookie_value(now + g.bypass_cookie_ttl.count()) +
                 "; Path=/; Max-Age=" + std::to_string(g.bypass_cookie_ttl.count()) +
                 // Over HTTPS the cookie must never travel in clear text afterwards.
                 (is_tls ? "; Secure" : "") +
                 "; HttpOnly; SameSite=Lax\r\nCache-Control: no-store\r\nContent-Length: 0\r\n";
        spdlog::info("gate: bypass cookie granted to {}", std::string_view(peer_text_, peer_len_));
        co_return co_await write_rendered(r, 302);
    }
    case policy::verdict::deny_method:
    case policy::verdict::forward:
        break;
    }
    co_return co_await reply(405, "method refused");
}

template <class Stream>
net::awaitable<session_base::step> client_session<Stream>::write_rendered(const rendered_reply& r,
                                                                   unsigned status) {
    status_ = status;
    // Answer first, then read what is left of the body, as nginx does: the client gets
    // its refusal at once, and a modest body is drained so the connection stays usable.
    bool drain = !req_->is_done();
    bool keep = client_keep_alive_ && !w_.stopping() && (!drain || drainable());
    std::string_view connection = !keep ? "Connection: close\r\n"
                                  : client_version_ == 10 ? "Connection: keep-alive\r\n"
                                                          : "";
    bool with_body = req_->get().method() != http::verb::head;
    std::array<net::const_buffer, 6> bufs{net::buffer(r.head), net::buffer(date_field()),
                                          net::buffer(hsts_field()), net::buffer(connection),
                                          net::buffer(std::string_view("\r\n")),
                                          net::buffer(r.body.data(), with_body ? r.body.size() : 0)};
    const error_code ec = co_await send_client(bufs);
    if (with_body) body_bytes_sent_ = r.body.size();
    log_request();
    if (ec) co_return step::close;
    if (keep && drain) keep = co_await discard_body();
    co_return keep ? step::next_request : step::linger_close;
}

template <class Stream>
bool client_session<Stream>::drainable() const noexcept {
    // A client that sent Expect: 100-continue will not send its body after a final
    // status, so there is nothing to wait for.
    const auto& req = req_->get();
    if (req.find(http::field::expect) != req.end()) return false;
    // A declared length says up front whether draining is worth it; a chunked body is
    // tried and given up on past the same bound.
    auto cl = req_->content_length_remaining();
    return !cl || *cl <= max_drain;
}

template <class Stream>
net::awaitable<bool> client_session<Stream>::discard_body() {
    auto& body = req_->get().body();
    char* buf = body_buffer();
    std::size_t drained = 0;
    while (!req_->is_done()) {
        body.data = buf;
        body.size = body_buffer_size;
        auto ec = co_await read_parsed(nullptr, buf_, *req_);
        if (ec == http::error::need_buffer) ec = {};
        if (ec) co_return false;
        drained += body_buffer_size - body.size;
        if (drained > max_drain) co_return false;
    }
    co_return true;
}

template <class Stream>
net::awaitable<void> client_session<Stream>::linger_close() {
    if constexpr (is_tls) co_await send_close_notify();
    co_await drain_and_close(1024 * 1024);
}

template <class Stream>
net::awaitable<void> client_session<Stream>::drain_and_close(std::size_t limit) {
    // Closing a socket with unread request bytes makes the kernel send a RST, which can
    // destroy the reply before the client reads it. Half-close, then drain briefly. The
    // bytes are thrown away, so over TLS they are read undecrypted from the TCP layer.
    error_code ec;
    tcp_->socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) co_return;
    // One deadline for the whole drain.
    arm(tcp_->socket(), linger_deadline);
    std::size_t drained = 0;
    char sink[4096];
    while (drained < limit) {
        auto [rec, n] = co_await tcp_->async_read_some(net::buffer(sink), use_tuple);
        if (rec) break;
        drained += n;
    }
    disarm();
}

template <class Stream>
net::awaitable<session_base::step> client_session<Stream>::read_head() {
    if (buf_.size() == 0) {
        // Between requests: wait for the first byte under the keep-alive timeout. The
        // header deadline starts with that byte.
        if (w_.stopping()) co_return step::close;
        refresh_gate();  // this request's limits and timeouts
        idle_ = true;
        const auto now = std::chrono::steady_clock::now();
        const auto idle_deadline = now + cfg_->timeouts.keepalive;
        auto [ec, n] = co_await read_client(buf_.prepare(read_chunk),
                                            is_tls ? idle_deadline : std::min(idle_deadline, now + idle_release));
        if constexpr (!is_tls) {
            if (ec == beast::error::timeout && std::chrono::steady_clock::now() < idle_deadline) {
                // Idle for a while: thousands of such connections may be open, so this one
                // gives its buffers back and waits for readability holding none (TLS
                // cannot: its engine may hold bytes the socket no longer shows).
                release_buffers();
                arm_at(tcp_->socket(), idle_deadline);
                auto [wec] = co_await tcp_->socket().async_wait(tcp::socket::wait_read, use_tuple);
                disarm();
                ec = checked(wec);
                if (!ec) {
                    auto got = co_await read_client(buf_.prepare(read_chunk), idle_deadline);
                    ec = std::get<0>(got);
                    n = std::get<1>(got);
                }
            }
        }
        idle_ = false;
        if (ec) co_return step::close;
        buf_.commit(n);
    }
    // After refresh_gate: a reload may have freed the config the last request used.
    const auto& limits = cfg_->limits;
    started_ = std::chrono::steady_clock::now();
    status_ = 0;
    body_bytes_sent_ = 0;
    req_.reset();

    // One deadline for the whole head: a client trickling bytes (slowloris) cannot keep
    // the connection forever by sending a byte just before each read times out.
    const auto head_deadline = started_ + cfg_->timeouts.header;
    head_limits hl{limits.max_header_size, limits.max_headers, limits.max_uri_size};
    head_scan scan;
    for (;;) {
        auto data = buf_.data();
        scan = scan_request_head(
            std::string_view(static_cast<const char*>(data.data()), data.size()), hl);
        if (scan.error) co_return co_await reply(scan.error.status, scan.error.detail);
        if (scan.end) break;
        std::size_t room = buf_.max_size() - buf_.size();
        if (room == 0) co_return co_await reply(431, "request head too large");
        auto [ec, n] = co_await read_client(buf_.prepare(std::min(room, read_chunk)), head_deadline);
        if (ec) {
            if (is_timeout(ec)) spdlog::debug("client header timeout");
            co_return step::close;
        }
        buf_.commit(n);
    }
    buf_.consume(scan.skip);

    req_.emplace();
    req_->header_limit(static_cast<std::uint32_t>(limits.max_header_size + 4));
    // Beast takes any 64-bit chunk size when there is no body limit; past 2^63 (where
    // Content-Length stops too) it is an attack on someone's arithmetic.
    req_->on_chunk_header(chunk_check_);
    if (limits.max_body_size)
        req_->body_limit(limits.max_body_size);
    else
        req_->body_limit(boost::none);
    error_code ec;
    auto head = buf_.data();
    std::size_t used = req_->put(net::buffer(head.data(), scan.end - scan.skip), ec);
    // Beast checks a declared Content-Length against body_limit while parsing the head.
    if (ec == http::error::body_limit) co_return co_await reply(413, "declared body larger than max_body_size");
    if (ec || !req_->is_header_done()) co_return co_await reply(400, "request head rejected by parser");
    buf_.consume(used);
    req_->eager(true);

    auto& req = req_->get();
    if (auto bad = check_request_fields(req)) co_return co_await reply(bad.status, bad.detail);
    co_return step::next_request;
}

template <class Stream>
net::awaitable<std::optional<session_base::step>> client_session<Stream>::redirect_to_https() {
    const auto& l = cfg_->listeners[listener_];
    auto& req = req_->get();
    // The path and query as the client asked; an absolute-form target names the host too.
    std::string_view target = req.target();
    if (policy::istarts_with(target, "http://") || policy::istarts_with(target, "https://")) {
        target.remove_prefix(target.find("://") + 3);
        const auto path = target.find_first_of("/?");
        target = path == std::string_view::npos ? std::string_view{} : target.substr(path);
    }
    if (target.empty() || target.front() != '/') target = "/";  // "*" or an authority alone
    const std::string_view path = target.substr(0, target.find('?'));
    for (const auto& except : l.redirect_except) {
        if (path == except || (except.back() == '/' && path.starts_with(except))) co_return std::nullopt;
    }

    // Rare next to the proxied traffic (a browser follows it once, then remembers it), so
    // building the reply here is fine.
    std::string location;
    if (!l.redirect_to.empty()) {
        location = l.redirect_to;
    } else {
        auto host = req.find(http::field::host);
        if (host == req.end() || host->value().empty())
            co_return co_await reply(400, "no Host to redirect to HTTPS");
        // The name without the client's port: the HTTPS listener has its own.
        std::string_view name = host->value();
        if (name.front() == '[')
            name = name.substr(0, name.find(']') + 1);
        else
            name = name.substr(0, name.find(':'));
        location = "https://" + std::string(name);
        if (const auto port = w_.https_port(); port != 443) location += ":" + std::to_string(port);
    }
    location += target;

    // 301 may turn a POST into a GET in browsers; 308 keeps the method and body.
    const bool read = retryable_method(req.method());
    rendered_reply r;
    r.body = "This site is served over HTTPS: " + location + "\n";
    r.head = std::string(read ? "HTTP/1.1 301 Moved Permanently" : "HTTP/1.1 308 Permanent Redirect") +
             "\r\nLocation: " + location + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
             std::to_string(r.body.size()) + "\r\n";
    co_return co_await write_rendered(r, read ? 301 : 308);
}

template <class Stream>
net::awaitable<session_base::step> client_session<Stream>::serve() {
    auto& req = req_->get();
    client_version_ = req.version();
    client_keep_alive_ = req_->keep_alive();
    // Before anything reads the fields: a dropped X_HTTP_Method_Override is seen by
    // neither the gate nor the app.
    const auto underscore_policy = cfg_->forwarding.underscores_in_headers;
    const auto underscores = apply_underscore_policy(req, underscore_policy);
    if (underscores.error) co_return co_await reply(underscores.error.status, underscores.error.detail);

    if constexpr (!is_tls) {
        // Before the gate: a redirect listener serves nothing but redirects, and the gate
        // applies on the HTTPS side.
        if (cfg_->listeners[listener_].redirect_https) {
            if (auto s = co_await redirect_to_https()) co_return *s;
        }
    }

    // The gate decides before anything is forwarded. The mode is read once, here; the
    // headers only operators use are looked up only while the gate is closed.
    {
        // No suspension between reading the snapshot, deciding and counting the request
        // in flight: once a worker has taken a new snapshot (and acknowledged it), every
        // write forwarded under the old one is already counted, which is what lets
        // freeze wait for exactly those.
        refresh_gate();
        const gate_snapshot& gate = *gate_;
        gate_mode_ = gate.record.mode;
        policy::request_view rv;
        rv.method = req.method_string();
        rv.target = req.target();
        if (auto it = req.find(http::field::host); it != req.end())
            rv.host = it->value();
        else  // HTTP/1.0 absolute-form: the host the request goes upstream with
            rv.host = target_authority(req.target());
        rv.peer = peer_;
        upgrade_ = wants_upgrade(req);  // looked up once: the gate and the exchange both need it
        rv.upgrade = upgrade_;
        // An override can make a read a write, or keep a write from matching a rule
        // that does not list it; with neither possible, no lookup.
        if (policy::classify_method(rv.method) == policy::method_class::read || !cfg_->gate.policy.rules.empty()) {
            for (std::string_view name : method_override_fields)
                if (auto it = req.find(name); it != req.end()) {
                    rv.method_override = it->value();
                    break;
                }
            // Forwarded underscore names reach a CGI, WSGI or PHP app as the dashed ones:
            // an override spelled that way counts too, and a write wins over a read.
            if (underscores.fields != 0 && underscore_policy == underscores_policy::forward) {
                for (std::string_view name : method_override_fields) {
                    const std::string_view alias = find_underscore_alias(req, name);
                    if (!alias.empty() && (rv.method_override.empty() ||
                                           policy::classify_method(rv.method_override) == policy::method_class::read))
                        rv.method_override = alias;
                }
            }
        }
        if (gate_mode_ != policy::mode::open) {
            if (auto it = req.find(http::field::cookie); it != req.end()) rv.cookie = it->value();
            if (auto it = req.find(cfg_->gate.policy.bypass_header); it != req.end())
                rv.bypass_header = it->value();
            rv.now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
        }
        auto d = policy::decide(gate.record.view(), cfg_->gate.policy, rv);
        w_.stats().decisions[static_cast<std::size_t>(gate_mode_)][static_cast<std::size_t>(d.what)].inc();
        if (d.what != policy::verdict::forward) co_return co_await gate_reply(d);
        begin_in_flight(d.write);
    }
    // However serve() ends (replied, failed, client gone), the request is no longer in flight.
    struct in_flight_guard {
        client_session* s;
        ~in_flight_guard() { s->end_in_flight(); }
    } guard{this};

    head_request_ = req.method() == http::verb::head;
    auto expect_field = req.find(http::field::expect);  // one at most (check_request_head)
    bool has_expect = expect_field != req.end();
    expect_ = has_expect && !expect_field->value().empty() && !req_->is_done() && client_version_ >= 11;
    // Waiting for a TLS upstream's 100 cannot be told apart from TLS records with no
    // data in them (TLS 1.3 session tickets arrive after the handshake), so the proxy
    // answers 100 itself, as nginx always does, and sends the body on.
    continue_locally_ = expect_ && w_.pool().tls();
    if (continue_locally_) expect_ = false;
    sent_100_ = false;

    forward_context ctx{peer_, std::string_view(peer_text_, peer_len_), is_tls,
                        cfg_->forwarding.trusted_proxies, cfg_->forwarding.via,
                        cfg_->upstream.host_header};
    request_head_options ho;
    ho.upgrade = upgrade_;
    ho.chunked = req_->chunked();
    ho.drop_expect = has_expect && !expect_;  // no body follows
    if (!cfg_->gate.policy.bypass_secret.empty()) ho.drop_field = cfg_->gate.policy.bypass_header;
    std::string default_host;
    if (req.find(http::field::host) == req.end()) {
        // HTTP/1.0 allows a request without Host; the upstream hop is HTTP/1.1, which
        // does not. Rare, so building the value here is fine.
        const auto& h = cfg_->upstream.host;
        bool v6 = h.find(':') != std::string::npos;
        default_host = (v6 ? "[" + h + "]" : h) + ":" + std::to_string(cfg_->upstream.port);
        ho.default_host = default_host;
    }
    render_request_head(req, ctx, ho, head_out_);
    // Trailers are judged against the head: any framing field they add is refused.
    if (req_->chunked()) trailer_baseline_ = take_trailer_baseline(req);

    bool retryable = retryable_method(req.method()) && req_->is_done() && !upgrade_;
    for (int tries = 0;; ++tries) {
        // A retry always uses a fresh connection: the pooled ones may all be stale.
        upstream_conn_ptr conn = tries == 0 ? w_.pool().take_idle() : nullptr;
        if (!conn) {
            auto [ec, fresh, tls_failed] = co_await w_.pool().connect();
            if (ec) {
                if (tls_failed)  // the pool logged why
                    co_return co_await reply_upstream_error(502, "upstream TLS handshake failed");
                log_upstream_error("connect", ec);
                co_return co_await reply_upstream_error(is_timeout(ec) ? 504 : 502, "upstream connect failed");
            }
            conn = std::move(fresh);
        }
        bool reused = conn->uses > 0;
        auto [a, s] = co_await exchange(std::move(conn), retryable && reused && tries == 0);
        if (a == attempt::retry) {
            spdlog::debug("retrying an idempotent request on a fresh upstream connection");
            continue;
        }
        co_return s;
    }
}

template <class Stream>
net::awaitable<std::tuple<session_base::attempt, session_base::step>>
client_session<Stream>::exchange(upstream_conn_ptr conn, bool may_retry) {
    ubuf_.clear();
    // Beast reads into a dynamic buffer only as far as its spare capacity (at least 512
    // bytes): without room reserved here, a 64 KiB response took 130 reads and writes.
    ubuf_.reserve(read_chunk);
    ++conn->uses;
    bool head_sent = false;

    if (expect_) {
        // The client waits for "100 Continue" before sending its body. Send the head
        // alone and let the upstream decide, but only for expect_continue: an upstream
        // that ignores Expect must not hold the body (and the client) forever.
        auto ec = co_await send_upstream(*conn, net::buffer(head_out_));
        head_sent = true;
        if (ec) {
            log_upstream_error("write", ec);
            co_return std::tuple{attempt::done,
                                 co_await reply_upstream_error(is_timeout(ec) ? 504 : 502, "upstream write failed")};
        }
        using namespace net::experimental::awaitable_operators;
        net::steady_timer timer(client_.get_executor());
        timer.expires_after(cfg_->timeouts.expect_continue);
        auto which = co_await (
            conn->stream.socket().async_wait(tcp::socket::wait_read, use_tuple) ||
            timer.async_wait(use_tuple));
        if (which.index() == 0) {
            auto [client_ok, ec2] = co_await read_response_head(*conn, true);
            if (!client_ok) co_return std::tuple{attempt::done, step::close};
            if (ec2) {
                log_upstream_error("read", ec2);
                co_return std::tuple{attempt::done, co_await reply_upstream_error(is_timeout(ec2) ? 504 : 502,
                                                                                   "upstream read failed")};
            }
            if (res_->get().result_int() != 100) {
                // A final answer before the body: relay it; the body was never sent, so
                // neither connection can carry another request.
                client_keep_alive_ = false;
                co_return std::tuple{attempt::done, co_await relay_response(std::move(conn), false)};
            }
        }
        if (!sent_100_) {
            sent_100_ = true;
            if (!co_await write_client(net::buffer(continue_reply)))
                co_return std::tuple{attempt::done, step::close};
        }
    }

    if (continue_locally_ && !sent_100_) {
        // Only now that the upstream is connected: had it failed, the 502 would have
        // been the answer, and the client need not send its body for nothing.
        sent_100_ = true;
        if (!co_await write_client(net::buffer(continue_reply))) co_return std::tuple{attempt::done, step::close};
    }
    auto [sent, sent_ec] = co_await send_request_body(*conn, head_sent);
    switch (sent) {
    case body_result::ok:
        break;
    case body_result::client_gone:
        co_return std::tuple{attempt::done, step::close};
    case body_result::too_large:
        co_return std::tuple{attempt::done, co_await reply(413, "body larger than max_body_size")};
    case body_result::malformed:
        co_return std::tuple{attempt::done, co_await reply(400, "malformed request body")};
    case body_result::bad_trailer:
        co_return std::tuple{attempt::done, co_await reply(400, "framing field in trailers")};
    case body_result::upstream_failed:
        if (may_retry) co_return std::tuple{attempt::retry, step::close};
        log_upstream_error("write", sent_ec);
        co_return std::tuple{attempt::done,
                             co_await reply_upstream_error(is_timeout(sent_ec) ? 504 : 502, "upstream write failed")};
    }

    auto [client_ok, ec] = co_await read_response_head(*conn, false);
    if (!client_ok) co_return std::tuple{attempt::done, step::close};
    if (ec) {
        bool got_some = ubuf_.size() > 0 || (res_ && res_->got_some());
        if (may_retry && nothing_came_back(ec, got_some))
            co_return std::tuple{attempt::retry, step::close};
        log_upstream_error("read", ec);
        co_return std::tuple{attempt::done,
                             co_await reply_upstream_error(is_timeout(ec) ? 504 : 502, "upstream read failed")};
    }
    if (res_->get().result() == http::status::switching_protocols) {
        if (!upgrade_)
            co_return std::tuple{attempt::done, co_await reply(502, "101 without an upgrade request")};
        co_return std::tuple{attempt::done, co_await tunnel(std::move(conn))};
    }
    co_return std::tuple{attempt::done, co_await relay_response(std::move(conn), true)};
}

template <class Stream>
net::awaitable<std::tuple<session_base::body_result, error_code>>
client_session<Stream>::send_request_body(upstream_conn& conn, bool head_sent) {
    auto& body = req_->get().body();
    const bool chunked = req_->chunked();
    char* buf = req_->is_done() ? nullptr : body_buffer();
    for (;;) {
        std::size_t n = 0;
        if (!req_->is_done()) {
            body.data = buf;
            body.size = body_buffer_size;
            auto ec = co_await read_parsed(nullptr, buf_, *req_);
            if (ec == http::error::need_buffer) ec = {};
            if (ec == http::error::body_limit) co_return std::tuple{body_result::too_large, ec};
            if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
                ec.category() != http::make_error_code(http::error::bad_chunk).category()) {
                if (ec) co_return std::tuple{body_result::client_gone, ec};  // gone or stalled
            } else {
                // Any other parser error: a bad chunk line, an over-long chunk extension
                // (buffer_overflow), a bad trailer line.
                co_return std::tuple{body_result::malformed, ec};
            }
            n = body_buffer_size - body.size;
            // A read may parse only a chunk header: nothing to send yet.
            if (n == 0 && !req_->is_done()) continue;
            if (req_->is_done() && chunked && check_trailers(req_->get(), trailer_baseline_)) {
                // Trailers that try to reframe or reroute the request: the upstream must
                // never see it complete, so the last chunk is not sent.
                co_return std::tuple{body_result::bad_trailer, error_code{}};
            }
        }
        const bool last = req_->is_done();
        // The head goes with the first body bytes, and the last chunk with the last
        // ones: one write each time, however the body is framed.
        body_frame frame(chunked, n, last);
        std::array<net::const_buffer, 4> bufs{net::buffer(head_sent ? std::string_view{} : std::string_view(head_out_)),
                                              frame.prefix(), net::buffer(buf, n), frame.suffix()};
        if (auto ec = co_await send_upstream(conn, bufs)) co_return std::tuple{body_result::upstream_failed, ec};
        head_sent = true;
        if (last) co_return std::tuple{body_result::ok, error_code{}};
    }
}

template <class Stream>
net::awaitable<std::tuple<bool, error_code>> client_session<Stream>::read_response_head(
    upstream_conn& conn, bool stop_at_100) {
    for (;;) {
        res_.emplace();
        res_->header_limit(response_header_limit);
        res_->body_limit(boost::none);
        if (head_request_) res_->skip(true);
        // A parser that is not eager stops after the head.
        if (auto ec = co_await read_parsed(&conn, ubuf_, *res_)) co_return std::tuple{true, ec};
        unsigned code = res_->get().result_int();
        if (code < 100 || code >= 200 || code == 101) co_return std::tuple{true, error_code{}};
        if (code == 100) {
            if (stop_at_100) co_return std::tuple{true, error_code{}};
            // A 100 after we already told the client to go on, or one nobody asked
            // for, is dropped: the client has no use for it.
            continue;
        }
        // Other interim responses (103 Early Hints) go to HTTP/1.1 clients as they are.
        if (client_version_ >= 11) {
            std::string head;  // rare: an allocation is fine
            render_response_head(res_->get(), {.via = false}, head);
            if (!co_await write_client(net::buffer(head))) co_return std::tuple{false, error_code{}};
        }
    }
}

template <class Stream>
net::awaitable<session_base::step> client_session<Stream>::relay_response(upstream_conn_ptr conn,
                                                                   bool request_complete) {
    auto& res = res_->get();
    if (auto bad = check_response_fields(res)) {
        spdlog::warn("upstream response refused: {}", bad.detail);
        w_.stats().upstream_errors.inc();
        co_return co_await reply(502, bad.detail);
    }
    status_ = res.result_int();
    w_.stats().upstream_responses.inc();
    if (status_ >= 500) w_.stats().upstream_5xx.inc();
    bool upstream_keep_alive = res_->keep_alive();
    bool no_body = head_request_ || res_->is_done();

    bool keep_alive = client_keep_alive_ && !w_.stopping();
    response_head_options ho;
    ho.via = cfg_->forwarding.via;
    // A HEAD response describes the GET's framing without a body: a chunked one says so.
    ho.chunked = head_request_ && res_->chunked();
    // A chunked or close-delimited upstream body: an HTTP/1.1 client gets it chunked
    // (so the connection can stay open), an HTTP/1.0 client close-delimited.
    const bool chunk_it = !no_body && !res_->content_length() && client_version_ >= 11;
    if (chunk_it) ho.chunked = true;
    if (!no_body && !res_->content_length() && client_version_ < 11) keep_alive = false;
    if (gate_mode_ != policy::mode::open) ho.mode = policy::to_string(gate_mode_);  // even for operators
    if constexpr (is_tls) {
        if (auto f = hsts_field(); !f.empty()) {
            constexpr std::string_view name = "Strict-Transport-Security: ";
            ho.hsts = f.substr(name.size(), f.size() - name.size() - 2);
        }
    }
    ho.connection = !keep_alive ? "close" : client_version_ == 10 ? "keep-alive" : "";
    render_response_head(res, ho, head_out_);

    auto& body = res.body();
    res_->eager(true);  // a chunk's header and data in one step
    bool complete = false;
    if (no_body) {
        if (co_await send_client(net::buffer(head_out_))) co_return step::close;
        complete = true;
    } else {
        char* buf = body_buffer();
        bool wrote_any = false;
        for (;;) {
            std::size_t n = 0;
            if (!res_->is_done()) {
                body.data = buf;
                body.size = body_buffer_size;
                auto ec = co_await read_parsed(conn.get(), ubuf_, *res_);
                if (ec == http::error::need_buffer) ec = {};
                if (ec) {
                    log_upstream_error("body", ec);
                    // Before any byte reached the client an error page is still honest;
                    // after that, only an incomplete response is.
                    w_.stats().upstream_errors.inc();
                    if (!wrote_any) co_return co_await reply(is_timeout(ec) ? 504 : 502, "upstream body failed");
                    co_return step::close;
                }
                n = body_buffer_size - body.size;
                if (n == 0 && !res_->is_done()) continue;  // see send_request_body
                body_bytes_sent_ += n;
            }
            const bool last = res_->is_done();
            body_frame frame(chunk_it, n, last);
            std::array<net::const_buffer, 4> bufs{
                net::buffer(wrote_any ? std::string_view{} : std::string_view(head_out_)), frame.prefix(),
                net::buffer(buf, n), frame.suffix()};
            if (co_await send_client(bufs)) co_return step::close;
            wrote_any = true;
            if (last) break;
        }
        complete = true;
    }
    log_request();

    if (complete && request_complete && upstream_keep_alive && ubuf_.size() == 0 && !upgrade_ &&
        req_->is_done())
        w_.pool().put_back(std::move(conn));
    if (!keep_alive) co_return step::linger_close;
    if (!req_->is_done()) co_return step::linger_close;  // unread body: framing lost
    co_return step::next_request;
}

template <class Stream>
net::awaitable<session_base::step> client_session<Stream>::tunnel(upstream_conn_ptr conn) {
    // The gate may have closed while this upgrade waited for its 101: the worker cut the
    // tunnels open when it took the closing snapshot, and this one was not open yet.
    // Decided again here, on the worker's thread with no suspension before in_tunnel_ is
    // set, so no closing snapshot can fall between this check and the worker's cut: the
    // client gets the new state's 503 and the upstream side is dropped.
    if (w_.gate_ptr() != gate_.get() && gate_closes(gate_->record, w_.gate().record)) {
        error_code ignored;
        conn->stream.socket().close(ignored);
        end_in_flight();
        refresh_gate();
        const auto fmt = static_cast<std::size_t>(policy::choose_format(req_->get()[http::field::accept]));
        if (gate_->record.mode == policy::mode::maintenance) co_return co_await write_rendered(gate_->page[fmt], 503);
        w_.stats().refused_writes.inc();
        co_return co_await write_rendered(gate_->refusal[fmt], 503);
    }
    auto& res = res_->get();
    status_ = 101;
    // The upgrade request is answered; what follows is another protocol, which the write
    // fence does not wait for (a WebSocket may stay open for hours): the worker cuts
    // tunnels instead when the gate closes.
    end_in_flight();
    in_tunnel_ = true;
    std::string head;  // once per tunnel
    render_response_head(res, {.via = cfg_->forwarding.via, .upgrade = true}, head);
    if (!co_await write_client(net::buffer(head))) co_return step::close;
    log_request();

    // From here on the connection carries another protocol: splice bytes both ways,
    // through TLS where a side speaks it. One idle deadline covers both directions, so a
    // chatty side keeps a quiet one alive.
    disarm();  // the watchdog below bounds idleness
    auto& us = conn->stream;
    struct state {
        std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
        int open = 2;
        net::steady_timer watchdog;
    } st{std::chrono::steady_clock::now(), 2, net::steady_timer(client_.get_executor())};

    auto close_both = [&] {
        error_code ignored;
        tcp_->socket().close(ignored);
        us.socket().close(ignored);
    };
    // A plain TCP side can be told "no more from this direction" and keep sending the
    // other way; a TLS side cannot without a close_notify exchange that would block the
    // other pump, so the tunnel ends there instead.
    auto pass_half_close = [&](auto& to) {
        error_code ignored;
        using to_type = std::decay_t<decltype(to)>;
        if constexpr (std::is_same_v<to_type, beast::tcp_stream>) {
            to.socket().shutdown(tcp::socket::shutdown_send, ignored);
        } else if constexpr (std::is_same_v<to_type, upstream_stream>) {
            if (to.is_tls())
                close_both();
            else
                to.socket().shutdown(tcp::socket::shutdown_send, ignored);
        } else {
            close_both();
        }
    };
    auto pump = [&](auto& from, auto& to, beast::flat_buffer& pending, char* buf) -> net::awaitable<void> {
        if (pending.size()) {
            auto [ec, n] = co_await net::async_write(to, pending.data(), use_tuple);
            pending.consume(pending.size());
            if (ec) close_both();
        }
        for (;;) {
            auto [ec, n] = co_await from.async_read_some(net::buffer(buf, body_buffer_size), use_tuple);
            if (ec) {
                // A TLS peer ends with close_notify (eof) or, often, with a bare TCP FIN
                // (stream_truncated): either way it is done sending.
                if (ec == net::error::eof || ec == ssl::error::stream_truncated)
                    pass_half_close(to);
                else
                    close_both();
                break;
            }
            st.last = std::chrono::steady_clock::now();
            auto [wec, m] = co_await net::async_write(to, net::buffer(buf, n), use_tuple);
            if (wec) {
                close_both();
                break;
            }
            st.last = std::chrono::steady_clock::now();
        }
        if (--st.open == 0) st.watchdog.cancel();
    };
    auto watchdog = [&]() -> net::awaitable<void> {
        while (st.open > 0) {
            st.watchdog.expires_at(st.last + cfg_->timeouts.tunnel_idle);
            co_await st.watchdog.async_wait(use_tuple);
            if (st.open == 0) break;
            if (std::chrono::steady_clock::now() - st.last >= cfg_->timeouts.tunnel_idle) {
                close_both();
                break;
            }
        }
    };
    auto up_buf = std::make_unique<char[]>(body_buffer_size);
    using namespace net::experimental::awaitable_operators;
    co_await (pump(client_, us, buf_, body_buffer()) && pump(us, client_, ubuf_, up_buf.get()) && watchdog());
    in_tunnel_ = false;
    buf_.clear();
    co_return step::close;
}

template <class Stream>
void client_session<Stream>::log_request() noexcept {
    if (!access_log_enabled() || !req_) return;
    const auto& req = req_->get();
    auto field = [&](http::field f) {
        auto it = req.find(f);
        return it == req.end() ? std::string_view{} : std::string_view(it->value());
    };
    access_record r;
    r.peer = std::string_view(peer_text_, peer_len_);
    r.method = req.method_string();
    r.target = req.target();
    r.referer = field(http::field::referer);
    r.user_agent = field(http::field::user_agent);
    r.version = client_version_;
    r.status = status_;
    r.bytes_sent = body_bytes_sent_;
    r.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started_);
    log_access(r);
}

template class client_session<beast::tcp_stream>;
template class client_session<tls_client_stream>;

}  // namespace maintgate::proxy
