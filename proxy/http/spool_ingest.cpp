// The spool step: a webhook the gate refuses, on a route with spool = true, is kept
// instead of refused.
//
// When it runs: from answer(), when decide() found refuse_write for a request whose
// matching rule is a webhook rule with spool = true and the process has a spool
// ([spool] dir). Not on the open path: an open gate forwards webhooks and never gets here.
//
// In order: a declared body over spool.max_event_bytes is 413 at once (and a chunked
// one as soon as it passes it); Expect: 100-continue gets its 100 only then; the body
// is read whole; the signature, when the rule names a scheme, is checked (401, nothing
// stored); the event (method, target, every field but the hop-by-hop ones, body,
// arrival time, the dedupe and order keys' values) goes to the spool's writer, and the
// session suspends until the batch holding it is fsynced (the writer posts back to this
// worker's executor: no thread waits on the disk but the writer's). Then:
//   202 {"spool_id":"N"}                  stored (or a duplicate: the first one's id,
//                                         with "duplicate":true)
//   503 + Retry-After                     past a quota, or the disk failed: nothing stored
// Outcomes: as write_rendered (next_request, linger_close, close); reply() for 413.
#include <spdlog/spdlog.h>

#include "policy/ascii.hpp"
#include "proxy/http/local_reply.hpp"
#include "proxy/http/session_io.hpp"
#include "proxy/spool/signature.hpp"
#include "proxy/spool/spool.hpp"

namespace maintgate::proxy {
namespace {

// Fields that describe this connection, not the request (RFC 9110 7.6.1), and the
// framing that the replay sets afresh.
bool hop_by_hop(std::string_view name) noexcept {
    for (std::string_view h : {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                               "upgrade", "content-length", "expect", "proxy-authorization"}) {
        if (policy::iequals(name, h)) return true;
    }
    return false;
}

bool named_in_connection(std::string_view connection, std::string_view name) noexcept {
    while (!connection.empty()) {
        const auto comma = connection.find(',');
        std::string_view token = connection.substr(0, comma);
        while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
        while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
        if (!token.empty() && policy::iequals(token, name)) return true;
        connection = comma == std::string_view::npos ? std::string_view{} : connection.substr(comma + 1);
    }
    return false;
}

rendered_reply json_reply(std::string_view status_line, std::string body, std::string_view extra = {}) {
    rendered_reply r;
    r.body = std::move(body);
    r.head = std::string(status_line) + "\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n" +
             std::string(extra) + "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    return r;
}

}  // namespace

template <class Stream>
const webhook_spool* client_session<Stream>::spool_rule(const policy::decision& d) const noexcept {
    if (d.what != policy::verdict::refuse_write || d.rule < 0 || !ctx_.spool()) return nullptr;
    const auto& rules = cfg_->gate.spool_rules;
    const auto i = static_cast<std::size_t>(d.rule);
    return i < rules.size() && rules[i].spool ? &rules[i] : nullptr;
}

template <class Stream>
net::awaitable<session_base::step> client_session<Stream>::spool_request(const webhook_spool& w) {
    spool::spool& sp = *ctx_.spool();
    auto& counters = sp.counters();
    const auto reject = [&](spool::reject_reason r) {
        counters.rejected[static_cast<std::size_t>(r)].fetch_add(1, std::memory_order_relaxed);
    };
    auto& req = req_->get();
    const std::uint64_t limit = sp.settings().max_event_bytes;
    if (auto cl = req_->content_length_remaining(); cl && *cl > limit) {
        reject(spool::reject_reason::too_large);
        co_return co_await reply(413, "webhook body larger than spool.max_event_bytes");
    }

    // The 100 only now: a body past the limit was refused before the client sent it.
    const auto expect = req.find(http::field::expect);
    if (expect != req.end() && !req_->is_done() && client_version_ >= 11) {
        if (!co_await write_client(net::buffer(continue_reply))) co_return step::close;
    }

    std::string body;
    auto& bb = req_->body();
    char* buf = body_buffer();
    while (!req_->is_done()) {
        bb.data = buf;
        bb.size = body_buffer_size;
        auto ec = co_await read_parsed(nullptr, buf_, *req_);
        if (ec == http::error::need_buffer) ec = {};
        if (ec) co_return step::close;  // the client went away or stalled: nothing stored
        body.append(buf, body_buffer_size - bb.size);
        if (body.size() > limit) {
            reject(spool::reject_reason::too_large);
            co_return co_await reply(413, "webhook body larger than spool.max_event_bytes");
        }
    }

    const auto now = std::chrono::system_clock::now();
    const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    const auto field = [&req](std::string_view name) -> std::string_view {
        auto it = req.find(name);
        return it == req.end() ? std::string_view{} : std::string_view(it->value());
    };
    if (w.signature != signature_scheme::none) {
        const auto v = spool::verify_signature(w.signature, w.secret, field, body, now_s, w.tolerance);
        if (!v.ok) {
            reject(spool::reject_reason::signature);
            spdlog::info("spool: {} {}: signature refused: {}", std::string_view(peer_text_, peer_len_),
                         std::string_view(req.target()), v.why);
            co_return co_await write_rendered(
                json_reply("HTTP/1.1 401 Unauthorized",
                           "{\"error\":\"invalid webhook signature\",\"stored\":false}\n"),
                401);
        }
    }

    spool::event ev;
    ev.arrival_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    ev.method = std::string(req.method_string());
    ev.target = std::string(req.target());
    if (!w.dedupe_key.empty()) ev.dedupe_key = std::string(field(w.dedupe_key.header));
    if (!w.order_key.empty()) ev.order_key = std::string(field(w.order_key.header));
    ev.delivery_id = ev.dedupe_key;
    const std::string_view connection = field("connection");
    for (const auto& f : req) {
        const std::string_view name = f.name_string();
        if (hop_by_hop(name) || named_in_connection(connection, name)) continue;
        ev.headers.emplace_back(std::string(name), std::string(f.value()));
    }
    ev.body = std::move(body);

    const spool::ingest_outcome o = co_await sp.async_ingest(std::move(ev), net::use_awaitable);
    const bool refused = !o.error.empty() || (o.what != spool::admit_result::accepted &&
                                              o.what != spool::admit_result::duplicate);
    if (refused) {
        const std::string retry =
            "Retry-After: " + std::to_string(retry_after_seconds(gate_->record, cfg_->gate, now)) + "\r\n";
        const std::string why = o.error.empty() ? "spool quota reached: " + std::string(spool::to_string(o.what))
                                                : std::string("spool unavailable");
        spdlog::warn("spool: {} {}: refused: {}", std::string_view(peer_text_, peer_len_),
                     std::string_view(req.target()), o.error.empty() ? why : o.error);
        co_return co_await write_rendered(
            json_reply("HTTP/1.1 503 Service Unavailable", "{\"error\":\"" + why + "\",\"stored\":false}\n", retry),
            503);
    }
    const bool dup = o.what == spool::admit_result::duplicate;
    co_return co_await write_rendered(
        json_reply("HTTP/1.1 202 Accepted",
                   "{\"spool_id\":\"" + std::to_string(o.id) + "\"" + (dup ? ",\"duplicate\":true" : "") + "}\n",
                   "Maintgate-Spool-Id: " + std::to_string(o.id) + "\r\n"),
        202);
}

template const webhook_spool* client_session<tcp::socket>::spool_rule(const policy::decision&) const noexcept;
template const webhook_spool* client_session<tls_client_stream>::spool_rule(const policy::decision&) const noexcept;
template net::awaitable<session_base::step> client_session<tcp::socket>::spool_request(const webhook_spool&);
template net::awaitable<session_base::step> client_session<tls_client_stream>::spool_request(const webhook_spool&);

}  // namespace maintgate::proxy
