#pragma once
// Framing checks the proxy makes itself, before Beast parses and long before anything
// is forwarded. Beast's parser (Boost 1.81) is lenient where a proxy must not be:
// it folds obs-fold, ignores a Transfer-Encoding that does not end in chunked, accepts
// "Content-Length: 5, 5", and counts no headers. A request that fails here is answered
// locally with the given status and the connection is closed: it never reaches the app.
// Header names with an underscore are handled here too (forwarding.underscores_in_headers),
// by the same kind of pure function over the parsed head.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proxy/http/framing_types.hpp"
#include "proxy/http/head.hpp"
#include "proxy/net.hpp"

namespace maintgate::proxy {

// status == 0: acceptable. Otherwise the status to answer with, and a fixed detail
// string for the error log (static storage, never allocated).
struct framing_error {
    unsigned status = 0;
    const char* detail = "";
    explicit operator bool() const noexcept { return status != 0; }
};

struct head_limits {
    std::size_t max_header_size = 16'384;
    std::size_t max_headers = 100;
    std::size_t max_uri_size = 8'192;
};

// Result of looking for the end of a request head in the bytes received so far.
struct head_scan {
    std::size_t skip = 0;  // leading empty lines (CRLF) to discard before the request line
    std::size_t end = 0;  // offset just past the blank line ending the head; 0: not complete
    framing_error error;  // set as soon as the bytes so far are already invalid
};

// Incremental and pure: call again with more bytes when end == 0 and no error.
// Rejects, as early as it can see them: a bare LF or bare CR (400), a head larger than
// max_header_size (431), more than max_headers fields (431), a request-target longer
// than max_uri_size (414), an invalid method token, target or version (400; an
// HTTP version other than 1.0/1.1 is 505), HTTP/0.9 requests (400), obs-fold (400),
// whitespace between a field name and its colon (400), empty or invalid field names,
// and control bytes (NUL, and every CTL but HTAB) in field values (400).
head_scan scan_request_head(std::string_view data, const head_limits& limits) noexcept;

// Semantic checks on the parsed head (after the parser read the bytes scan_request_head
// accepted):
// - Host: HTTP/1.1 needs exactly one, HTTP/1.0 at most one; its value must be a valid
//   uri-host[:port] (400).
// - request-target: origin-form ("/..."), absolute-form ("http://host/..."; its
//   authority must equal Host, compared case-insensitively), or "*" for OPTIONS only (400).
// - TRACE and CONNECT, in any case: 405 (apps behind Django or Werkzeug upper-case the
//   method, so "trace" would be TRACE to them).
// - Content-Length: at most one field, value 1*DIGIT that fits in 63 bits (400).
// - Transfer-Encoding: not in HTTP/1.0 (400); with Content-Length (400); the codings,
//   over all fields, must be exactly "chunked" once: chunked not last or repeated or
//   quoted (400), another coding before chunked (501).
// - Expect: absent, or exactly "100-continue" (case-insensitive), once (417); on
//   HTTP/1.0 the caller ignores it, as RFC 9110 says.
// - A WebSocket upgrade that would be tunnelled (HTTP/1.1, Connection naming "upgrade",
//   Upgrade naming "websocket"): exactly one Sec-WebSocket-Key, a base64 16-byte nonce
//   (400), as HAProxy checks.
framing_error check_request_fields(const request_head& req) noexcept;

// A chunk size from the chunked request body (Beast's parser hands it to an
// on_chunk_header callback before any of the chunk is read): 400 when it does not fit in
// 63 bits, the limit Content-Length has, so that every consumer reads the same size.
// Beast itself takes up to 64 bits; HAProxy and nginx refuse such sizes too.
framing_error check_chunk_size(std::uint64_t size) noexcept;

// A trailer field of a chunked request body that is refused (400): framing and routing
// fields (Content-Length, Transfer-Encoding, Host, Connection, Trailer, TE, Upgrade,
// Keep-Alive, Proxy-Connection, Expect), which an app that merges trailers into its
// headers would see unchecked. The parser (head_parser.hpp) asks it of every trailer.
bool refused_in_trailers(http::field f) noexcept;

// What apply_underscore_policy found, and did.
struct underscore_result {
    framing_error error;  // reject: 400; the request must not be forwarded
    std::size_t fields = 0;  // fields named with '_': erased (drop), left in place (forward);
        // reject stops at the first, so 0 or 1
};

// forwarding.underscores_in_headers, in one pass over the field names. Call it once the
// head passed check_request_fields and before the gate decides, so that a dropped field
// (X_HTTP_Method_Override) is seen neither by the gate nor by the app:
// - drop: erases every field whose name holds '_', in place, keeping the others' order;
// - reject: 400 at the first such field, with the fields left as they were;
// - forward: changes nothing; the count tells the caller whether find_underscore_alias
//   can find anything.
// Allocates nothing; a request with no such field (the common case) is left untouched.
underscore_result apply_underscore_policy(request_head& req, underscores_policy policy) noexcept;

// The value of the first field whose name holds '_' and that a CGI, WSGI or PHP app
// reads as `name` (ASCII case ignored, '_' taken as '-'); empty when there is none.
// With "forward", the gate must look up the fields it acts on (the method overrides)
// under this spelling too: the app sees "X_HTTP_Method_Override: DELETE" as an override.
std::string_view find_underscore_alias(const request_head& req, std::string_view name) noexcept;

// Checks on an upstream's response head; status 502 when the response cannot be
// relayed safely (both Content-Length and Transfer-Encoding, conflicting or malformed
// Content-Length, Transfer-Encoding not ending in chunked).
framing_error check_response_fields(const response_head& res) noexcept;

}  // namespace maintgate::proxy
