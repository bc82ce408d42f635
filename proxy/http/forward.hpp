#pragma once
// The header transform between client and upstream, in both directions. Pure functions
// over parsed heads (head.hpp): no I/O, unit-tested without sockets.
//
// The forwarded head is rendered, not edited: one pass over the parsed fields decides
// for each whether it goes on, and the proxy's own fields are appended. Nothing in the
// parsed message changes, nothing is looked up twice, and the bytes land in a buffer the
// session reuses, so a warm connection forwards a request without allocating.
#include <span>
#include <string>
#include <string_view>

#include "policy/cidr.hpp"
#include "proxy/http/head.hpp"
#include "proxy/net.hpp"

namespace maintgate::proxy {

struct forward_context {
    policy::ip_address peer;  // the client's address
    std::string_view peer_text;  // the same, as text ("192.0.2.1", "2001:db8::1")
    bool tls = false;  // the client connection is HTTPS
    std::span<const policy::cidr> trusted_proxies;  // whose X-Forwarded-* are kept and appended to
    bool via = true;  // add "Via: 1.1 maintgate"
    std::string_view host_override;  // non-empty: replace Host with this
};

// True when the request asks to switch protocols in a way the proxy will tunnel: an
// HTTP/1.1 request with an Upgrade field whose Connection names "upgrade". An h2c
// upgrade is never tunnelled (it would let a client talk HTTP/2 past the proxy's rules).
bool wants_upgrade(const request_head& req) noexcept;

// The authority of an absolute-form target ("http://host:port/path" → "host:port");
// empty for any other form. With no Host field, this is the host the request is sent
// with, so it is also the host the gate's rules judge.
std::string_view target_authority(std::string_view target) noexcept;

// What the session decided about this request's framing, besides the forwarding rules.
struct request_head_options {
    bool upgrade = false;  // keep Upgrade and send "Connection: upgrade"
    bool chunked = false;  // the body goes chunked: "Transfer-Encoding: chunked"
    bool drop_expect = false;  // no body will wait for 100 Continue: drop Expect
    std::string_view drop_field;  // a field never forwarded (the bypass secret); empty: none
    std::string_view default_host;  // Host for a request with neither Host nor an absolute-form authority
    bool identity = false;  // a page that gets the banner: "Accept-Encoding: identity" replaces the client's
};

// Renders the client's request head as it goes to the upstream into out (cleared first;
// its capacity is reused):
// - drops Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
//   Upgrade, HTTP2-Settings, and every field Connection names (never Host or
//   Content-Length; our own X-Forwarded-* and Via are appended after);
// - with o.upgrade, keeps the client's Upgrade and sends "Connection: upgrade";
// - an absolute-form target goes as origin-form, its authority as Host when there is none;
// - X-Forwarded-For: the peer address, appended to the existing values when the peer is
//   a trusted proxy, replacing them otherwise; from an untrusted peer, Forwarded and
//   X-Real-IP are dropped too; X-Forwarded-Proto ("http"/"https") and X-Forwarded-Host
//   (the client's Host) are kept from trusted peers and set otherwise;
// - Via gets "1.1 maintgate" appended when ctx.via; Host is replaced by host_override;
// - the version is HTTP/1.1 (the upstream connection is always 1.1 keep-alive).
// A list value (X-Forwarded-For, Via) that would pass 32 KiB restarts with our item.
void render_request_head(const request_head& req, const forward_context& ctx, const request_head_options& o,
                         std::string& out);

// What the session decided about the response it relays.
struct response_head_options {
    bool via = true;  // append "1.1 maintgate" to Via
    bool upgrade = false;  // a 101: keep Upgrade, send "Connection: upgrade"
    bool chunked =
        false;  // "Transfer-Encoding: chunked" (the proxy frames the body, or a HEAD keeps it visible)
    std::string_view mode;  // X-Maintgate-Mode's value; empty: none (the gate is open)
    std::string_view hsts;  // Strict-Transport-Security's value unless the app sent one; empty: none
    std::string_view connection;  // Connection's value ("close", "keep-alive"); empty: none
};

// Renders an upstream's response head for the client into out (cleared first): the
// status line as HTTP/1.1 (the upstream's reason, or the standard one when it sent
// none), the same hop-by-hop rules as requests, then the fields o asks for.
void render_response_head(const response_head& res, const response_head_options& o, std::string& out);

}  // namespace maintgate::proxy
