#include "proxy/http/client_session.hpp"

#include <arpa/inet.h>

#include <spdlog/spdlog.h>

#include "proxy/http/http_date.hpp"
#include "proxy/http/session_io.hpp"
#include "proxy/logging.hpp"
#include "proxy/net/worker_context.hpp"

namespace maintgate::proxy {

template <class Stream>
Stream client_session<Stream>::make_stream(tcp::socket socket, const tls_handle& tls) {
    if constexpr (is_tls)
        return Stream(std::move(socket), tls->context());
    else
        return Stream(std::move(socket));
}

template <class Stream>
client_session<Stream>::client_session(worker_context& ctx, tcp::socket socket, std::size_t listener,
                                       tls_handle tls, const tcp::endpoint& peer)
    : ctx_(ctx), gate_(ctx.gate_shared()), cfg_(gate_->cfg.get()), listener_(listener), tls_(std::move(tls)),
      client_(make_stream(std::move(socket), tls_)),
      buf_(cfg_->limits.max_header_size + 2 * read_chunk, pool_allocator<char>(ctx.buffers())),
      ubuf_(pool_allocator<char>(ctx.buffers())), req_(ctx.buffers()), res_(ctx.buffers()) {
    tcp_ = &beast::get_lowest_layer(client_);
    // The plain paths try reads and writes before waiting (read_plain, send_plain). The
    // accept loop hands over sockets that are non-blocking already (accept4).
    if (!tcp_->non_blocking()) {
        error_code ec;
        tcp_->non_blocking(true, ec);
    }
    peer_ = to_ip(peer);
    std::string text = peer_.to_string();  // once per connection
    peer_len_ = std::min(text.size(), sizeof peer_text_);
    std::memcpy(peer_text_, text.data(), peer_len_);
    ctx_.link(this);
}

template <class Stream>
client_session<Stream>::~client_session() {
    // A session torn down in the middle of a request (its coroutine destroyed with the
    // io_context) still ends it: the fence must not wait for a write that will never end.
    finish(step::close);
    ctx_.buffers().give(body_buf_, body_buffer_size);
    ctx_.buffers().give_string(head_out_);
    ctx_.unlink(this);
}

template <class Stream>
void client_session<Stream>::release_buffers() noexcept {
    // Each slab goes back to the worker's pool (a push on its free list, no free()).
    buf_.shrink_to_fit();  // empty here, so this gives it back
    ubuf_.clear();
    ubuf_.shrink_to_fit();
    req_.reset();
    res_.reset();
    ctx_.buffers().give(body_buf_, body_buffer_size);
    body_buf_ = nullptr;
    ctx_.buffers().give_string(head_out_);
}

template <class Stream>
net::awaitable<bool> client_session<Stream>::run() {
    if constexpr (is_tls) {
        if (!co_await handshake()) {
            error_code ignored;
            tcp_->close(ignored);
            co_return false;
        }
    }
    for (;;) {
        // The request's steps, sequenced here and nowhere else: each step answers its own
        // failures (a local reply, or a close) and says what comes next, and every exit
        // goes through finish(). Written out in this loop rather than in a coroutine of
        // its own so that a request creates no more coroutine frames than before the
        // split (each one past Asio's two-frame recycling cache is an allocation).
        if constexpr (!is_tls) {
            // A plain connection waits for its next request here, in this frame, not in
            // read_head's: idle, it holds the session, this frame and Asio's wait; idle
            // past park_after, not even this frame (the caller parks it).
            auto w = buf_.size() == 0 ? begin_idle_wait() : idle_wait::ready;
            while (w == idle_wait::waiting) {
                auto [ec] = co_await tcp_->async_wait(tcp::socket::wait_read, use_tuple);
                w = end_idle_wait(ec);
            }
            if (w == idle_wait::park) co_return true;
            if (w == idle_wait::closed) break;
        }
        step s = co_await read_head();
        if (s == step::next_request) {
            if (const local_answer a = decide(); a.what != local_answer::kind::none) {
                s = co_await answer(a);
            } else {
                auto up = co_await forward_request();
                if (up.failure)
                    s = co_await fail_upstream(*up.failure);
                else if (!up.conn)
                    s = up.next;
                else if (up.upgraded)
                    s = co_await tunnel(std::move(up.conn));
                else
                    s = co_await relay_response(std::move(up.conn), up.request_complete);
            }
        }
        s = finish(s);
        if (s == step::next_request) continue;
        if (s == step::linger_close)
            co_await linger_close();
        else if constexpr (is_tls)
            co_await send_close_notify();
        break;
    }
    error_code ignored;
    tcp_->close(ignored);
    co_return false;
}

template <class Stream>
net::awaitable<bool> client_session<Stream>::handshake() {
    if constexpr (is_tls) {
        // The whole handshake, from its first byte, runs under the header deadline: a
        // client that opens a connection and stalls is dropped as a slow head would be.
        arm(*tcp_, cfg_->timeouts.header);
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
                std::array<net::const_buffer, 3> bufs{net::buffer(head), net::buffer(date_field()),
                                                      net::buffer(body)};
                arm(*tcp_, cfg_->timeouts.send);
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
            spdlog::debug("{}: TLS handshake failed: {}", std::string_view(peer_text_, peer_len_),
                          hec.message());
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
        arm(*tcp_, linger_deadline);
        co_await client_.async_shutdown(use_tuple);
        disarm();
    }
    co_return;
}

template <class Stream>
session_base::step client_session<Stream>::finish(step s) noexcept {
    // A request is logged once its answer went out (reply, write_rendered,
    // relay_response and tunnel mark it), and not when the client went away first.
    if (answered_) {
        answered_ = false;
        log_request();
    }
    end_in_flight();
    if (banner_plan_ != banner_plan::none) [[unlikely]] {
        banner_plan_ = banner_plan::none;
        banner_.reset();
    }
    return s;
}

template <class Stream>
session_base::step client_session<Stream>::closing_step() const noexcept {
    // A client that sent Connection: close sends nothing after its request (RFC 9112,
    // 9.6); one that does anyway has its bytes buffered here or is misbehaving.
    if (req_ && !req_->keep_alive() && req_->is_done() && buf_.size() == 0) return step::close;
    return step::linger_close;
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
    tcp_->shutdown(tcp::socket::shutdown_send, ec);
    if (ec) co_return;
    // One deadline for the whole drain.
    arm(*tcp_, linger_deadline);
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
    r.elapsed =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started_);
    log_access(r);
}

template class client_session<tcp::socket>;
template class client_session<tls_client_stream>;

}  // namespace maintgate::proxy
