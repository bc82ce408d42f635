// The read_head step: waits for a request and parses its head.
//
// When it runs: first for every request. Between requests it waits for the first byte
// under timeouts.keepalive (nothing when the worker is stopping), taking the worker's
// gate snapshot first, so that the request is read under its limits and timeouts. A
// plain connection gives its buffers back to the worker's pool at once and waits for
// readability holding none (an idle keep-alive connection costs its session and
// coroutine frames, no buffer); when bytes arrive it takes a 1 KiB slab, grown only when
// the head needs more. TLS cannot (its engine may hold bytes the socket does not show). From the first byte one deadline, timeouts.header, covers the whole head: a
// client trickling bytes (slowloris) cannot keep the connection by sending a byte just
// before each read times out.
//
// What it checks: scan_request_head (framing.hpp) on the raw bytes, stricter than
// Beast; then Beast's parser with the head limits, the body limit (a declared
// Content-Length past max_body_size is a 413 here) and the chunk-size check; then
// check_request_fields.
//
// Outcomes: next_request: req_ holds a parsed head and the body (if any) is unread;
// close: the client went away, idled out or timed out (nothing to answer, nothing
// logged); linger_close: a 400/413/431 or the scanner's status was answered.
#include "proxy/http/session_io.hpp"

namespace maintgate::proxy {

template <class Stream>
net::awaitable<session_base::step> client_session<Stream>::read_head() {
    if (buf_.size() == 0) {
        // Between requests: the first byte, under the keep-alive timeout.
        if (ctx_.stopping()) co_return step::close;
        refresh_gate();  // this request's limits and timeouts
        idle_ = true;
        const auto idle_deadline = std::chrono::steady_clock::now() + cfg_->timeouts.keepalive;
        error_code ec;
        std::size_t n = 0;
        if constexpr (is_tls) {
            auto [rec, rn] = co_await read_client(buf_.prepare(read_chunk), idle_deadline);
            ec = rec;
            n = rn;
        } else {
            // Holding no buffer (see the file's comment): readability first, then a small
            // slab and one read, straight from the socket.
            // A new connection's request has often arrived with it: one read is tried
            // first (as Asio's speculative read did). Between requests the client is
            // still reading the last response, so the wait comes first.
            if (first_request_) {
                first_request_ = false;
                n = tcp_->socket().read_some(buf_.prepare(buffer_pool::small_size), ec);
            } else {
                ec = net::error::would_block;
            }
            if (ec == net::error::would_block) release_buffers();
            while (ec == net::error::would_block) {
                arm_at(tcp_->socket(), idle_deadline);
                auto [wec] = co_await tcp_->socket().async_wait(tcp::socket::wait_read, use_tuple);
                disarm();
                ec = checked(wec);
                if (ec) break;
                n = tcp_->socket().read_some(buf_.prepare(buffer_pool::small_size), ec);
                // Readable, yet nothing to read: wait again, holding nothing.
                if (ec == net::error::would_block) buf_.shrink_to_fit();
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
    if (ec == http::error::body_limit)
        co_return co_await reply(413, "declared body larger than max_body_size");
    if (ec || !req_->is_header_done()) co_return co_await reply(400, "request head rejected by parser");
    buf_.consume(used);
    req_->eager(true);

    auto& req = req_->get();
    if (auto bad = check_request_fields(req)) co_return co_await reply(bad.status, bad.detail);
    co_return step::next_request;
}

template net::awaitable<session_base::step> client_session<beast::tcp_stream>::read_head();
template net::awaitable<session_base::step> client_session<tls_client_stream>::read_head();

}  // namespace maintgate::proxy
