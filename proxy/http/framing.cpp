#include "proxy/http/framing.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

#include "policy/ascii.hpp"

namespace maintgate::proxy {

namespace {

constexpr framing_error ok{};

constexpr framing_error fail(unsigned status, const char* detail) noexcept {
    return framing_error{status, detail};
}

// RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
// "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA. A table keeps the byte loop branch-light.
constexpr std::array<bool, 256> make_tchar_table() noexcept {
    std::array<bool, 256> t{};
    for (unsigned c = '0'; c <= '9'; ++c) t[c] = true;
    for (unsigned c = 'a'; c <= 'z'; ++c) t[c] = true;
    for (unsigned c = 'A'; c <= 'Z'; ++c) t[c] = true;
    for (unsigned char c : std::string_view("!#$%&'*+-.^_`|~")) t[c] = true;
    return t;
}
constexpr auto tchar_table = make_tchar_table();

constexpr bool is_tchar(char c) noexcept { return tchar_table[static_cast<unsigned char>(c)]; }

// field-value = *( VCHAR / obs-text / SP / HTAB ); CR and LF end the line elsewhere.
constexpr bool is_value_byte(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
}

// Stricter than Beast, which lets obs-text (0x80..0xFF) into the target: no URI has it,
// and backends disagree on how to decode it. A fragment ('#') never belongs in a
// request-target (RFC 9112 3.2); backends that cut it differently would see different
// paths than the gate's rules did.
constexpr bool is_target_byte(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x21 && u <= 0x7e && u != '#';
}

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

constexpr bool is_hexdig(char c) noexcept {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

using policy::ascii_lower;
using policy::iequals;
using policy::istarts_with;
using policy::trim_ows;

// Walks a comma-separated list (RFC 9110 5.6.1) without allocating; empty elements are
// skipped, as recipients must.
class list_walker {
public:
    explicit constexpr list_walker(std::string_view s) noexcept : rest_(s) {}

    constexpr bool next(std::string_view& element) noexcept {
        while (!done_) {
            const auto comma = rest_.find(',');
            std::string_view item = rest_.substr(0, comma);
            if (comma == std::string_view::npos)
                done_ = true;
            else
                rest_.remove_prefix(comma + 1);
            item = trim_ows(item);
            if (!item.empty()) {
                element = item;
                return true;
            }
        }
        return false;
    }

private:
    std::string_view rest_;
    bool done_ = false;
};

constexpr bool is_token(std::string_view s) noexcept {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_tchar(c); });
}

// The largest body length the proxy accepts, declared or chunked: 63 bits, so that every
// consumer, signed or not, reads the same length.
constexpr std::uint64_t max_length = (std::uint64_t{1} << 63) - 1;

// Content-Length = 1*DIGIT, at most max_length.
constexpr bool parse_content_length(std::string_view s, std::uint64_t& out) noexcept {
    if (s.empty()) return false;
    std::uint64_t v = 0;
    for (char c : s) {
        if (!is_digit(c)) return false;
        const auto d = static_cast<std::uint64_t>(c - '0');
        if (v > (max_length - d) / 10) return false;
        v = v * 10 + d;
    }
    out = v;
    return true;
}

// RFC 3986: unreserved / pct-encoded / sub-delims, the characters of reg-name and IPv4.
constexpr bool is_reg_name_char(char c) noexcept {
    if (is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return std::string_view("-._~!$&'()*+,;=").find(c) != std::string_view::npos;
}

// uri-host [ ":" port ]: reg-name / IPv4address / "[" IPv6address "]", port 0..65535.
// Refusing '@', '/', '\' and spaces here is what keeps "Host: a@b" or "Host: a/b" from
// meaning one host to this proxy and another to the app.
constexpr bool is_valid_host(std::string_view s) noexcept {
    if (s.empty()) return false;
    std::size_t i = 0;
    if (s[0] == '[') {
        const auto close = s.find(']');
        if (close == std::string_view::npos || close == 1) return false;
        for (std::size_t k = 1; k < close; ++k)
            if (!(is_hexdig(s[k]) || s[k] == ':' || s[k] == '.')) return false;
        i = close + 1;
    } else {
        while (i < s.size() && s[i] != ':') {
            if (s[i] == '%') {
                if (i + 2 >= s.size() || !is_hexdig(s[i + 1]) || !is_hexdig(s[i + 2])) return false;
                i += 3;
                continue;
            }
            if (!is_reg_name_char(s[i])) return false;
            ++i;
        }
        if (i == 0) return false;
    }
    if (i == s.size()) return true;
    if (s[i] != ':') return false;
    const std::string_view port = s.substr(i + 1);
    if (port.empty() || port.size() > 5) return false;
    unsigned v = 0;
    for (char c : port) {
        if (!is_digit(c)) return false;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    return v <= 65535;
}

// RFC 6455 4.1: the key is a base64-encoded 16-byte nonce, so 22 base64 characters and
// "==". The exact shape, not just presence: a server must answer anything else with 400,
// and an upstream that answers 101 regardless would get a tunnel nobody validated.
constexpr bool is_websocket_key(std::string_view s) noexcept {
    if (s.size() != 24 || s.substr(22) != "==") return false;
    for (char c : s.substr(0, 22)) {
        const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
        if (!(alpha || is_digit(c) || c == '+' || c == '/')) return false;
    }
    return true;
}

// True when any element of a comma-separated list equals token, case-insensitively;
// with_version also accepts "token/version" (Upgrade's protocol form).
constexpr bool list_has(std::string_view value, std::string_view token, bool with_version) noexcept {
    list_walker items(value);
    std::string_view item;
    while (items.next(item)) {
        if (with_version) item = item.substr(0, item.find('/'));
        if (iequals(trim_ows(item), token)) return true;
    }
    return false;
}

// Folds the Transfer-Encoding codings of every field, in order, into the facts the
// framing decision needs.
struct te_summary {
    bool present = false;
    bool malformed = false;  // quoted, parameters, or not a token
    unsigned chunked_count = 0;
    bool chunked_last = false;
    bool other_before_chunked = false;

    void add_field(std::string_view value) noexcept {
        present = true;
        list_walker codings(value);
        std::string_view coding;
        while (codings.next(coding)) {
            // A parameter or a quoted coding is refused outright: Beast reads
            // "chunked;x=1" as chunked, other servers do not.
            if (!is_token(coding)) {
                malformed = true;
                continue;
            }
            if (iequals(coding, "chunked")) {
                ++chunked_count;
                chunked_last = true;
            } else {
                if (chunked_count == 0) other_before_chunked = true;
                chunked_last = false;
            }
        }
    }

    // Exactly one chunked, and last: the only encoding this proxy relays.
    bool only_chunked() const noexcept {
        return !malformed && chunked_count == 1 && chunked_last && !other_before_chunked;
    }
};

}  // namespace

head_scan scan_request_head(std::string_view data, const head_limits& limits) noexcept {
    head_scan out;
    // Only the first max_header_size bytes may hold the head: scanning no further keeps
    // every verdict a function of bytes that a shorter read would have seen, so a head
    // split at any offset gives the same answer.
    const std::size_t limit = std::min(data.size(), limits.max_header_size);
    const char* const p = data.data();
    std::size_t i = 0;
    bool in_target = false;

    // Runs out of bytes: wait for more, unless the head can no longer fit. A request
    // line that has not ended within the limit is answered as too long a URI (as nginx
    // does), since the target is what made it so.
    const auto need_more = [&]() noexcept {
        if (data.size() > limits.max_header_size)
            out.error = in_target ? fail(414, "request-target exceeds the head size limit")
                                  : fail(431, "request head too large");
        return out;
    };
    const auto reject = [&](framing_error e) noexcept {
        out.error = e;
        return out;
    };

    // RFC 9112 2.2: empty lines before the request line are tolerated, bare LF is not.
    while (i < limit) {
        if (p[i] == '\r') {
            if (i + 1 >= limit) return need_more();
            if (p[i + 1] != '\n') return reject(fail(400, "bare CR before the request line"));
            i += 2;
            out.skip = i;
            continue;
        }
        if (p[i] == '\n') return reject(fail(400, "bare LF before the request line"));
        break;
    }

    // method SP
    const std::size_t method_begin = i;
    while (i < limit && is_tchar(p[i])) ++i;
    if (i == limit) return need_more();
    if (p[i] != ' ') return reject(fail(400, "invalid byte in method"));
    if (i == method_begin) return reject(fail(400, "empty method"));
    ++i;

    // request-target SP; its length is checked per byte so that an endless target is
    // refused before the head limit.
    const std::size_t target_begin = i;
    in_target = true;
    while (i < limit && is_target_byte(p[i])) {
        ++i;
        if (i - target_begin > limits.max_uri_size) return reject(fail(414, "request-target too long"));
    }
    if (i == limit) return need_more();
    in_target = false;
    if (i == target_begin) return reject(fail(400, "empty request-target or extra space"));
    if (p[i] == '\r' || p[i] == '\n') return reject(fail(400, "HTTP/0.9 request line"));
    if (p[i] != ' ') return reject(fail(400, "invalid byte in request-target"));
    ++i;

    // HTTP-version CRLF, byte by byte so a wrong byte is reported at once.
    constexpr std::string_view version_shape = "HTTP/0.0";
    for (char expected : version_shape) {
        if (i == limit) return need_more();
        const bool good = expected == '0' ? is_digit(p[i]) : p[i] == expected;
        if (!good) return reject(fail(400, "malformed HTTP version"));
        ++i;
    }
    const char major = p[i - 3];
    const char minor = p[i - 1];
    if (i == limit) return need_more();
    if (p[i] != '\r') return reject(fail(400, "malformed HTTP version"));
    if (++i == limit) return need_more();
    if (p[i] != '\n') return reject(fail(400, "bare CR in request line"));
    ++i;
    if (major != '1' || (minor != '0' && minor != '1'))
        return reject(fail(505, "HTTP version not supported"));

    // field-line CRLF ... CRLF
    std::size_t fields = 0;
    for (;;) {
        if (i == limit) return need_more();
        if (p[i] == '\r') {
            if (i + 1 == limit) return need_more();
            if (p[i + 1] != '\n') return reject(fail(400, "bare CR ending the head"));
            out.end = i + 2;
            return out;
        }
        if (p[i] == '\n') return reject(fail(400, "bare LF in head"));
        // Also covers whitespace before the first field (RFC 9112 2.2 allows rejecting it).
        if (p[i] == ' ' || p[i] == '\t') return reject(fail(400, "obsolete line folding"));
        if (++fields > limits.max_headers) return reject(fail(431, "too many header fields"));

        const std::size_t name_begin = i;
        while (i < limit && is_tchar(p[i])) ++i;
        if (i == limit) return need_more();
        if (p[i] != ':') {
            if (p[i] == ' ' || p[i] == '\t')
                return reject(fail(400, "whitespace between field name and colon"));
            return reject(fail(400, "invalid byte in field name"));
        }
        if (i == name_begin) return reject(fail(400, "empty field name"));
        ++i;

        while (i < limit && is_value_byte(p[i])) ++i;
        if (i == limit) return need_more();
        if (p[i] == '\n') return reject(fail(400, "bare LF in field line"));
        if (p[i] != '\r') return reject(fail(400, "control byte in field value"));
        if (i + 1 == limit) return need_more();
        if (p[i + 1] != '\n') return reject(fail(400, "bare CR in field line"));
        i += 2;
    }
}

framing_error check_request_fields(const request_head& req) noexcept {
    // Refused whatever else the request holds: TRACE reflects credentials back, and
    // CONNECT would turn the gate into an open tunnel. Methods are case-sensitive, but
    // Django and Werkzeug upper-case them, so "trace" is TRACE to the apps behind them.
    const std::string_view method = req.method_string();
    if (iequals(method, "TRACE") || iequals(method, "CONNECT")) return fail(405, "method not allowed");

    const bool http11 = req.version() == 11;
    std::size_t host_count = 0;
    std::string_view host;
    std::size_t cl_count = 0;
    std::string_view cl_value;
    std::size_t expect_count = 0;
    std::string_view expect;
    bool connection_upgrade = false;
    bool upgrade_websocket = false;
    std::size_t ws_key_count = 0;
    std::string_view ws_key;
    te_summary te;
    for (const auto& f : req) {
        switch (f.name()) {
        case http::field::host:
            ++host_count;
            host = f.value();
            break;
        case http::field::content_length:
            ++cl_count;
            cl_value = f.value();
            break;
        case http::field::transfer_encoding: te.add_field(f.value()); break;
        case http::field::expect:
            ++expect_count;
            expect = f.value();
            break;
        case http::field::connection:
            connection_upgrade = connection_upgrade || list_has(f.value(), "upgrade", false);
            break;
        case http::field::upgrade:
            upgrade_websocket = upgrade_websocket || list_has(f.value(), "websocket", true);
            break;
        case http::field::sec_websocket_key:
            ++ws_key_count;
            ws_key = f.value();
            break;
        default: break;
        }
    }

    // Framing first: these are the desync shapes.
    if (cl_count > 1) return fail(400, "more than one Content-Length field");
    std::uint64_t length = 0;
    if (cl_count == 1 && !parse_content_length(cl_value, length)) return fail(400, "invalid Content-Length");
    if (te.present) {
        if (!http11) return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
        if (cl_count != 0) return fail(400, "both Content-Length and Transfer-Encoding");
        if (te.malformed) return fail(400, "malformed Transfer-Encoding");
        if (te.chunked_count == 0 || !te.chunked_last)
            return fail(400, "Transfer-Encoding does not end in chunked");
        if (te.chunked_count > 1) return fail(400, "chunked applied more than once");
        if (te.other_before_chunked) return fail(501, "transfer coding not implemented");
    }

    if (host_count > 1) return fail(400, "more than one Host field");
    if (host_count == 0 && http11) return fail(400, "missing Host");
    if (host_count == 1 && !is_valid_host(host)) return fail(400, "invalid Host");

    const std::string_view target = req.target();
    if (target == "*") {
        if (method != "OPTIONS") return fail(400, "asterisk-form only with OPTIONS");
    } else if (target.empty() || target.front() != '/') {
        std::string_view rest;
        if (istarts_with(target, "http://"))
            rest = target.substr(7);
        else if (istarts_with(target, "https://"))
            rest = target.substr(8);
        else
            return fail(400, "invalid request-target form");
        // authority ends where path-abempty or the query begins.
        const std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
        if (!is_valid_host(authority)) return fail(400, "invalid authority in absolute-form");
        // RFC 9112 3.2.2 lets a server ignore Host here; refusing a mismatch instead
        // means the policy and the app can never see two different hosts.
        if (host_count == 1 && !iequals(authority, host))
            return fail(400, "absolute-form authority differs from Host");
    }

    // RFC 9110 10.1.1: an HTTP/1.0 client's 100-continue is ignored, not refused; the
    // session forwards no Expect for it. Expect is a list (5.6.1), and an empty one asks
    // for nothing: it is taken as none, as nginx and HAProxy do, and not forwarded.
    if (expect_count > 1 || (expect_count == 1 && !expect.empty() && !iequals(expect, "100-continue")))
        return fail(417, "unsupported expectation");

    // A WebSocket handshake the proxy would tunnel (HTTP/1.1, Connection: upgrade) must be
    // one: refused here, as HAProxy does, rather than left to an upstream that might
    // switch protocols on anything. Without Connection: upgrade, or in HTTP/1.0, the
    // Upgrade field is dropped and the request is an ordinary one.
    if (http11 && connection_upgrade && upgrade_websocket && (ws_key_count != 1 || !is_websocket_key(ws_key)))
        return fail(400, "WebSocket upgrade without a valid Sec-WebSocket-Key");
    return ok;
}

framing_error check_chunk_size(std::uint64_t size) noexcept {
    if (size > max_length) return fail(400, "chunk size over 63 bits");
    return ok;
}

namespace {

// The fields a trailer may not carry: an app that merges trailers into its headers
// would see framing or routing the proxy never checked.
constexpr std::array<http::field, 10> trailer_refused{
    http::field::content_length, http::field::transfer_encoding, http::field::host,
    http::field::connection,     http::field::trailer,           http::field::te,
    http::field::upgrade,        http::field::keep_alive,        http::field::proxy_connection,
    http::field::expect,
};

}  // namespace

bool refused_in_trailers(http::field f) noexcept {
    for (const auto r : trailer_refused)
        if (r == f) return true;
    return false;
}

namespace {

// Beast maps a name to a known field only on an exact, case-insensitive match, and no
// registered field name holds '_' (framing_test checks every one), so only unknown
// fields need their name read.
bool has_underscore(const head_field& f) noexcept {
    return f.name() == http::field::unknown && f.name_string().find('_') != std::string_view::npos;
}

// '_' and '-' alike, ASCII case ignored: how a CGI gateway folds names into HTTP_*.
constexpr bool same_cgi_name(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const char x = a[i] == '_' ? '-' : ascii_lower(a[i]);
        const char y = b[i] == '_' ? '-' : ascii_lower(b[i]);
        if (x != y) return false;
    }
    return true;
}

}  // namespace

underscore_result apply_underscore_policy(request_head& req, underscores_policy policy) noexcept {
    underscore_result out;
    for (auto it = req.begin(); it != req.end();) {
        if (!has_underscore(*it)) {
            ++it;
            continue;
        }
        ++out.fields;
        if (policy == underscores_policy::reject) {
            out.error = fail(400, "underscore in a header field name");
            return out;
        }
        // erase() moves the later fields down one, and returns the next.
        if (policy == underscores_policy::drop)
            it = req.erase(it);
        else
            ++it;
    }
    return out;
}

std::string_view find_underscore_alias(const request_head& req, std::string_view name) noexcept {
    for (const auto& f : req)
        if (has_underscore(f) && same_cgi_name(f.name_string(), name)) return f.value();
    return {};
}

framing_error check_response_fields(const response_head& res) noexcept {
    bool have_length = false;
    std::uint64_t length = 0;
    te_summary te;
    for (const auto& f : res) {
        if (f.name() == http::field::transfer_encoding) {
            te.add_field(f.value());
            continue;
        }
        if (f.name() != http::field::content_length) continue;
        // Upstreams do repeat an identical length ("5, 5" or two fields); that is still
        // one length and safe to relay. Anything else is not.
        list_walker values(f.value());
        std::string_view item;
        bool any = false;
        while (values.next(item)) {
            any = true;
            std::uint64_t v = 0;
            if (!parse_content_length(item, v)) return fail(502, "invalid Content-Length from upstream");
            if (have_length && v != length) return fail(502, "conflicting Content-Length from upstream");
            have_length = true;
            length = v;
        }
        if (!any) return fail(502, "empty Content-Length from upstream");
    }
    if (te.present) {
        if (have_length) return fail(502, "both Content-Length and Transfer-Encoding from upstream");
        // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
        if (res.version() != 11) return fail(502, "Transfer-Encoding in an HTTP/1.0 response");
        // Another coding under chunked could not be relayed either: the client is sent
        // the decoded chunks with a fresh Transfer-Encoding.
        if (!te.only_chunked()) return fail(502, "Transfer-Encoding other than chunked from upstream");
    }
    return ok;
}

}  // namespace maintgate::proxy
