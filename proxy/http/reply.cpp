// The session's local answers: what the proxy says itself instead of the upstream.
//
// When they run: from any step that answers a request here. reply() is a fixed local
// error (local_reply.hpp: 400, 405, 413, 431, 502, 504...), always followed by a
// lingering close. fail_upstream() answers an upstream_failure nothing has answered
// yet: it logs it (once, here) and sends status_for(f), or the maintenance page when
// gate.upstream_down_page is set. gate_reply() answers the gate's verdict from the
// snapshot's pre-rendered buffers (the session holds the snapshot across the write, so
// a new one published meanwhile cannot free them); the bypass cookie's 302 is rare and
// built here, with Secure over HTTPS.
//
// write_rendered() answers first and then reads what is left of the body, as nginx does:
// the client gets its refusal at once, and a modest body (max_drain; none after an
// Expect: 100-continue, whose client will not send it) is drained so the connection
// stays usable.
//
// Outcomes: each marks the request answered (finish() logs it) and returns the next
// step: linger_close after reply(); after write_rendered(), next_request, or
// closing_step() when the connection ends (close for a client that asked to close and
// sent nothing more, else linger_close), or close when the write failed.
#include "policy/accept.hpp"
#include "proxy/http/http_date.hpp"
#include "proxy/http/local_reply.hpp"
#include "proxy/http/session_io.hpp"

namespace maintgate::proxy {

template <class Stream>
net::awaitable<session_base::step> client_session<Stream>::reply(unsigned status, const char* detail) {
    status_ = status;
    spdlog::debug("{} {}: {}", std::string_view(peer_text_, peer_len_), status, detail);
    auto parts = local_reply(status);
    // hsts_field() is empty on plain HTTP.
    std::array<net::const_buffer, 5> bufs{net::buffer(parts.head), net::buffer(date_field()),
                                          net::buffer(mode_field(gate_->record.mode)),
                                          net::buffer(hsts_field()), net::buffer(parts.rest)};
    co_await send_client(bufs);
    answered_ = true;
    co_return step::linger_close;
}

template <class Stream>
net::awaitable<session_base::step> client_session<Stream>::reply_upstream_error(unsigned status,
                                                                                const char* detail) {
    ctx_.stats().upstream_errors.inc();
    if (in_flight_ == in_flight::write) {  // a failed write, for [auto_read_only]
        ctx_.stats().write_responses.inc();
        ctx_.stats().write_5xx.inc();
    }
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
        ctx_.stats().refused_writes.inc();
        ctx_.stats().refused_by_rule[refused_slot(d.rule)].inc();
        co_return co_await write_rendered(hold->refusal[fmt], 503);
    case policy::verdict::maintenance: co_return co_await write_rendered(hold->page[fmt], 503);
    case policy::verdict::status: {
        // The windows' feeds sit under the status path (policy::is_status_request).
        const std::string_view target = req.target();
        const std::string_view path = target.substr(0, target.find('?'));
        if (hold->feeds && path.ends_with("/windows.json")) co_return co_await write_rendered(hold->feeds->json, 200);
        if (hold->feeds && path.ends_with("/windows.ics")) co_return co_await write_rendered(hold->feeds->ics, 200);
        co_return co_await write_rendered(hold->status, 200);
    }
    case policy::verdict::grant_bypass: {
        // The secret URL: a signed, expiring cookie, then back to the app. Rare, so the
        // response is built here.
        const auto& g = cfg_->gate.policy;
        auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
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
    case policy::verdict::forward: break;
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
    bool keep = client_keep_alive_ && !ctx_.stopping() && (!drain || drainable());
    std::string_view connection = !keep                   ? "Connection: close\r\n"
                                  : client_version_ == 10 ? "Connection: keep-alive\r\n"
                                                          : "";
    bool with_body = req_->get().method() != http::verb::head;
    // The jittered Retry-After, picked by the peer's address (FNV-1a): the same client
    // gets the same answer, different clients spread over a few seconds.
    const std::string* head = &r.head;
    if (!r.jittered_heads.empty()) {
        std::uint32_t h = 2166136261u;
        for (std::size_t i = 0; i < peer_len_; ++i) h = (h ^ static_cast<unsigned char>(peer_text_[i])) * 16777619u;
        head = &r.jittered_heads[h % r.jittered_heads.size()];
    }
    std::array<net::const_buffer, 6> bufs{net::buffer(*head),
                                          net::buffer(date_field()),
                                          net::buffer(hsts_field()),
                                          net::buffer(connection),
                                          net::buffer(std::string_view("\r\n")),
                                          net::buffer(r.body.data(), with_body ? r.body.size() : 0)};
    const error_code ec = co_await send_client(bufs);
    if (with_body) body_bytes_sent_ = r.body.size();
    answered_ = true;
    if (ec) co_return step::close;
    if (keep && drain) keep = co_await discard_body();
    co_return keep ? step::next_request : closing_step();
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
    auto& body = req_->body();
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
net::awaitable<session_base::step> client_session<Stream>::fail_upstream(const upstream_failure& f) {
    if (const char* what = log_word_for(f.where)) log_upstream_error(what, f.ec);
    co_return co_await reply_upstream_error(status_for(f), detail_for(f.where));
}

template net::awaitable<session_base::step> client_session<tcp::socket>::reply(unsigned, const char*);
template net::awaitable<session_base::step> client_session<tls_client_stream>::reply(unsigned, const char*);
template net::awaitable<session_base::step> client_session<tcp::socket>::reply_upstream_error(
    unsigned, const char*);
template net::awaitable<session_base::step> client_session<tls_client_stream>::reply_upstream_error(
    unsigned, const char*);
template net::awaitable<session_base::step> client_session<tcp::socket>::gate_reply(
    const policy::decision&);
template net::awaitable<session_base::step> client_session<tls_client_stream>::gate_reply(
    const policy::decision&);
template net::awaitable<session_base::step> client_session<tcp::socket>::write_rendered(
    const rendered_reply&, unsigned);
template net::awaitable<session_base::step> client_session<tls_client_stream>::write_rendered(
    const rendered_reply&, unsigned);
template bool client_session<tcp::socket>::drainable() const noexcept;
template bool client_session<tls_client_stream>::drainable() const noexcept;
template net::awaitable<bool> client_session<tcp::socket>::discard_body();
template net::awaitable<bool> client_session<tls_client_stream>::discard_body();
template net::awaitable<session_base::step> client_session<tcp::socket>::fail_upstream(
    const upstream_failure&);
template net::awaitable<session_base::step> client_session<tls_client_stream>::fail_upstream(
    const upstream_failure&);

}  // namespace maintgate::proxy
