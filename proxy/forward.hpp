#pragma once
// The header transform between client and upstream, in both directions. Pure functions
// over Beast header objects: no I/O, unit-tested without sockets.
#include <span>
#include <string_view>

#include "policy/cidr.hpp"
#include "proxy/net.hpp"

namespace maintgate::proxy {

struct forward_context {
    policy::ip_address peer;                     // the client's address
    std::string_view peer_text;                  // the same, as text ("192.0.2.1", "2001:db8::1")
    bool tls = false;                            // the client connection is HTTPS
    std::span<const policy::cidr> trusted_proxies; // whose X-Forwarded-* are kept and appended to
    bool via = true;                             // add "Via: 1.1 maintgate"
    std::string_view host_override;              // non-empty: replace Host with this
};

// True when the request asks to switch protocols in a way the proxy will tunnel: an
// HTTP/1.1 request with an Upgrade field whose Connection names "upgrade". An h2c
// upgrade is never tunnelled (it would let a client talk HTTP/2 past the proxy's rules).
bool wants_upgrade(const http::request_header<>& req) noexcept;

// Prepares a client's request for the upstream, in place:
// - removes Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
//   Upgrade, HTTP2-Settings, and every field Connection names (never Host or
//   Content-Length, and our own X-Forwarded-* are set after);
// - when upgrade is true, puts back "Connection: upgrade" and the client's Upgrade value;
// - absolute-form targets become origin-form;
// - X-Forwarded-For: the peer address, appended to the existing value when the peer is
//   a trusted proxy, replacing it otherwise; from an untrusted peer, Forwarded and
//   X-Real-IP are removed too; X-Forwarded-Proto ("http"/"https") and
//   X-Forwarded-Host (the client's Host) are kept from trusted peers and set otherwise;
// - Via gets "1.1 maintgate" appended when ctx.via; Host replaced when host_override;
// - the version becomes HTTP/1.1 (the upstream connection is always 1.1 keep-alive).
// Transfer-Encoding is re-added by the caller through message::chunked(true).
void transform_request(http::request_header<>& req, const forward_context& ctx, bool upgrade);

// Prepares an upstream's response for the client, in place: removes the same hop-by-hop
// fields (keeping Upgrade and "Connection: upgrade" when upgrade is true, for a 101),
// and appends "1.1 maintgate" to Via when via is true. The caller sets keep-alive and
// framing for the client afterwards.
void transform_response(http::response_header<>& res, bool via, bool upgrade);

}  // namespace maintgate::proxy
