#include "proxy/http/forward.hpp"

#include <catch2/catch.hpp>

#include "policy/ascii.hpp"
#include "tests/proxy/http/make_request.hpp"

#include <string>
#include <utility>
#include <vector>

using namespace maintgate;
using namespace maintgate::proxy;

namespace {

using test::field_list;
using test::make_request;

// Every value of a field, in order, joined as a list: what a receiver would see.
std::string values(const head_fields& f, std::string_view name) {
    std::string out;
    for (const auto& field : f) {
        if (!policy::iequals(field.name_string(), name)) continue;
        if (!out.empty()) out += ", ";
        out += std::string(field.value());
    }
    return out;
}

std::size_t count(const head_fields& f, std::string_view name) { return f.count(name); }

policy::cidr cidr_of(std::string_view text) {
    auto r = policy::parse_cidr(text);
    REQUIRE(r.value.has_value());
    return *r.value;
}

struct peer {
    policy::ip_address address;
    std::string text;
};

peer make_peer(std::string_view text) {
    const auto a = policy::parse_ip(text);
    REQUIRE(a.has_value());
    return {*a, std::string(text)};
}

// The rendered head parsed back (by Beast's parser, as the session reads heads): what
// the next hop sees.
template <bool isRequest>
typename head_parser<isRequest>::head_type parse_head(const std::string& bytes) {
    const auto parsed = test::parse_text<isRequest>(bytes);
    INFO(bytes);
    REQUIRE_FALSE(parsed.ec);
    REQUIRE(parsed.used == bytes.size());
    return *parsed.head;
}

request_head forwarded(const request_head& req, const forward_context& ctx, bool upgrade,
                       request_head_options o = {}) {
    o.upgrade = upgrade;
    std::string out = "stale bytes";  // render clears it
    render_request_head(req, ctx, o, out);
    return parse_head<true>(out);
}

response_head relayed(const response_head& res, const response_head_options& o) {
    std::string out;
    render_response_head(res, o, out);
    return parse_head<false>(out);
}

}  // namespace

TEST_CASE("render_request_head removes hop-by-hop fields", "[forward]") {
    const auto client = make_peer("203.0.113.7");
    forward_context ctx;
    ctx.peer = client.address;
    ctx.peer_text = client.text;

    auto req = make_request("POST", "/x", 11,
                            {{"Host", "app.example"},
                             {"Connection", "keep-alive, X-Secret, Host, Content-Length"},
                             {"Connection", "x-other"},
                             {"Keep-Alive", "timeout=5"},
                             {"Proxy-Connection", "keep-alive"},
                             {"TE", "trailers"},
                             {"Trailer", "X-Checksum"},
                             {"Transfer-Encoding", "chunked"},
                             {"Upgrade", "websocket"},
                             {"HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA"},
                             {"X-Secret", "1"},
                             {"x-secret", "2"},
                             {"X-Other", "3"},
                             {"Content-Length", "5"},
                             {"Content-Type", "text/plain"},
                             {"Authorization", "Bearer t"}});
    req = forwarded(req, ctx, false);

    for (std::string_view gone : {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
                                  "Transfer-Encoding", "Upgrade", "HTTP2-Settings", "X-Secret", "X-Other"}) {
        INFO(gone);
        CHECK(count(req, gone) == 0);
    }
    // Named by Connection, but never dropped: the request would change meaning or framing.
    CHECK(values(req, "Host") == "app.example");
    CHECK(values(req, "Content-Length") == "5");
    // End-to-end fields pass.
    CHECK(values(req, "Content-Type") == "text/plain");
    CHECK(values(req, "Authorization") == "Bearer t");
}

TEST_CASE("render_request_head: a field named right after Connection is erased safely", "[forward]") {
    // Beast's equal_range ends at the field after the last Connection; erasing that one
    // while walking the range leaves the loop chasing a freed end: it never stops (seen
    // with Boost 1.81) or reads freed memory.
    forward_context ctx;
    const auto client = make_peer("203.0.113.7");
    ctx.peer = client.address;
    ctx.peer_text = client.text;
    auto req =
        make_request("GET", "/", 11, {{"Connection", "dOOm"}, {"doom", "x"}, {"Host", "a"}, {"Doom", "y"}});
    req = forwarded(req, ctx, false);
    CHECK(count(req, "doom") == 0);
    CHECK(count(req, "Connection") == 0);
    CHECK(values(req, "Host") == "a");
}

TEST_CASE("render_request_head: X-Forwarded-* from untrusted and trusted peers", "[forward]") {
    const std::vector<policy::cidr> trusted{cidr_of("10.0.0.0/8"), cidr_of("2001:db8:1::/48")};

    struct row {
        const char* name;
        std::string_view peer;
        bool tls;
        field_list in;
        std::string xff, proto, xhost;
    };
    const std::vector<row> rows{
        {"untrusted, nothing sent",
         "203.0.113.7",
         false,
         {{"Host", "app.example"}},
         "203.0.113.7",
         "http",
         "app.example"},
        {"untrusted, spoofed values replaced",
         "203.0.113.7",
         true,
         {{"Host", "app.example"},
          {"X-Forwarded-For", "127.0.0.1"},
          {"X-Forwarded-For", "10.0.0.1"},
          {"X-Forwarded-Proto", "https"},
          {"X-Forwarded-Host", "admin.internal"}},
         "203.0.113.7",
         "https",
         "app.example"},
        {"untrusted, proto set from the connection",
         "203.0.113.7",
         false,
         {{"Host", "app.example"}, {"X-Forwarded-Proto", "https"}},
         "203.0.113.7",
         "http",
         "app.example"},
        {"untrusted IPv6",
         "2001:db8:9::5",
         false,
         {{"Host", "app.example"}, {"X-Forwarded-For", "1.2.3.4"}},
         "2001:db8:9::5",
         "http",
         "app.example"},
        {"trusted, chain appended",
         "10.1.2.3",
         false,
         {{"Host", "app.example"},
          {"X-Forwarded-For", "198.51.100.1"},
          {"X-Forwarded-Proto", "https"},
          {"X-Forwarded-Host", "www.example"}},
         "198.51.100.1, 10.1.2.3",
         "https",
         "www.example"},
        {"trusted, two XFF fields joined",
         "10.1.2.3",
         false,
         {{"Host", "app.example"}, {"X-Forwarded-For", "198.51.100.1"}, {"x-forwarded-for", "192.0.2.9"}},
         "198.51.100.1, 192.0.2.9, 10.1.2.3",
         "http",
         "app.example"},
        {"trusted, nothing sent",
         "10.1.2.3",
         true,
         {{"Host", "app.example"}},
         "10.1.2.3",
         "https",
         "app.example"},
        {"trusted IPv6 appended bare",
         "2001:db8:1::9",
         false,
         {{"Host", "app.example"}, {"X-Forwarded-For", "198.51.100.1"}},
         "198.51.100.1, 2001:db8:1::9",
         "http",
         "app.example"},
        {"trusted, empty XFF",
         "10.1.2.3",
         false,
         {{"Host", "app.example"}, {"X-Forwarded-For", ""}},
         "10.1.2.3",
         "http",
         "app.example"},
        // A v4-mapped peer from a dual-stack socket is the IPv4 address.
        {"trusted mapped IPv4",
         "::ffff:10.9.9.9",
         false,
         {{"Host", "a"}, {"X-Forwarded-For", "1.1.1.1"}},
         "1.1.1.1, ::ffff:10.9.9.9",
         "http",
         "a"},
    };
    for (const auto& r : rows) {
        INFO(r.name);
        const auto client = make_peer(r.peer);
        forward_context ctx;
        ctx.peer = client.address;
        ctx.peer_text = client.text;
        ctx.tls = r.tls;
        ctx.trusted_proxies = trusted;
        auto req = make_request("GET", "/", 11, r.in);
        req = forwarded(req, ctx, false);
        CHECK(values(req, "X-Forwarded-For") == r.xff);
        CHECK(count(req, "X-Forwarded-For") == 1);
        CHECK(values(req, "X-Forwarded-Proto") == r.proto);
        CHECK(values(req, "X-Forwarded-Host") == r.xhost);
    }
}

TEST_CASE("render_request_head: Forwarded and X-Real-IP only from trusted peers", "[forward]") {
    const std::vector<policy::cidr> trusted{cidr_of("10.0.0.0/8")};
    const field_list in{
        {"Host", "app.example"}, {"Forwarded", "for=127.0.0.1;proto=https"}, {"X-Real-IP", "127.0.0.1"}};
    for (bool from_trusted : {false, true}) {
        INFO("trusted peer: " << from_trusted);
        const auto client = make_peer(from_trusted ? "10.1.2.3" : "203.0.113.7");
        forward_context ctx;
        ctx.peer = client.address;
        ctx.peer_text = client.text;
        ctx.trusted_proxies = trusted;
        auto req = make_request("GET", "/", 11, in);
        req = forwarded(req, ctx, false);
        CHECK(count(req, "Forwarded") == (from_trusted ? 1 : 0));
        CHECK(count(req, "X-Real-IP") == (from_trusted ? 1 : 0));
    }
}

TEST_CASE("render_request_head: peer text falls back to the address", "[forward]") {
    forward_context ctx;
    ctx.peer = policy::ip_from_v4(0xC0000201u);
    auto req = make_request("GET", "/", 11, {{"Host", "a"}});
    req = forwarded(req, ctx, false);
    CHECK(values(req, "X-Forwarded-For") == "192.0.2.1");
}

TEST_CASE("render_request_head: Via, host_override, version", "[forward]") {
    const auto client = make_peer("203.0.113.7");
    struct row {
        const char* name;
        bool via;
        std::string_view host_override;
        unsigned version;
        field_list in;
        std::string via_out, host_out, xhost_out;
    };
    const std::vector<row> rows{
        {"via added", true, "", 11, {{"Host", "a"}}, "1.1 maintgate", "a", "a"},
        {"via appended",
         true,
         "",
         11,
         {{"Host", "a"}, {"Via", "1.1 cdn"}},
         "1.1 cdn, 1.1 maintgate",
         "a",
         "a"},
        {"via fields joined",
         true,
         "",
         11,
         {{"Host", "a"}, {"Via", "1.0 x"}, {"Via", "1.1 y"}},
         "1.0 x, 1.1 y, 1.1 maintgate",
         "a",
         "a"},
        {"via off keeps theirs", false, "", 11, {{"Host", "a"}, {"Via", "1.1 cdn"}}, "1.1 cdn", "a", "a"},
        {"via off", false, "", 11, {{"Host", "a"}}, "", "a", "a"},
        {"host override",
         true,
         "127.0.0.1:3000",
         11,
         {{"Host", "app.example"}},
         "1.1 maintgate",
         "127.0.0.1:3000",
         "app.example"},
        {"HTTP/1.0 becomes 1.1", true, "", 10, {{"Host", "a"}}, "1.1 maintgate", "a", "a"},
        {"HTTP/1.0 without Host", true, "", 10, {{"X-Forwarded-Host", "spoof"}}, "1.1 maintgate", "", ""},
    };
    for (const auto& r : rows) {
        INFO(r.name);
        forward_context ctx;
        ctx.peer = client.address;
        ctx.peer_text = client.text;
        ctx.via = r.via;
        ctx.host_override = r.host_override;
        auto req = make_request("GET", "/", r.version, r.in);
        req = forwarded(req, ctx, false);
        CHECK(values(req, "Via") == r.via_out);
        CHECK(count(req, "Via") <= 1);
        CHECK(values(req, "Host") == r.host_out);
        CHECK(count(req, "Host") == (r.host_out.empty() ? 0u : 1u));
        CHECK(values(req, "X-Forwarded-Host") == r.xhost_out);
        CHECK(req.version() == 11);
    }
}

TEST_CASE("render_request_head: absolute-form becomes origin-form", "[forward]") {
    const auto client = make_peer("203.0.113.7");
    struct row {
        std::string target;
        unsigned version;
        field_list in;
        std::string target_out;
        std::string host_out;
    };
    const std::vector<row> rows{
        {"http://app.example/a/b?c=d", 11, {{"Host", "app.example"}}, "/a/b?c=d", "app.example"},
        {"HTTPS://app.example:8443/", 11, {{"Host", "app.example:8443"}}, "/", "app.example:8443"},
        {"http://app.example", 11, {{"Host", "app.example"}}, "/", "app.example"},
        {"http://app.example?q=1", 11, {{"Host", "app.example"}}, "/?q=1", "app.example"},
        {"http://app.example/" + std::string(600, 'p'),
         11,
         {{"Host", "app.example"}},
         "/" + std::string(600, 'p'),
         "app.example"},
        {"http://app.example?" + std::string(600, 'q'),
         11,
         {{"Host", "app.example"}},
         "/?" + std::string(600, 'q'),
         "app.example"},
        // HTTP/1.0 may send no Host; the authority supplies it.
        {"http://app.example/x", 10, {}, "/x", "app.example"},
        {"/already/origin?x", 11, {{"Host", "a"}}, "/already/origin?x", "a"},
        {"*", 11, {{"Host", "a"}}, "*", "a"},
    };
    for (const auto& r : rows) {
        INFO(r.target);
        forward_context ctx;
        ctx.peer = client.address;
        ctx.peer_text = client.text;
        auto req = make_request(r.target == "*" ? "OPTIONS" : "GET", r.target, r.version, r.in);
        req = forwarded(req, ctx, false);
        CHECK(req.target() == r.target_out);
        CHECK(values(req, "Host") == r.host_out);
        CHECK(values(req, "X-Forwarded-Host") == r.host_out);
    }
}

TEST_CASE("wants_upgrade", "[forward]") {
    struct row {
        const char* name;
        unsigned version;
        field_list fields;
        bool upgrade;
    };
    const std::vector<row> rows{
        {"websocket", 11, {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}}, true},
        {"connection list", 11, {{"Connection", "keep-alive, upgrade"}, {"Upgrade", "WebSocket"}}, true},
        {"connection in second field",
         11,
         {{"Connection", "keep-alive"}, {"Connection", "UPGRADE"}, {"Upgrade", "websocket"}},
         true},
        {"no Connection: upgrade", 11, {{"Connection", "keep-alive"}, {"Upgrade", "websocket"}}, false},
        {"no Connection", 11, {{"Upgrade", "websocket"}}, false},
        {"no Upgrade", 11, {{"Connection", "upgrade"}}, false},
        {"empty Upgrade", 11, {{"Connection", "upgrade"}, {"Upgrade", ""}}, false},
        {"HTTP/1.0", 10, {{"Connection", "upgrade"}, {"Upgrade", "websocket"}}, false},
        {"h2c",
         11,
         {{"Connection", "Upgrade, HTTP2-Settings"},
          {"Upgrade", "h2c"},
          {"HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA"}},
         false},
        {"H2C uppercase", 11, {{"Connection", "upgrade"}, {"Upgrade", "H2C"}}, false},
        {"h2c among others", 11, {{"Connection", "upgrade"}, {"Upgrade", "websocket, h2c"}}, false},
        {"h2c in second field",
         11,
         {{"Connection", "upgrade"}, {"Upgrade", "websocket"}, {"Upgrade", "h2c"}},
         false},
        {"h2c with version", 11, {{"Connection", "upgrade"}, {"Upgrade", "h2c/1"}}, false},
        {"h2c-like name is not h2c", 11, {{"Connection", "upgrade"}, {"Upgrade", "h2cx"}}, true},
    };
    for (const auto& r : rows) {
        INFO(r.name);
        const auto req = make_request("GET", "/chat", r.version, r.fields);
        CHECK(wants_upgrade(req) == r.upgrade);
    }
}

TEST_CASE("render_request_head keeps the upgrade only when asked", "[forward]") {
    const auto client = make_peer("203.0.113.7");
    forward_context ctx;
    ctx.peer = client.address;
    ctx.peer_text = client.text;
    const field_list fields{{"Host", "a"},
                            {"Connection", "Upgrade, keep-alive"},
                            {"Upgrade", "websocket"},
                            {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                            {"Sec-WebSocket-Version", "13"}};

    const auto kept = forwarded(make_request("GET", "/chat", 11, fields), ctx, true);
    CHECK(values(kept, "Connection") == "upgrade");
    CHECK(values(kept, "Upgrade") == "websocket");
    CHECK(values(kept, "Sec-WebSocket-Key") == "dGhlIHNhbXBsZSBub25jZQ==");
    CHECK(values(kept, "Sec-WebSocket-Version") == "13");

    const auto dropped = forwarded(make_request("GET", "/chat", 11, fields), ctx, false);
    CHECK(count(dropped, "Connection") == 0);
    CHECK(count(dropped, "Upgrade") == 0);
    CHECK(values(dropped, "Sec-WebSocket-Key") == "dGhlIHNhbXBsZSBub25jZQ==");

    // h2c: never an upgrade, so the caller passes false and nothing of it survives.
    const auto h2c = make_request("GET", "/", 11,
                                  {{"Host", "a"},
                                   {"Connection", "Upgrade, HTTP2-Settings"},
                                   {"Upgrade", "h2c"},
                                   {"HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA"}});
    REQUIRE_FALSE(wants_upgrade(h2c));
    const auto h2c_up = forwarded(h2c, ctx, wants_upgrade(h2c));
    CHECK(count(h2c_up, "Upgrade") == 0);
    CHECK(count(h2c_up, "HTTP2-Settings") == 0);
    CHECK(count(h2c_up, "Connection") == 0);
}

TEST_CASE("render_response_head", "[forward]") {
    struct row {
        const char* name;
        bool via;
        bool upgrade;
        field_list in;
        field_list expected;  // every field expected afterwards, with its joined value
        std::vector<std::string> gone;
    };
    const std::vector<row> rows{
        {"hop-by-hop removed",
         true,
         false,
         {{"Connection", "close, X-Internal"},
          {"Keep-Alive", "timeout=5"},
          {"Proxy-Connection", "close"},
          {"Transfer-Encoding", "chunked"},
          {"Trailer", "X-Checksum"},
          {"TE", "trailers"},
          {"Upgrade", "h2c"},
          {"X-Internal", "secret"},
          {"Content-Type", "text/html"},
          {"Set-Cookie", "a=1"},
          {"Set-Cookie", "b=2"}},
         {{"Content-Type", "text/html"}, {"Set-Cookie", "a=1, b=2"}, {"Via", "1.1 maintgate"}},
         {"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Trailer", "TE", "Upgrade",
          "X-Internal"}},
        {"Content-Length protected",
         false,
         false,
         {{"Connection", "Content-Length"}, {"Content-Length", "12"}},
         {{"Content-Length", "12"}, {"Via", ""}},
         {"Connection"}},
        {"via appended", true, false, {{"Via", "1.1 app"}}, {{"Via", "1.1 app, 1.1 maintgate"}}, {}},
        {"101 upgrade kept",
         true,
         true,
         {{"Connection", "Upgrade"},
          {"Upgrade", "websocket"},
          {"Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}},
         {{"Connection", "upgrade"},
          {"Upgrade", "websocket"},
          {"Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}},
         {}},
        {"upgrade not asked",
         true,
         false,
         {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}},
         {{"Via", "1.1 maintgate"}},
         {"Connection", "Upgrade"}},
    };
    for (const auto& r : rows) {
        INFO(r.name);
        const auto res = relayed(response_head::build(r.upgrade ? 101 : 200, "", 11, r.in),
                                 {.via = r.via, .upgrade = r.upgrade});
        for (const auto& [name, value] : r.expected) {
            INFO(name);
            CHECK(values(res, name) == value);
        }
        for (const auto& name : r.gone) {
            INFO(name);
            CHECK(count(res, name) == 0);
        }
    }
}

TEST_CASE("render_request_head: exact bytes, and the session's framing options", "[forward]") {
    const auto client = make_peer("203.0.113.7");
    forward_context ctx;
    ctx.peer = client.address;
    ctx.peer_text = client.text;

    auto req = make_request("GET", "/a?b=1", 11, {{"Host", "app.example"}, {"Accept", "*/*"}});
    std::string out;
    render_request_head(req, ctx, {}, out);
    CHECK(out ==
          "GET /a?b=1 HTTP/1.1\r\nHost: app.example\r\nAccept: */*\r\n"
          "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: http\r\n"
          "X-Forwarded-Host: app.example\r\nVia: 1.1 maintgate\r\n\r\n");
    // The parsed request itself is not touched.
    CHECK(req.count("X-Forwarded-For") == 0);

    auto post = make_request("POST", "/up", 11,
                             {{"Host", "app.example"},
                              {"Transfer-Encoding", "gzip, chunked"},
                              {"Expect", "100-continue"},
                              {"X-Maintgate-Bypass", "secret"},
                              {"x-maintgate-bypass", "again"}});
    request_head_options o;
    o.chunked = true;
    o.drop_expect = true;
    o.drop_field = "X-Maintgate-Bypass";
    const auto up = forwarded(post, ctx, false, o);
    CHECK(values(up, "Transfer-Encoding") == "chunked");
    CHECK(count(up, "Expect") == 0);
    CHECK(count(up, "X-Maintgate-Bypass") == 0);

    o = {};
    const auto kept = forwarded(post, ctx, false, o);
    CHECK(values(kept, "Expect") == "100-continue");
    CHECK(count(kept, "Transfer-Encoding") == 0);  // the caller frames the body
    CHECK(count(kept, "X-Maintgate-Bypass") == 2);

    // HTTP/1.0 without Host and without an absolute-form target: the default.
    auto old = make_request("GET", "/", 10, {});
    o.default_host = "10.0.0.5:8080";
    const auto h = forwarded(old, ctx, false, o);
    CHECK(values(h, "Host") == "10.0.0.5:8080");
    CHECK(count(h, "X-Forwarded-Host") == 0);
    CHECK(h.version() == 11);
}

TEST_CASE("render_request_head: a page that gets the banner is asked for identity", "[forward]") {
    const auto client = make_peer("203.0.113.7");
    forward_context ctx;
    ctx.peer = client.address;
    ctx.peer_text = client.text;
    auto req =
        make_request("GET", "/", 11,
                     {{"Host", "app.example"}, {"Accept-Encoding", "gzip, br"}, {"accept-encoding", "zstd"}});
    request_head_options o;
    CHECK(values(forwarded(req, ctx, false, o), "Accept-Encoding") == "gzip, br, zstd");
    o.identity = true;
    const auto up = forwarded(req, ctx, false, o);
    CHECK(values(up, "Accept-Encoding") == "identity");
    CHECK(count(up, "Accept-Encoding") == 1);
    // Without one from the client, the same.
    auto bare = make_request("GET", "/", 11, {{"Host", "app.example"}});
    CHECK(values(forwarded(bare, ctx, false, o), "Accept-Encoding") == "identity");
}

TEST_CASE("render_response_head: status line, framing and the gate's fields", "[forward]") {
    const field_list fields{{"Content-Type", "text/plain"}, {"X-Maintgate-Mode", "forged"}};
    auto res = response_head::build(404, "", 10, fields);
    std::string out;
    render_response_head(res, {.via = false}, out);
    CHECK(out == "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nX-Maintgate-Mode: forged\r\n\r\n");

    res = response_head::build(404, "Nope", 10, fields);
    render_response_head(res, {.via = false, .chunked = true, .mode = "read-only", .connection = "close"},
                         out);
    CHECK(out ==
          "HTTP/1.1 404 Nope\r\nContent-Type: text/plain\r\nConnection: close\r\n"
          "Transfer-Encoding: chunked\r\nX-Maintgate-Mode: read-only\r\n\r\n");

    // The listener's HSTS fills in; the app's own wins.
    auto plain = response_head::build(200, "", 11, {});
    render_response_head(plain, {.via = false, .hsts = "max-age=60"}, out);
    CHECK(out == "HTTP/1.1 200 OK\r\nStrict-Transport-Security: max-age=60\r\n\r\n");
    plain = response_head::build(200, "", 11, {{"Strict-Transport-Security", "max-age=1"}});
    render_response_head(plain, {.via = false, .hsts = "max-age=60"}, out);
    CHECK(out == "HTTP/1.1 200 OK\r\nStrict-Transport-Security: max-age=1\r\n\r\n");
}
