// The tunnel step: an upgrade (WebSocket) the upstream accepted with 101.
//
// When it runs: after forward_request, when the upstream answered an upgrade request
// (upgrade_: wants_upgrade, decided as a write by the gate) with 101 Switching
// Protocols. A 101 to a request that asked for no upgrade never gets here: it is a 502.
//
// The gate may have closed while the upgrade waited for its 101: the worker cut the
// tunnels open when it took the closing snapshot, and this one was not open yet. It is
// decided again here, on the worker's thread with no suspension before in_tunnel_ is
// set, so no closing snapshot can fall between this check and the worker's cut: the
// client gets the new state's 503 (the page or the refusal) and the upstream side is
// dropped; the request leaves the in-flight count before that 503 is written.
//
// Otherwise the 101 is relayed and the request is finished at once (logged, out of the
// in-flight count): what follows is another protocol, which the write fence does not
// wait for (a WebSocket may stay open for hours); the worker cuts tunnels instead when
// the gate closes (worker::publish_gate, session_base::close_tunnel).
//
// From then on bytes are spliced both ways, through TLS where a side speaks it, with
// the session's buffered bytes of either side sent first. One idle deadline
// (timeouts.tunnel_idle) covers both directions, so a chatty side keeps a quiet one
// alive. A plain TCP side can be told "no more from this direction" and keep sending
// the other way; a TLS side cannot without a close_notify exchange that would block the
// other pump, so the tunnel ends there instead. A read or write error closes both.
//
// Outcomes: always step::close; the 101 is logged once it is written (a client gone
// before that is not logged).
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "policy/accept.hpp"
#include "proxy/admin/gate_state.hpp"
#include "proxy/http/forward.hpp"
#include "proxy/http/session_io.hpp"

namespace maintgate::proxy {

template <class Stream>
net::awaitable<session_base::step> client_session<Stream>::tunnel(upstream_conn_ptr conn) {
    // The gate closed while this upgrade waited for its 101 (see the file's comment).
    if (ctx_.gate_ptr() != gate_.get() && gate_closes(gate_->record, ctx_.gate().record)) {
        error_code ignored;
        conn->stream.socket().close(ignored);
        finish(step::close);  // out of flight before the 503 goes out; logged after it
        refresh_gate();
        const auto fmt = static_cast<std::size_t>(policy::choose_format(req_->get()[http::field::accept]));
        if (gate_->record.mode == policy::mode::maintenance)
            co_return co_await write_rendered(gate_->page[fmt], 503);
        ctx_.stats().refused_writes.inc();
        co_return co_await write_rendered(gate_->refusal[fmt], 503);
    }
    auto& res = res_->get();
    status_ = 101;
    // The upgrade request is answered; the fence does not wait for what follows.
    finish(step::close);
    in_tunnel_ = true;
    std::string head;  // once per tunnel
    render_response_head(res, {.via = cfg_->forwarding.via, .upgrade = true}, head);
    if (!co_await write_client(net::buffer(head))) co_return step::close;
    answered_ = true;
    finish(step::close);  // logged now, not when the tunnel closes hours later

    // Another protocol from here on: splice both ways under one idle deadline.
    disarm();  // the watchdog below bounds idleness
    auto& us = conn->stream;
    struct state {
        std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
        int open = 2;
        net::steady_timer watchdog;
    } st{std::chrono::steady_clock::now(), 2, net::steady_timer(client_.get_executor())};

    auto close_both = [&] {
        error_code ignored;
        tcp_->close(ignored);
        us.socket().close(ignored);
    };
    // Half-close where the side can take it (see the file's comment).
    auto pass_half_close = [&](auto& to) {
        error_code ignored;
        using to_type = std::decay_t<decltype(to)>;
        if constexpr (std::is_same_v<to_type, tcp::socket>) {
            to.shutdown(tcp::socket::shutdown_send, ignored);
        } else if constexpr (std::is_same_v<to_type, upstream_stream>) {
            if (to.is_tls())
                close_both();
            else
                to.socket().shutdown(tcp::socket::shutdown_send, ignored);
        } else {
            close_both();
        }
    };
    auto pump = [&](auto& from, auto& to, session_buffer& pending, char* buf) -> net::awaitable<void> {
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

template net::awaitable<session_base::step> client_session<tcp::socket>::tunnel(upstream_conn_ptr);
template net::awaitable<session_base::step> client_session<tls_client_stream>::tunnel(upstream_conn_ptr);

}  // namespace maintgate::proxy
