// The relay_response step: the upstream's answer, head and body, to the client.
//
// When it runs: after forward_request, with the response head read (read_response_head
// there, which relays 103 Early Hints to HTTP/1.1 clients and drops 100s nobody waits
// for). request_complete is false when the upstream answered before the body it asked
// for with Expect: 100-continue was sent: neither connection can carry another request.
//
// What it does: refuses a response whose framing cannot be relayed safely
// (check_response_fields: 502, counted as an upstream error); renders the head once into
// head_out_ (Via, the gate's mode while it is not open, HSTS on HTTPS, Connection as the
// client needs it); relays the body through the one body buffer, chunking a chunked or
// close-delimited body for an HTTP/1.1 client (an HTTP/1.0 client gets it
// close-delimited). The head goes out with the first body bytes, and a last chunk with
// the last ones. A body that breaks off before any byte reached the client becomes a
// 502/504 (status_for); after that, only an incomplete response is honest.
//
// Outcomes: next_request when both sides can go on; when the client's connection must
// end (Connection: close, an HTTP/1.0 close-delimited body, stopping, or an unread
// request body), closing_step(): close when the client asked to close and sent nothing
// more, else linger_close; close when the client went away (not logged). The
// upstream connection goes back to the pool only after a clean, complete exchange.
#include "proxy/http/forward.hpp"
#include "proxy/http/session_io.hpp"
#include "proxy/http/write_state.hpp"

namespace maintgate::proxy {

template <class Stream>
net::awaitable<std::tuple<bool, error_code>> client_session<Stream>::read_response_head(upstream_conn& conn,
                                                                                        bool stop_at_100) {
    for (;;) {
        res_.emplace(ctx_.buffers());
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
        ctx_.stats().upstream_errors.inc();
        co_return co_await reply(502, bad.detail);
    }
    status_ = res.result_int();
    ctx_.stats().upstream_responses.inc();
    if (status_ >= 500) ctx_.stats().upstream_5xx.inc();
    // [auto_read_only]: counters the admin thread samples (auto_read_only.cpp), and the
    // app's header, stripped here so that no client sees it.
    if (in_flight_ == in_flight::write) {
        ctx_.stats().write_responses.inc();
        if (status_ >= 500) ctx_.stats().write_5xx.inc();
    }
    if (cfg_->auto_read_only.enabled) [[unlikely]]
        take_write_state(res);
    bool upstream_keep_alive = res_->keep_alive();
    bool no_body = head_request_ || res_->is_done();

    // The maintenance window's banner (session_banner.cpp): decided from this head,
    // before it is rendered, since an injected body loses its Content-Length.
    bool inject = false;
    if (banner_plan_ != banner_plan::none) [[unlikely]]
        inject = start_banner(no_body);
    const bool by_close = !no_body && (inject || !res_->content_length());

    bool keep_alive = client_keep_alive_ && !ctx_.stopping();
    response_head_options ho;
    ho.via = cfg_->forwarding.via;
    // A HEAD response describes the GET's framing without a body: a chunked one says so.
    ho.chunked = head_request_ && res_->chunked();
    // A chunked or close-delimited upstream body: an HTTP/1.1 client gets it chunked
    // (so the connection can stay open), an HTTP/1.0 client close-delimited.
    const bool chunk_it = by_close && client_version_ >= 11;
    if (chunk_it) ho.chunked = true;
    if (by_close && client_version_ < 11) keep_alive = false;
    if (gate_mode_ != policy::mode::open) ho.mode = policy::to_string(gate_mode_);  // even for operators
    if constexpr (is_tls) {
        if (auto f = hsts_field(); !f.empty()) {
            constexpr std::string_view name = "Strict-Transport-Security: ";
            ho.hsts = f.substr(name.size(), f.size() - name.size() - 2);
        }
    }
    ho.connection = !keep_alive ? "close" : client_version_ == 10 ? "keep-alive" : "";
    ctx_.buffers().take_string(head_out_);
    render_response_head(res, ho, head_out_);
    if (banner_plan_ != banner_plan::none) [[unlikely]]
        edit_head_for_banner(inject);

    auto& body = res_->body();
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
                    const upstream_failure f{upstream_phase::read_body, ec, false};
                    log_upstream_error(log_word_for(f.where), ec);
                    // Before any byte reached the client an error page is still honest;
                    // after that, only an incomplete response is.
                    ctx_.stats().upstream_errors.inc();
                    if (!wrote_any) co_return co_await reply(status_for(f), detail_for(f.where));
                    co_return step::close;
                }
                n = body_buffer_size - body.size;
                if (n == 0 && !res_->is_done()) continue;  // see send_request_body
                body_bytes_sent_ += n;
            }
            const bool last = res_->is_done();
            if (inject) [[unlikely]] {
                // The page as it came, with the fragment after its <body> tag.
                const auto p = injector_.feed(std::string_view(buf, n));
                body_bytes_sent_ += p.insert.size();
                body_frame frame(chunk_it, p.size(), last);
                std::array<net::const_buffer, 6> bufs{
                    net::buffer(wrote_any ? std::string_view{} : std::string_view(head_out_)),
                    frame.prefix(),
                    net::buffer(p.before),
                    net::buffer(p.insert),
                    net::buffer(p.after),
                    frame.suffix()};
                if (co_await send_client(bufs)) co_return step::close;
                wrote_any = true;
                if (last) break;
                continue;
            }
            body_frame frame(chunk_it, n, last);
            std::array<net::const_buffer, 4> bufs{
                net::buffer(wrote_any ? std::string_view{} : std::string_view(head_out_)), frame.prefix(),
                net::buffer(buf, n), frame.suffix()};
            if (co_await send_client(bufs)) co_return step::close;
            wrote_any = true;
            if (last) break;
        }
        complete = true;
        if (inject) [[unlikely]]
            end_banner();
    }
    answered_ = true;

    if (complete && request_complete && upstream_keep_alive && ubuf_.size() == 0 && !upgrade_ &&
        req_->is_done())
        ctx_.pool().put_back(std::move(conn));
    if (!keep_alive) co_return closing_step();
    if (!req_->is_done()) co_return step::linger_close;  // unread body: framing lost
    co_return step::next_request;
}

template <class Stream>
void client_session<Stream>::take_write_state(response_head& res) noexcept {
    const std::string_view name = cfg_->auto_read_only.header;
    for (auto it = res.begin(); it != res.end();) {
        if (!policy::iequals(it->name_string(), name)) {
            ++it;
            continue;
        }
        if (const auto ttl = parse_write_state(it->value())) {
            ctx_.stats().write_state_ttl_s.store(*ttl, std::memory_order_relaxed);
            ctx_.stats().write_state_signals.inc();
        }
        it = res.erase(it);
    }
}

template net::awaitable<std::tuple<bool, error_code>> client_session<tcp::socket>::read_response_head(
    upstream_conn&, bool);
template net::awaitable<std::tuple<bool, error_code>> client_session<tls_client_stream>::read_response_head(
    upstream_conn&, bool);
template void client_session<tcp::socket>::take_write_state(response_head&) noexcept;
template void client_session<tls_client_stream>::take_write_state(response_head&) noexcept;
template net::awaitable<session_base::step> client_session<tcp::socket>::relay_response(upstream_conn_ptr,
                                                                                        bool);
template net::awaitable<session_base::step> client_session<tls_client_stream>::relay_response(
    upstream_conn_ptr, bool);

}  // namespace maintgate::proxy
