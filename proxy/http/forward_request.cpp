// The forward_request step: the request to the upstream, head and body, until its
// response head is read.
//
// When it runs: after decide() let the request through; it is counted in flight.
//
// What it does: renders the forwarded head once into head_out_ (forward.hpp: the
// X-Forwarded-* fields from trusted_proxies, Via, the upstream's Host, the bypass header
// dropped, a Host for an HTTP/1.0 request without one); takes the warmest pooled
// connection, or a new one (upstream_pool::connect); sends the head with the first body
// bytes and the last chunk with the last ones, one write each time however the body is
// framed; refuses trailers that would reframe or reroute the request (the upstream never
// sees it complete); then reads the response head.
//
// Expect: 100-continue: the head goes alone and the upstream decides, for at most
// timeouts.expect_continue (an upstream that ignores Expect must not hold the body, and
// the client, forever); a final answer before the body is relayed and ends both
// connections. Waiting for a TLS upstream's 100 cannot be told apart from TLS records
// with no data in them (TLS 1.3 session tickets arrive after the handshake), so with a
// TLS upstream the proxy answers 100 itself, as nginx always does, once the upstream is
// connected (had that failed, the 502 is the answer and the body need not be sent).
//
// Retry: decided in one place, the loop below. A failure is retried once, on a fresh
// connection, only when it is marked retryable (the upstream cannot have acted on it: a
// write failed, or it closed without a byte back), the request is safe to send twice
// (GET, HEAD, OPTIONS, with no body left and no upgrade: a write must never reach the
// app twice), and the failed connection was a pooled one on the first try.
//
// Outcomes (exchange_result): conn set: the response head is read, to be relayed
// (relay_response) or, with upgraded, tunnelled; failure set: nothing answered it yet
// (serve_one hands it to fail_upstream); otherwise next is the step after a local answer
// (413 or 400 for the body, 502 for a 101 nobody asked for) or a close (client gone).
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "proxy/http/forward.hpp"
#include "proxy/http/local_reply.hpp"
#include "proxy/http/session_io.hpp"

namespace maintgate::proxy {

template <class Stream>
net::awaitable<session_base::exchange_result> client_session<Stream>::forward_request() {
    auto& req = req_->get();
    head_request_ = req.method() == http::verb::head;
    auto expect_field = req.find(http::field::expect);  // one at most (check_request_head)
    bool has_expect = expect_field != req.end();
    expect_ = has_expect && !expect_field->value().empty() && !req_->is_done() && client_version_ >= 11;
    // A TLS upstream's 100 cannot be waited for (see the file's comment).
    continue_locally_ = expect_ && ctx_.pool().tls();
    if (continue_locally_) expect_ = false;
    sent_100_ = false;

    forward_context ctx{peer_,
                        std::string_view(peer_text_, peer_len_),
                        is_tls,
                        cfg_->forwarding.trusted_proxies,
                        cfg_->forwarding.via,
                        cfg_->upstream.host_header};
    request_head_options ho;
    ho.upgrade = upgrade_;
    ho.chunked = req_->chunked();
    ho.drop_expect = has_expect && !expect_;  // no body follows
    if (!cfg_->gate.policy.bypass_secret.empty()) ho.drop_field = cfg_->gate.policy.bypass_header;
    ho.identity = banner_plan_ == banner_plan::page;
    std::string default_host;
    if (req.find(http::field::host) == req.end()) {
        // HTTP/1.0 allows a request without Host; the upstream hop is HTTP/1.1, which
        // does not. Rare, so building the value here is fine.
        const auto& h = cfg_->upstream.host;
        bool v6 = h.find(':') != std::string::npos;
        default_host = (v6 ? "[" + h + "]" : h) + ":" + std::to_string(cfg_->upstream.port);
        ho.default_host = default_host;
    }
    ctx_.buffers().take_string(head_out_);  // a string grown by an earlier head: no allocation
    render_request_head(req, ctx, ho, head_out_);

    bool retryable = retryable_method(req.method()) && req_->is_done() && !upgrade_;
    for (int tries = 0;; ++tries) {
        // A retry always uses a fresh connection: the pooled ones may all be stale.
        upstream_conn_ptr conn = tries == 0 ? ctx_.pool().take_idle() : nullptr;
        if (!conn) {
            auto [ec, fresh, tls_failed] = co_await ctx_.pool().connect();
            if (ec)
                co_return exchange_result{
                    step::close,
                    upstream_failure{tls_failed ? upstream_phase::tls_handshake : upstream_phase::connect, ec,
                                     false}};
            conn = std::move(fresh);
        }
        // The one place a retry is decided (see the file's comment).
        const bool may_retry = retryable && conn->uses > 0 && tries == 0;
        auto r = co_await exchange(std::move(conn));
        if (r.failure && r.failure->retryable && may_retry) {
            spdlog::debug("retrying an idempotent request on a fresh upstream connection");
            continue;
        }
        co_return std::move(r);
    }
}

template <class Stream>
net::awaitable<session_base::exchange_result> client_session<Stream>::exchange(upstream_conn_ptr conn) {
    ubuf_.clear();
    // Beast reads into a dynamic buffer only as far as its spare capacity (at least 512
    // bytes): without room reserved here, a 64 KiB response took 130 reads and writes.
    ubuf_.reserve(read_chunk);
    ++conn->uses;
    bool head_sent = false;

    if (expect_) {
        // The head alone; the upstream decides within expect_continue.
        auto ec = co_await send_upstream(*conn, net::buffer(head_out_));
        head_sent = true;
        if (ec) co_return exchange_result{step::close, upstream_failure{upstream_phase::send_head, ec, true}};
        using namespace net::experimental::awaitable_operators;
        net::steady_timer timer(client_.get_executor());
        timer.expires_after(cfg_->timeouts.expect_continue);
        auto which = co_await (conn->stream.socket().async_wait(tcp::socket::wait_read, use_tuple) ||
                               timer.async_wait(use_tuple));
        if (which.index() == 0) {
            auto [client_ok, ec2] = co_await read_response_head(*conn, true);
            if (!client_ok) co_return exchange_result{step::close};
            if (ec2) {
                const bool got_some = ubuf_.size() > 0 || (res_ && res_->got_some());
                co_return exchange_result{step::close, upstream_failure{upstream_phase::read_head, ec2,
                                                                        nothing_came_back(ec2, got_some)}};
            }
            if (res_->get().result_int() != 100) {
                // A final answer before the body: relay it; the body was never sent, so
                // neither connection can carry another request.
                client_keep_alive_ = false;
                co_return exchange_result{step::close, std::nullopt, std::move(conn), false};
            }
        }
        if (!sent_100_) {
            sent_100_ = true;
            if (!co_await write_client(net::buffer(continue_reply))) co_return exchange_result{step::close};
        }
    }

    if (continue_locally_ && !sent_100_) {
        // Only now that the upstream is connected: had it failed, the 502 would have
        // been the answer, and the client need not send its body for nothing.
        sent_100_ = true;
        if (!co_await write_client(net::buffer(continue_reply))) co_return exchange_result{step::close};
    }
    auto [sent, sent_ec] = co_await send_request_body(*conn, head_sent);
    switch (sent) {
    case body_result::ok: break;
    case body_result::client_gone: co_return exchange_result{step::close};
    case body_result::too_large:
        co_return exchange_result{co_await reply(413, "body larger than max_body_size")};
    case body_result::malformed: co_return exchange_result{co_await reply(400, "malformed request body")};
    case body_result::bad_trailer:
        co_return exchange_result{co_await reply(400, "framing field in trailers")};
    case body_result::upstream_failed:
        co_return exchange_result{step::close, upstream_failure{upstream_phase::send_body, sent_ec, true}};
    }

    auto [client_ok, ec] = co_await read_response_head(*conn, false);
    if (!client_ok) co_return exchange_result{step::close};
    if (ec) {
        const bool got_some = ubuf_.size() > 0 || (res_ && res_->got_some());
        co_return exchange_result{
            step::close, upstream_failure{upstream_phase::read_head, ec, nothing_came_back(ec, got_some)}};
    }
    if (res_->get().result() == http::status::switching_protocols) {
        if (!upgrade_) co_return exchange_result{co_await reply(502, "101 without an upgrade request")};
        co_return exchange_result{step::close, std::nullopt, std::move(conn), true, true};
    }
    co_return exchange_result{step::close, std::nullopt, std::move(conn), true};
}

template <class Stream>
net::awaitable<std::tuple<session_base::body_result, error_code>> client_session<Stream>::send_request_body(
    upstream_conn& conn, bool head_sent) {
    auto& body = req_->body();
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
            if (req_->is_done() && chunked && req_->refused_trailer()) {
                // Trailers that try to reframe or reroute the request: the upstream must
                // never see it complete, so the last chunk is not sent.
                co_return std::tuple{body_result::bad_trailer, error_code{}};
            }
        }
        const bool last = req_->is_done();
        // The head goes with the first body bytes, and the last chunk with the last
        // ones: one write each time, however the body is framed.
        body_frame frame(chunked, n, last);
        std::array<net::const_buffer, 4> bufs{
            net::buffer(head_sent ? std::string_view{} : std::string_view(head_out_)), frame.prefix(),
            net::buffer(buf, n), frame.suffix()};
        if (auto ec = co_await send_upstream(conn, bufs))
            co_return std::tuple{body_result::upstream_failed, ec};
        head_sent = true;
        if (last) co_return std::tuple{body_result::ok, error_code{}};
    }
}

template net::awaitable<session_base::exchange_result> client_session<tcp::socket>::forward_request();
template net::awaitable<session_base::exchange_result> client_session<tls_client_stream>::forward_request();
template net::awaitable<session_base::exchange_result> client_session<tcp::socket>::exchange(
    upstream_conn_ptr);
template net::awaitable<session_base::exchange_result> client_session<tls_client_stream>::exchange(
    upstream_conn_ptr);
template net::awaitable<std::tuple<session_base::body_result, error_code>>
client_session<tcp::socket>::send_request_body(upstream_conn&, bool);
template net::awaitable<std::tuple<session_base::body_result, error_code>>
client_session<tls_client_stream>::send_request_body(upstream_conn&, bool);

}  // namespace maintgate::proxy
