// The read_head step: waits for a request and parses its head.
//
// When it runs: first for every request. Between requests the first byte is waited for
// under timeouts.keepalive (nothing when the worker is stopping), with the worker's gate
// snapshot taken first, so that the request is read under its limits and timeouts. A
// plain connection waits in run()'s own frame (begin_idle_wait and end_idle_wait, here),
// so that read_head's frame is not alive while it idles: it gives its buffers back to
// the worker's pool at once and waits for readability holding none (an idle keep-alive
// connection costs its session, run()'s frame and Asio's wait); when bytes arrive it
// takes a 1 KiB slab, grown only when the head needs more. TLS cannot (its engine may
// hold bytes the socket does not show): it waits here, reading. From the first byte one
// deadline, timeouts.header, covers the whole head: a client trickling bytes (slowloris)
// cannot keep the connection by sending a byte just before each read times out.
//
// What it checks: scan_request_head (framing.hpp) on the raw bytes, stricter than
// Beast; then the parser (head_parser.hpp: Beast's basic_parser, the head kept as
// views, no basic_fields) with the head limits, the body limit (a declared
// Content-Length past max_body_size is a 413 here) and the chunk-size check; then
// check_request_fields.
//
// Outcomes: next_request: req_ holds a parsed head and the body (if any) is unread;
// close: the client went away, idled out or timed out (nothing to answer, nothing
// logged); linger_close: a 400/413/431 or the scanner's status was answered.
#include "proxy/http/session_io.hpp"

namespace maintgate::proxy {

template <class Stream>
session_base::idle_wait client_session<Stream>::begin_idle_wait() noexcept {
    static_assert(!is_tls);
    if (ctx_.stopping()) return idle_wait::closed;
    refresh_gate();  // this request's limits and timeouts
    idle_ = true;
    const auto now = std::chrono::steady_clock::now();
    idle_deadline_ = now + cfg_->timeouts.keepalive;
    park_at_ = now + park_after;
    // A new connection's request has often arrived with it: one read is tried first (as
    // Asio's speculative read did). Between requests the client is still reading the
    // last response, so the wait comes first.
    error_code ec = net::error::would_block;
    if (first_request_) {
        first_request_ = false;
        const std::size_t n = tcp_->read_some(buf_.prepare(buffer_pool::small_size), ec);
        if (!ec) buf_.commit(n);
    }
    if (ec == net::error::would_block) release_buffers();
    return idle_result(ec);
}

template <class Stream>
session_base::idle_wait client_session<Stream>::end_idle_wait(error_code wec) noexcept {
    static_assert(!is_tls);
    disarm();
    error_code ec = checked(wec);
    if (ec == beast::error::timeout && park_armed_) {
        // park_after ran out, not the keep-alive time: the caller leaves its coroutine,
        // and the waits from here on end at the keep-alive deadline.
        park_armed_ = false;
        park_at_ = std::chrono::steady_clock::time_point::max();
        return idle_wait::park;
    }
    if (!ec) {
        const std::size_t n = tcp_->read_some(buf_.prepare(buffer_pool::small_size), ec);
        if (!ec) buf_.commit(n);
        // Readable, yet nothing to read: wait again, holding nothing.
        if (ec == net::error::would_block) buf_.shrink_to_fit();
    }
    return idle_result(ec);
}

template <class Stream>
session_base::idle_wait client_session<Stream>::idle_result(error_code ec) noexcept {
    if (ec == net::error::would_block) {
        // The first wait in the coroutine ends at park_after; once parked (or when the
        // keep-alive time is shorter), at the keep-alive deadline.
        park_armed_ = park_at_ < idle_deadline_;
        arm_at(*tcp_, park_armed_ ? park_at_ : idle_deadline_);
        return idle_wait::waiting;
    }
    idle_ = false;
    return ec ? idle_wait::closed : idle_wait::ready;
}

template <class Stream>
net::awaitable<session_base::step> client_session<Stream>::read_head() {
    if constexpr (is_tls) {
        if (buf_.size() == 0) {
            // Between requests: the first byte, under the keep-alive timeout. (A plain
            // connection waited in run(), above.)
            if (ctx_.stopping()) co_return step::close;
            refresh_gate();  // this request's limits and timeouts
            idle_ = true;
            const auto idle_deadline = std::chrono::steady_clock::now() + cfg_->timeouts.keepalive;
            auto [ec, n] = co_await read_client(buf_.prepare(read_chunk), idle_deadline);
            idle_ = false;
            if (ec) co_return step::close;
            buf_.commit(n);
        }
    }
    // After refresh_gate: a reload may have freed the config the last request used.
    const auto& limits = cfg_->limits;
    started_ = std::chrono::steady_clock::now();
    status_ = 0;
    body_bytes_sent_ = 0;
    req_.reset();

    // One deadline for the whole head (slowloris).
    const auto head_deadline = started_ + cfg_->timeouts.header;
    head_limits hl{limits.max_header_size, limits.max_headers, limits.max_uri_size};
    head_scan scan;
    for (;;) {
        auto data = buf_.data();
        scan = scan_request_head(std::string_view(static_cast<const char*>(data.data()), data.size()), hl);
        if (scan.error) co_return co_await reply(scan.error.status, scan.error.detail);
        if (scan.end) break;
        std::size_t room = buf_.max_size() - buf_.size();
        if (room == 0) co_return co_await reply(431, "request head too large");
        // Grown to a medium slab when the first small one is not enough (as nginx's
        // large_client_header_buffers), then by read_chunk.
        const std::size_t want =
            buf_.size() < buffer_pool::medium_size ? buffer_pool::medium_size - buf_.size() : read_chunk;
        auto [ec, n] = co_await read_client(buf_.prepare(std::min(room, want)), head_deadline);
        if (ec) {
            if (is_timeout(ec)) spdlog::debug("client header timeout");
            co_return step::close;
        }
        buf_.commit(n);
    }
    buf_.consume(scan.skip);

    req_.emplace(ctx_.buffers());
    req_->header_limit(static_cast<std::uint32_t>(limits.max_header_size + 4));
    if (limits.max_body_size)
        req_->body_limit(limits.max_body_size);
    else
        req_->body_limit(boost::none);
    error_code ec;
    auto head = buf_.data();
    std::size_t used = req_->put(net::buffer(head.data(), scan.end - scan.skip), ec);
    // Beast checks a declared Content-Length against body_limit while parsing the head.
    if (ec == http::error::body_limit)
        co_return co_await reply(413, "declared body larger than max_body_size");
    if (ec || !req_->is_header_done()) co_return co_await reply(400, "request head rejected by parser");
    buf_.consume(used);
    req_->eager(true);

    auto& req = req_->get();
    if (auto bad = check_request_fields(req)) co_return co_await reply(bad.status, bad.detail);
    co_return step::next_request;
}

template session_base::idle_wait client_session<tcp::socket>::begin_idle_wait() noexcept;
template session_base::idle_wait client_session<tcp::socket>::end_idle_wait(error_code) noexcept;
template session_base::idle_wait client_session<tcp::socket>::idle_result(error_code) noexcept;
template net::awaitable<session_base::step> client_session<tcp::socket>::read_head();
template net::awaitable<session_base::step> client_session<tls_client_stream>::read_head();

}  // namespace maintgate::proxy
