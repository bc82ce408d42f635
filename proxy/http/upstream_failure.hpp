#pragma once
// How an exchange with the upstream failed before any of its response reached the
// client, said once (pingora's Error{etype, esource, retry} and fail_to_proxy): where it
// failed, the error, and whether the upstream can be known not to have acted on the
// request. The session maps it to a status and a detail string here, and decides a
// retry in one place (its serve loop), from `retryable` and what it knows of the
// request (an idempotent method, a complete body, a reused connection, a first try).
// Plain data: no allocation, fixed strings only.
#include <cstdint>

#include "proxy/net.hpp"

namespace maintgate::proxy {

enum class upstream_phase : std::uint8_t {
    connect,  // no connection (refused, unreachable, connect_timeout)
    tls_handshake,  // connected, but the TLS handshake failed (not timed out); the pool logged why
    send_head,  // the head, sent alone ahead of an Expect: 100-continue body
    send_body,  // the head with the body, or a piece of the body
    read_head,  // the response head (or an interim response) did not come
    read_body,  // the response body broke off before any byte reached the client
};

struct upstream_failure {
    upstream_phase where = upstream_phase::connect;
    error_code ec;
    // The upstream cannot have acted on the request: a write to it failed, or it closed
    // a connection without sending back a single byte (a pooled connection it had
    // already dropped). Whether that is worth a retry is the caller's call.
    bool retryable = false;
};

// 504 when the upstream ran out of time, else 502.
inline unsigned status_for(const upstream_failure& f) noexcept {
    return f.ec == beast::error::timeout ? 504 : 502;
}

// The detail string of the local reply and the access log's debug line.
inline const char* detail_for(upstream_phase p) noexcept {
    switch (p) {
    case upstream_phase::connect: return "upstream connect failed";
    case upstream_phase::tls_handshake: return "upstream TLS handshake failed";
    case upstream_phase::send_head:
    case upstream_phase::send_body: return "upstream write failed";
    case upstream_phase::read_head: return "upstream read failed";
    case upstream_phase::read_body: return "upstream body failed";
    }
    return "upstream failed";
}

// The word the warning log uses ("upstream <word>: <error>"), or nullptr when the
// failure was logged where it happened (a TLS handshake, by the pool, with its reason).
inline const char* log_word_for(upstream_phase p) noexcept {
    switch (p) {
    case upstream_phase::connect: return "connect";
    case upstream_phase::tls_handshake: return nullptr;
    case upstream_phase::send_head:
    case upstream_phase::send_body: return "write";
    case upstream_phase::read_head: return "read";
    case upstream_phase::read_body: return "body";
    }
    return "exchange";
}

}  // namespace maintgate::proxy
