#include "proxy/http/framing.hpp"

#include "tests/alloc_counter.hpp"
#include "tests/proxy/http/make_request.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

using namespace maintgate;
using namespace maintgate::proxy;
using maintgate::test::allocations;
using namespace std::string_literals;

namespace {

const head_limits default_limits{};

std::string repeat(char c, std::size_t n) { return std::string(n, c); }

// Printable form for failure messages: control bytes as \xNN.
std::string show(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (c == '\r')
            out += "\\r";
        else if (c == '\n')
            out += "\\n";
        else if (c < 0x20 || c >= 0x7f) {
            static const char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else
            out += static_cast<char>(c);
    }
    return out.size() > 200 ? out.substr(0, 200) + "..." : out;
}

// The incremental contract: every prefix either waits (no end, no error), or already
// reports exactly what the whole input reports. So an error never depends on where a
// read happened to stop, and never comes later than the bytes that prove it.
void check_every_split(std::string_view raw, const head_limits& limits) {
    const auto full = scan_request_head(raw, limits);
    for (std::size_t k = 0; k <= raw.size(); ++k) {
        const auto part = scan_request_head(raw.substr(0, k), limits);
        INFO("prefix of " << k << " bytes");
        if (part.error) {
            CHECK(part.error.status == full.error.status);
            CHECK(std::string_view(part.error.detail) == full.error.detail);
        } else if (part.end != 0) {
            CHECK(part.end == full.end);
            CHECK_FALSE(full.error);
        } else {
            // Still waiting: the whole input must need bytes past this prefix.
            CHECK((full.error || full.end > k));
        }
    }
}

struct scan_row {
    const char* name;
    std::string raw;
    unsigned status;  // 0: a complete, valid head
};

}  // namespace

TEST_CASE("scan_request_head: table of request heads", "[framing]") {
    const std::string ok_line = "GET / HTTP/1.1\r\n";
    const std::vector<scan_row> rows{
        {"minimal", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
        {"no fields", "GET / HTTP/1.1\r\n\r\n", 0},
        {"HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", 0},
        {"leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
        {"OWS and obs-text in value", "GET / HTTP/1.1\r\nX: \t a \xff\x80 b\t \r\n\r\n", 0},
        {"empty value", "GET / HTTP/1.1\r\nX:\r\n\r\n", 0},
        {"tchar method and name", "M-S.E_A~R!C#H$ /x HTTP/1.1\r\nX-a'b*c+d^e`f|g%h&: v\r\n\r\n", 0},
        {"absolute target", "GET http://a/b?c=d HTTP/1.1\r\nHost: a\r\n\r\n", 0},
        {"asterisk target", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0},

        // request line
        {"bare LF before request line", "\nGET / HTTP/1.1\r\n\r\n", 400},
        {"bare CR before request line", "\rGET / HTTP/1.1\r\n\r\n", 400},
        {"bare LF ends request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
        {"bare CR ends request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400},
        {"CR inside request line", "GET /a\rb HTTP/1.1\r\n\r\n", 400},
        {"LF inside request line", "GET /a\nb HTTP/1.1\r\n\r\n", 400},
        {"HTTP/0.9", "GET /\r\n", 400},
        {"HTTP/0.9 bare LF", "GET /\n", 400},
        {"HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 505},
        {"HTTP/1.2", "GET / HTTP/1.2\r\n\r\n", 505},
        {"HTTP/0.9 version", "GET / HTTP/0.9\r\n\r\n", 505},
        {"HTTP/3.0", "GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505},
        {"lowercase version", "GET / http/1.1\r\n\r\n", 400},
        {"two-digit minor", "GET / HTTP/1.10\r\n\r\n", 400},
        {"version without minor", "GET / HTTP/1\r\n\r\n", 400},
        {"version letters", "GET / HTTP/a.b\r\n\r\n", 400},
        {"space after version", "GET / HTTP/1.1 \r\n\r\n", 400},
        {"two spaces after method", "GET  / HTTP/1.1\r\n\r\n", 400},
        {"two spaces after target", "GET /  HTTP/1.1\r\n\r\n", 400},
        {"tab separator", "GET\t/ HTTP/1.1\r\n\r\n", 400},
        {"leading space", " GET / HTTP/1.1\r\n\r\n", 400},
        {"empty method", " / HTTP/1.1\r\n\r\n", 400},
        {"method with slash", "GE/T / HTTP/1.1\r\n\r\n", 400},
        {"method with colon", "GET: / HTTP/1.1\r\n\r\n", 400},
        {"method with NUL", "GE\0T / HTTP/1.1\r\n\r\n"s, 400},
        {"method with high byte", "G\xc3\x89T / HTTP/1.1\r\n\r\n", 400},
        {"target with NUL", "GET /a\0b HTTP/1.1\r\n\r\n"s, 400},
        {"target with DEL", "GET /a\x7f HTTP/1.1\r\n\r\n", 400},
        {"target with obs-text", "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", 400},
        {"target with tab", "GET /a\tb HTTP/1.1\r\n\r\n", 400},
        {"target with a fragment", "GET /a#frag HTTP/1.1\r\n\r\n", 400},
        {"three parts plus one", "GET / HTTP/1.1 extra\r\n\r\n", 400},

        // field lines
        {"bare LF ends field line", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400},
        {"bare CR ends field line", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400},
        {"bare CR inside value", "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 400},
        {"bare LF ends head", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400},
        {"bare CR ends head", "GET / HTTP/1.1\r\nHost: a\r\n\rX", 400},
        {"LF LF ends head", "GET / HTTP/1.1\n\n", 400},
        {"obs-fold with space", "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400},
        {"obs-fold with tab", "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", 400},
        {"space before first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400},
        {"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
        {"tab before colon", "GET / HTTP/1.1\r\nTransfer-Encoding\t: chunked\r\n\r\n", 400},
        {"empty name", "GET / HTTP/1.1\r\n: a\r\n\r\n", 400},
        {"no colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", 400},
        {"NUL in name", "GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n"s, 400},
        {"high byte in name", "GET / HTTP/1.1\r\nH\xc3\xb6st: a\r\n\r\n", 400},
        {"slash in name", "GET / HTTP/1.1\r\nX/Y: a\r\n\r\n", 400},
        {"NUL in value", "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"s, 400},
        {"SOH in value", "GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", 400},
        {"ESC in value", "GET / HTTP/1.1\r\nX: \x1b[31m\r\n\r\n", 400},
        {"VT in value", "GET / HTTP/1.1\r\nX: a\x0b\r\n\r\n", 400},
        {"FF in value", "GET / HTTP/1.1\r\nX: a\x0c\r\n\r\n", 400},
        {"DEL in value", "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", 400},
        {"smuggled request in value", "GET / HTTP/1.1\r\nX: a\nGET /admin HTTP/1.1\r\n\r\n", 400},

        // limits (defaults: 16384 head, 100 fields, 8192 target)
        {"100 fields",
         ok_line +
             [] {
                 std::string s;
                 for (int i = 0; i < 100; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
                 return s;
             }() +
             "\r\n",
         0},
        {"101 fields",
         ok_line +
             [] {
                 std::string s;
                 for (int i = 0; i < 101; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
                 return s;
             }() +
             "\r\n",
         431},
        {"head of 16384 bytes",
         [] {
             std::string s = "GET / HTTP/1.1\r\nX: ";
             s += repeat('a', 16384 - s.size() - 4);
             return s + "\r\n\r\n";
         }(),
         0},
        {"head of 16385 bytes",
         [] {
             std::string s = "GET / HTTP/1.1\r\nX: ";
             s += repeat('a', 16385 - s.size() - 4);
             return s + "\r\n\r\n";
         }(),
         431},
        {"head never ends", "GET / HTTP/1.1\r\nX: " + repeat('a', 20000), 431},
        {"endless empty lines",
         [] {
             std::string s;
             for (int i = 0; i < 9000; ++i) s += "\r\n";
             return s;
         }(),
         431},
        {"target of 8192", "GET /" + repeat('a', 8191) + " HTTP/1.1\r\n\r\n", 0},
        {"target of 8193", "GET /" + repeat('a', 8192) + " HTTP/1.1\r\n\r\n", 414},
        {"target too long, line unfinished", "GET /" + repeat('a', 9000), 414},
    };

    for (const auto& r : rows) {
        INFO(r.name << ": " << show(r.raw));
        const auto res = scan_request_head(r.raw, default_limits);
        CHECK(res.error.status == r.status);
        if (r.status == 0) {
            // Valid rows are complete: the head ends at the end of the row.
            CHECK(res.end == r.raw.size());
            CHECK(std::string_view(res.error.detail).empty());
        } else {
            CHECK(res.end == 0);
            CHECK_FALSE(std::string_view(res.error.detail).empty());
        }
        check_every_split(r.raw, default_limits);
    }
}

TEST_CASE("scan_request_head: skip and end", "[framing]") {
    const std::string raw = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\n";
    const auto res = scan_request_head(raw, default_limits);
    REQUIRE_FALSE(res.error);
    CHECK(res.skip == 4);
    // end counts from data.begin(), skip included, and stops before pipelined bytes.
    CHECK(res.end == raw.find("GET /next"));

    const auto partial = scan_request_head("\r\n\r\nGET / HT", default_limits);
    CHECK_FALSE(partial.error);
    CHECK(partial.end == 0);
    CHECK(partial.skip == 4);

    CHECK(scan_request_head("", default_limits).end == 0);
    CHECK_FALSE(scan_request_head("", default_limits).error);
}

TEST_CASE("scan_request_head: errors are reported before the head ends", "[framing]") {
    // None of these has its final CRLF CRLF: the bytes so far already prove the error.
    const std::vector<scan_row> rows{
        {"bad method byte", "G(T", 400},
        {"bad target byte", "GET /\x01", 400},
        {"NUL in target", "GET /a\0"s, 400},
        {"extra space", "GET  ", 400},
        {"bad version", "GET / HTTQ", 400},
        {"unsupported version", "GET / HTTP/2.0\r\n", 505},
        {"HTTP/0.9", "GET /\r", 400},
        {"bare LF in request line", "GET / HTTP/1.1\n", 400},
        {"obs-fold", "GET / HTTP/1.1\r\nX: a\r\n ", 400},
        {"bare CR in field line", "GET / HTTP/1.1\r\nX: a\rb", 400},
        {"NUL in value", "GET / HTTP/1.1\r\nX: a\0"s, 400},
        {"space before colon", "GET / HTTP/1.1\r\nX ", 400},
        {"long target", "GET /" + repeat('a', 8192), 414},
    };
    for (const auto& r : rows) {
        INFO(r.name << ": " << show(r.raw));
        const auto res = scan_request_head(r.raw, default_limits);
        CHECK(res.error.status == r.status);
        CHECK(res.end == 0);
    }
    // And nothing is reported while the bytes could still become a valid head.
    const std::string_view waiting[] = {"",
                                        "G",
                                        "GET",
                                        "GET ",
                                        "GET /",
                                        "GET / ",
                                        "GET / HTTP/1.",
                                        "GET / HTTP/1.1",
                                        "GET / HTTP/1.1\r",
                                        "GET / HTTP/1.1\r\nX",
                                        "GET / HTTP/1.1\r\nX:",
                                        "GET / HTTP/1.1\r\nX: a\r",
                                        "GET / HTTP/1.1\r\nX: a\r\n",
                                        "GET / HTTP/1.1\r\n\r",
                                        "\r"};
    for (auto w : waiting) {
        INFO(show(w));
        const auto res = scan_request_head(w, default_limits);
        CHECK_FALSE(res.error);
        CHECK(res.end == 0);
    }
}

TEST_CASE("scan_request_head: configured limits", "[framing]") {
    head_limits limits;
    limits.max_header_size = 64;
    limits.max_headers = 2;
    limits.max_uri_size = 16;

    struct row {
        const char* name;
        std::string raw;
        unsigned status;
    };
    const std::vector<row> rows{
        {"two fields", "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n", 0},
        {"three fields", "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431},
        // Reported when the third field starts, not when the head ends.
        {"third field starts", "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC", 431},
        {"target of 16", "GET /" + repeat('a', 15) + " HTTP/1.1\r\n\r\n", 0},
        {"target of 17", "GET /" + repeat('a', 16) + " HTTP/1.1\r\n\r\n", 414},
        {"target of 17, unfinished", "GET /" + repeat('a', 16), 414},
        {"head of exactly 64", "GET / HTTP/1.1\r\nA: " + repeat('a', 64 - 19 - 4) + "\r\n\r\n", 0},
        {"head of 65", "GET / HTTP/1.1\r\nA: " + repeat('a', 65 - 19 - 4) + "\r\n\r\n", 431},
        {"head of 65, pipelined bytes after",
         "GET / HTTP/1.1\r\nA: " + repeat('a', 65 - 19 - 4) + "\r\n\r\nGET", 431},
        {"head of 64, pipelined bytes after",
         "GET / HTTP/1.1\r\nA: " + repeat('a', 64 - 19 - 4) + "\r\n\r\nGET / HTTP/1.1\r\n", 0},
        {"unfinished beyond 64", "GET / HTTP/1.1\r\nA: " + repeat('a', 60), 431},
        // The leading empty lines count: they are bytes the proxy must hold.
        {"empty lines push it over",
         "\r\n\r\nGET / HTTP/1.1\r\nA: " + repeat('a', 64 - 19 - 4 - 2) + "\r\n\r\n", 431},
        // A syntax error before the limit wins over the size.
        {"bad byte then too large", "GET / HTTP/1.1\r\nA: \x01" + repeat('a', 100), 400},
    };
    for (const auto& r : rows) {
        INFO(r.name << ": " << show(r.raw));
        CHECK(scan_request_head(r.raw, limits).error.status == r.status);
        check_every_split(r.raw, limits);
    }

    // A request line that cannot fit the head limit is a too-long URI, as nginx answers,
    // even when max_uri_size alone would allow it.
    limits.max_uri_size = 1000;
    CHECK(scan_request_head("GET /" + repeat('a', 100), limits).error.status == 414);
    CHECK(scan_request_head("GET / HTTP/1.1\r\nA: " + repeat('a', 100), limits).error.status == 431);
}

// ---------------------------------------------------------------------------------------
// Semantic checks on heads Beast parsed.

namespace {

// The way the session parses a head (the session's parser, eager(false)).
proxy::test::parsed_head<true> parse_with_beast(std::string_view text) {
    return proxy::test::parse_text<true>(text);
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// The same head built field by field, without Beast's own checks, so that the proxy's
// checks are tested on inputs Beast would have refused first.
request_head build_head(std::string_view text) {
    auto line_end = text.find("\r\n");
    const std::string_view line = text.substr(0, line_end);
    const auto sp1 = line.find(' ');
    const auto sp2 = line.rfind(' ');
    const std::string_view version = line.substr(sp2 + 1);
    proxy::test::field_list fields;
    text.remove_prefix(line_end + 2);
    while ((line_end = text.find("\r\n")) != 0 && line_end != std::string_view::npos) {
        const std::string_view field = text.substr(0, line_end);
        const auto colon = field.find(':');
        fields.emplace_back(field.substr(0, colon), trim(field.substr(colon + 1)));
        text.remove_prefix(line_end + 2);
    }
    return request_head::build(line.substr(0, sp1), line.substr(sp1 + 1, sp2 - sp1 - 1),
                               version == "HTTP/1.0" ? 10 : 11, fields);
}

struct field_row {
    const char* name;
    std::string head;
    unsigned status;
};

std::string req(std::string_view line, std::string_view fields) {
    return std::string(line) + "\r\n" + std::string(fields) + "\r\n";
}

}  // namespace

TEST_CASE("check_request_fields: table of parsed heads", "[framing]") {
    const std::string get11 = "GET / HTTP/1.1";
    const std::string post11 = "POST /submit HTTP/1.1";
    const std::string post10 = "POST /submit HTTP/1.0";
    const std::vector<field_row> rows{
        {"plain GET", req(get11, "Host: example.com\r\n"), 0},
        {"POST with length", req(post11, "Host: a\r\nContent-Length: 5\r\n"), 0},
        {"POST length 0", req(post11, "Host: a\r\nContent-Length: 0\r\n"), 0},
        {"leading zeros", req(post11, "Host: a\r\nContent-Length: 005\r\n"), 0},
        {"largest length", req(post11, "Host: a\r\nContent-Length: 9223372036854775807\r\n"), 0},
        {"POST chunked", req(post11, "Host: a\r\nTransfer-Encoding: chunked\r\n"), 0},
        {"chunked any case", req(post11, "Host: a\r\nTransfer-Encoding: ChUnKeD\r\n"), 0},
        {"chunked with empty list elements", req(post11, "Host: a\r\nTransfer-Encoding: , chunked ,\r\n"), 0},

        // Content-Length
        {"CL then TE", req(post11, "Host: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"), 400},
        {"TE then CL", req(post11, "Host: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n"), 400},
        {"TE identity then CL",
         req(post11, "Host: a\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n"), 400},
        {"CL plus sign", req(post11, "Host: a\r\nContent-Length: +5\r\n"), 400},
        {"CL minus sign", req(post11, "Host: a\r\nContent-Length: -5\r\n"), 400},
        {"CL hex", req(post11, "Host: a\r\nContent-Length: 0x5\r\n"), 400},
        {"CL list of two", req(post11, "Host: a\r\nContent-Length: 5,6\r\n"), 400},
        {"CL list of same", req(post11, "Host: a\r\nContent-Length: 5, 5\r\n"), 400},
        {"CL list no space", req(post11, "Host: a\r\nContent-Length: 5,5\r\n"), 400},
        {"CL inner space", req(post11, "Host: a\r\nContent-Length: 5 5\r\n"), 400},
        {"CL empty", req(post11, "Host: a\r\nContent-Length:\r\n"), 400},
        {"CL 2^63", req(post11, "Host: a\r\nContent-Length: 9223372036854775808\r\n"), 400},
        {"CL 2^64-1", req(post11, "Host: a\r\nContent-Length: 18446744073709551615\r\n"), 400},
        {"CL 2^64", req(post11, "Host: a\r\nContent-Length: 18446744073709551616\r\n"), 400},
        {"CL huge", req(post11, "Host: a\r\nContent-Length: 99999999999999999999999999\r\n"), 400},
        {"two CL fields, same", req(post11, "Host: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n"), 400},
        {"two CL fields, different", req(post11, "Host: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n"),
         400},

        // Transfer-Encoding
        {"chunked, identity", req(post11, "Host: a\r\nTransfer-Encoding: chunked, identity\r\n"), 400},
        {"identity", req(post11, "Host: a\r\nTransfer-Encoding: identity\r\n"), 400},
        {"gzip alone", req(post11, "Host: a\r\nTransfer-Encoding: gzip\r\n"), 400},
        {"gzip, chunked", req(post11, "Host: a\r\nTransfer-Encoding: gzip, chunked\r\n"), 501},
        {"gzip then chunked fields",
         req(post11, "Host: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"), 501},
        {"chunked, chunked", req(post11, "Host: a\r\nTransfer-Encoding: chunked, chunked\r\n"), 400},
        {"chunked twice in fields",
         req(post11, "Host: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), 400},
        {"chunked then gzip fields",
         req(post11, "Host: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"), 400},
        {"quoted chunked", req(post11, "Host: a\r\nTransfer-Encoding: \"chunked\"\r\n"), 400},
        {"chunked with parameter", req(post11, "Host: a\r\nTransfer-Encoding: chunked;x=1\r\n"), 400},
        {"chunked with spaced parameter", req(post11, "Host: a\r\nTransfer-Encoding: chunked ; x=1\r\n"),
         400},
        {"empty TE", req(post11, "Host: a\r\nTransfer-Encoding:\r\n"), 400},
        {"TE comma only", req(post11, "Host: a\r\nTransfer-Encoding: ,\r\n"), 400},
        {"chunked misspelt", req(post11, "Host: a\r\nTransfer-Encoding: chunk\r\n"), 400},
        {"HTTP/1.0 chunked", req(post10, "Host: a\r\nTransfer-Encoding: chunked\r\n"), 400},

        // Host
        {"Host missing", req(get11, ""), 400},
        {"Host missing, HTTP/1.0", req("GET / HTTP/1.0", ""), 0},
        {"Host duplicate", req(get11, "Host: a\r\nHost: b\r\n"), 400},
        {"Host duplicate same", req(get11, "Host: a\r\nHost: a\r\n"), 400},
        {"Host duplicate, HTTP/1.0", req("GET / HTTP/1.0", "Host: a\r\nHost: b\r\n"), 400},
        {"Host empty", req(get11, "Host:\r\n"), 400},
        {"Host with port", req(get11, "Host: example.com:8080\r\n"), 0},
        {"Host port 65535", req(get11, "Host: example.com:65535\r\n"), 0},
        {"Host port 65536", req(get11, "Host: example.com:65536\r\n"), 400},
        {"Host port 0", req(get11, "Host: example.com:0\r\n"), 0},
        {"Host empty port", req(get11, "Host: example.com:\r\n"), 400},
        {"Host port letters", req(get11, "Host: example.com:80a\r\n"), 400},
        {"Host two ports", req(get11, "Host: example.com:80:81\r\n"), 400},
        {"Host only port", req(get11, "Host: :80\r\n"), 400},
        {"Host IPv4", req(get11, "Host: 192.0.2.1:80\r\n"), 0},
        {"Host IPv6", req(get11, "Host: [2001:db8::1]:8080\r\n"), 0},
        {"Host IPv6 no port", req(get11, "Host: [::1]\r\n"), 0},
        {"Host IPv6 unclosed", req(get11, "Host: [::1\r\n"), 400},
        {"Host IPv6 unbracketed", req(get11, "Host: ::1\r\n"), 400},
        {"Host IPv6 junk after", req(get11, "Host: [::1]x\r\n"), 400},
        {"Host IPv6 empty", req(get11, "Host: []\r\n"), 400},
        {"Host pct-encoded", req(get11, "Host: ex%41mple.com\r\n"), 0},
        {"Host bad pct", req(get11, "Host: ex%4mple.com\r\n"), 400},
        {"Host sub-delims", req(get11, "Host: a!$&'()*+,;=b\r\n"), 0},
        {"Host userinfo", req(get11, "Host: user@evil.com\r\n"), 400},
        {"Host with path", req(get11, "Host: a/b\r\n"), 400},
        {"Host with backslash", req(get11, "Host: a\\b\r\n"), 400},
        {"Host with space", req(get11, "Host: a b\r\n"), 400},
        {"Host with quote", req(get11, "Host: a\"b\r\n"), 400},
        {"Host with obs-text", req(get11, "Host: caf\xc3\xa9.example\r\n"), 400},

        // request-target
        {"absolute-form matching", req("GET http://example.com/x?y HTTP/1.1", "Host: example.com\r\n"), 0},
        {"absolute-form case differs", req("GET HTTP://Example.COM/x HTTP/1.1", "Host: example.com\r\n"), 0},
        {"absolute-form https", req("GET https://example.com:8443/ HTTP/1.1", "Host: example.com:8443\r\n"),
         0},
        {"absolute-form no path", req("GET http://example.com HTTP/1.1", "Host: example.com\r\n"), 0},
        {"absolute-form query only", req("GET http://example.com?q HTTP/1.1", "Host: example.com\r\n"), 0},
        {"absolute-form conflicting Host", req("GET http://evil.com/x HTTP/1.1", "Host: example.com\r\n"),
         400},
        {"absolute-form port differs", req("GET http://example.com:81/x HTTP/1.1", "Host: example.com\r\n"),
         400},
        {"absolute-form userinfo", req("GET http://u@example.com/ HTTP/1.1", "Host: u@example.com\r\n"), 400},
        {"absolute-form empty authority", req("GET http:///x HTTP/1.1", "Host: example.com\r\n"), 400},
        {"absolute-form, HTTP/1.0 no Host", req("GET http://example.com/x HTTP/1.0", ""), 0},
        {"absolute-form, HTTP/1.0 bad authority", req("GET http://a@b/x HTTP/1.0", ""), 400},
        {"ftp scheme", req("GET ftp://example.com/x HTTP/1.1", "Host: example.com\r\n"), 400},
        {"scheme without slashes", req("GET http:example.com/x HTTP/1.1", "Host: example.com\r\n"), 400},
        {"asterisk with OPTIONS", req("OPTIONS * HTTP/1.1", "Host: a\r\n"), 0},
        {"asterisk with GET", req("GET * HTTP/1.1", "Host: a\r\n"), 400},
        {"asterisk with lowercase options", req("options * HTTP/1.1", "Host: a\r\n"), 400},
        {"authority-form with GET", req("GET example.com:443 HTTP/1.1", "Host: example.com:443\r\n"), 400},
        {"relative target", req("GET index.html HTTP/1.1", "Host: a\r\n"), 400},

        // methods
        {"TRACE", req("TRACE / HTTP/1.1", "Host: a\r\n"), 405},
        {"CONNECT", req("CONNECT example.com:443 HTTP/1.1", "Host: example.com:443\r\n"), 405},
        // Case-insensitive on purpose: Django and Werkzeug upper-case the method.
        {"lowercase trace", req("trace / HTTP/1.1", "Host: a\r\n"), 405},
        {"mixed-case Trace", req("Trace / HTTP/1.1", "Host: a\r\n"), 405},
        {"lowercase connect", req("connect example.com:443 HTTP/1.1", "Host: example.com:443\r\n"), 405},
        {"CONNECT with origin-form", req("CONNECT / HTTP/1.1", "Host: a\r\n"), 405},
        {"TRACEX is just another method", req("TRACEX / HTTP/1.1", "Host: a\r\n"), 0},
        {"TRAC is just another method", req("TRAC / HTTP/1.1", "Host: a\r\n"), 0},

        // WebSocket handshakes the proxy would tunnel need a key (RFC 6455 4.1).
        {"WebSocket with key",
         req(get11,
             "Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
         0},
        {"WebSocket, key with + and /",
         req(get11,
             "Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: ab+/AB09ab+/AB09ab+/AA==\r\n"),
         0},
        {"WebSocket without key", req(get11, "Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"),
         400},
        {"WebSocket any case, versioned, among others",
         req(get11, "Host: a\r\nUpgrade: foo, WebSocket/13\r\nConnection: keep-alive, UPGRADE\r\n"), 400},
        {"WebSocket, key twice",
         req(get11,
             "Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
         400},
        {"WebSocket, empty key",
         req(get11,
             "Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key:\r\n"),
         400},
        {"WebSocket, key too short",
         req(get11,
             "Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\n"),
         400},
        {"WebSocket, key without padding",
         req(get11,
             "Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQAA\r\n"),
         400},
        {"WebSocket, key with a bad byte",
         req(get11,
             "Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ-==\r\n"),
         400},
        {"Upgrade without Connection: upgrade is no handshake",
         req(get11, "Host: a\r\nUpgrade: websocket\r\n"), 0},
        {"WebSocket in HTTP/1.0 is no handshake",
         req("GET / HTTP/1.0", "Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"), 0},
        {"h2c needs no key", req(get11, "Host: a\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"),
         0},
        {"websocketx is another protocol",
         req(get11, "Host: a\r\nUpgrade: websocketx\r\nConnection: Upgrade\r\n"), 0},

        // Expect
        {"Expect 100-continue", req(post11, "Host: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"), 0},
        {"Expect 100-Continue", req(post11, "Host: a\r\nContent-Length: 5\r\nExpect: 100-Continue\r\n"), 0},
        {"Expect other", req(post11, "Host: a\r\nContent-Length: 5\r\nExpect: 200-ok\r\n"), 417},
        {"Expect with parameter", req(post11, "Host: a\r\nContent-Length: 5\r\nExpect: 100-continue; x\r\n"),
         417},
        {"Expect twice",
         req(post11, "Host: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\nExpect: 100-continue\r\n"),
         417},
        {"Expect on HTTP/1.0 is ignored, not refused",
         req(post10, "Host: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"), 0},
        {"Expect empty: no expectation", req(post11, "Host: a\r\nContent-Length: 5\r\nExpect:  \r\n"), 0},
        {"Expect empty, twice", req(post11, "Host: a\r\nContent-Length: 5\r\nExpect:\r\nExpect:\r\n"), 417},
    };

    for (const auto& r : rows) {
        INFO(r.name << ": " << show(r.head));
        // The head passes the byte-level scan: these are semantic cases only.
        REQUIRE(scan_request_head(r.head, default_limits).error.status == 0);

        // The proxy's own verdict, independent of Beast.
        CHECK(check_request_fields(build_head(r.head)).status == r.status);

        // And on what Beast produced: a head Beast refused counts as refused.
        const auto parsed = parse_with_beast(r.head);
        if (parsed.ec) {
            INFO("Beast refused it: " << parsed.ec.message());
            CHECK(r.status != 0);
        } else {
            CHECK(check_request_fields(*parsed.head).status == r.status);
        }
    }
}

TEST_CASE("check_chunk_size: 63 bits, as Content-Length", "[framing]") {
    CHECK_FALSE(check_chunk_size(0));
    CHECK_FALSE(check_chunk_size(0x10));
    CHECK_FALSE(check_chunk_size((std::uint64_t{1} << 63) - 1));
    CHECK(check_chunk_size(std::uint64_t{1} << 63).status == 400);
    CHECK(check_chunk_size(~std::uint64_t{0}).status == 400);
}

TEST_CASE("check_chunk_size refuses through the session's parser", "[framing]") {
    // The parser (head_parser.hpp) turns a refusal into a parser error before any of the
    // chunk is delivered.
    auto run = [](std::string_view size_line) {
        buffer_pool pool;
        request_parser p(pool);
        p.body_limit(boost::none);
        p.eager(true);
        const std::string text = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
                                 std::string(size_line) + "\r\nhello\r\n0\r\n\r\n";
        char buf[64];
        std::size_t used = 0;
        error_code ec;
        std::size_t delivered = 0;
        while (!ec && !p.is_done() && used < text.size()) {
            p.body().data = buf;
            p.body().size = sizeof buf;
            const std::size_t n = p.put(net::buffer(text.data() + used, text.size() - used), ec);
            if (ec == http::error::need_buffer) ec = {};
            delivered += sizeof buf - p.body().size;
            used += n;
            if (n == 0 && !ec) break;
        }
        return std::pair{ec, delivered};
    };
    const auto [ok_ec, ok_delivered] = run("5");
    CHECK_FALSE(ok_ec);
    CHECK(ok_delivered == 5);
    const auto [big_ec, big_delivered] = run("ffffffffffffffff");
    CHECK(big_ec == http::error::bad_chunk);
    CHECK(big_delivered == 0);
    const auto [edge_ec, edge_delivered] = run("8000000000000000");
    CHECK(edge_ec == http::error::bad_chunk);
    CHECK(edge_delivered == 0);
}

TEST_CASE("trailers: framing and routing fields are refused", "[framing]") {
    struct row {
        const char* name;
        std::string trailer;  // trailer field lines, each ending in CRLF
        bool refused;
    };
    const std::vector<row> rows{
        {"no trailers", "", false},
        {"harmless trailer", "X-Checksum: abc\r\n", false},
        {"two harmless", "X-A: 1\r\nServer-Timing: db;dur=53\r\n", false},
        {"repeats a harmless head field", "X-Head: 2\r\n", false},
        {"Content-Length", "Content-Length: 5\r\n", true},
        {"Transfer-Encoding", "Transfer-Encoding: chunked\r\n", true},
        {"Host, which the head has too", "Host: evil.com\r\n", true},
        {"host in lower case", "host: evil.com\r\n", true},
        {"Connection", "Connection: close\r\n", true},
        {"Trailer", "Trailer: X\r\n", true},
        {"TE", "TE: trailers\r\n", true},
        {"Upgrade", "Upgrade: websocket\r\n", true},
        {"Keep-Alive", "Keep-Alive: timeout=5\r\n", true},
        {"Proxy-Connection", "Proxy-Connection: close\r\n", true},
        {"Expect", "Expect: 100-continue\r\n", true},
        {"Expect, which the head has too", "Expect: 100-continue\r\n", true},
        {"harmless then Host", "X-A: 1\r\nHost: evil.com\r\n", true},
    };
    for (const auto& r : rows) {
        INFO(r.name);
        const bool head_expects = std::string_view(r.name).find("Expect, which") == 0;
        const std::string head =
            "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX-Head: 1\r\n"s +
            (head_expects ? "Expect: 100-continue\r\n" : "") + "\r\n";
        const std::string body = "5\r\nhello\r\n0\r\n" + r.trailer + "\r\n";

        buffer_pool pool;
        request_parser p(pool);
        p.eager(false);
        error_code ec;
        const auto used = p.put(net::buffer(head), ec);
        REQUIRE_FALSE(ec);
        REQUIRE(used == head.size());
        REQUIRE(p.is_header_done());
        REQUIRE_FALSE(check_request_fields(p.get()));
        const auto head_fields = proxy::test::fields_of(p.get());
        CHECK_FALSE(p.refused_trailer());

        char buf[16];
        p.body().data = buf;
        p.body().size = sizeof buf;
        p.eager(true);
        p.put(net::buffer(body), ec);
        if (ec) {
            // Beast refused the trailer itself (it does for Content-Length and
            // Transfer-Encoding after chunked): refused all the same.
            INFO("Beast refused it: " << ec.message());
            CHECK(r.refused);
            continue;
        }
        REQUIRE(p.is_done());
        CHECK(std::string_view(buf, sizeof buf - p.body().size) == "hello");
        CHECK(p.refused_trailer() == r.refused);
        // Trailers are judged, never stored: the head is what it was, whatever they named.
        CHECK(proxy::test::fields_of(p.get()) == head_fields);
    }
}

TEST_CASE("refused_in_trailers: the list", "[framing]") {
    for (const auto f : {http::field::content_length, http::field::transfer_encoding, http::field::host,
                         http::field::connection, http::field::trailer, http::field::te, http::field::upgrade,
                         http::field::keep_alive, http::field::proxy_connection, http::field::expect})
        CHECK(refused_in_trailers(f));
    for (const auto f : {http::field::unknown, http::field::content_md5, http::field::warning,
                         http::field::accept, http::field::cookie})
        CHECK_FALSE(refused_in_trailers(f));
}

TEST_CASE("check_response_fields: responses that cannot be relayed safely", "[framing]") {
    struct row {
        const char* name;
        unsigned version;
        std::vector<std::pair<std::string, std::string>> fields;
        unsigned status;
    };
    const std::vector<row> rows{
        {"plain", 11, {{"Content-Length", "5"}}, 0},
        {"no framing", 11, {}, 0},
        {"chunked", 11, {{"Transfer-Encoding", "chunked"}}, 0},
        {"repeated identical CL", 11, {{"Content-Length", "5"}, {"Content-Length", "5"}}, 0},
        {"CL list of identical", 11, {{"Content-Length", "5, 5"}}, 0},
        {"CL and TE", 11, {{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}}, 502},
        {"TE and CL", 11, {{"Transfer-Encoding", "chunked"}, {"Content-Length", "5"}}, 502},
        {"conflicting CL fields", 11, {{"Content-Length", "5"}, {"Content-Length", "6"}}, 502},
        {"conflicting CL list", 11, {{"Content-Length", "5, 6"}}, 502},
        {"CL sign", 11, {{"Content-Length", "+5"}}, 502},
        {"CL hex", 11, {{"Content-Length", "0x5"}}, 502},
        {"CL empty", 11, {{"Content-Length", ""}}, 502},
        {"CL 2^63", 11, {{"Content-Length", "9223372036854775808"}}, 502},
        {"TE gzip only", 11, {{"Transfer-Encoding", "gzip"}}, 502},
        {"TE chunked, gzip", 11, {{"Transfer-Encoding", "chunked, gzip"}}, 502},
        {"TE gzip, chunked", 11, {{"Transfer-Encoding", "gzip, chunked"}}, 502},
        {"TE chunked twice", 11, {{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}, 502},
        {"TE chunked with parameter", 11, {{"Transfer-Encoding", "chunked;x=1"}}, 502},
        {"TE in HTTP/1.0", 10, {{"Transfer-Encoding", "chunked"}}, 502},
    };
    for (const auto& r : rows) {
        INFO(r.name);
        CHECK(check_response_fields(response_head::build(200, "OK", r.version, r.fields)).status == r.status);
    }

    // The same on a head the session's parser read, where Beast lets it through.
    const auto parsed = proxy::test::parse_text<false>("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
    REQUIRE_FALSE(parsed.ec);
    CHECK(check_response_fields(*parsed.head).status == 502);
}

// ---------------------------------------------------------------------------------------
// forwarding.underscores_in_headers

using proxy::test::fields_of;

TEST_CASE("Beast knows no field name with an underscore", "[framing][underscore]") {
    // apply_underscore_policy reads only the names of unknown fields; this is what makes
    // that enough.
    for (unsigned i = 1; i <= static_cast<unsigned>(http::field::xref); ++i) {
        const std::string_view name = http::to_string(static_cast<http::field>(i));
        INFO("field " << i << ": " << name);
        CHECK(name.find('_') == std::string_view::npos);
    }
    // And an underscore spelling of a framing field is not taken for it.
    for (const char* name : {"Content_Length", "TRANSFER_ENCODING", "x_forwarded_for", "Host_"})
        CHECK(http::string_to_field(name) == http::field::unknown);
}

TEST_CASE("apply_underscore_policy: table of heads, each policy", "[framing][underscore]") {
    struct row {
        const char* name;
        std::string fields;  // field lines, each ending in CRLF; Host is added
        std::vector<std::string> dropped;  // the names drop removes, in order
    };
    const std::vector<row> rows{
        {"none", "", {}},
        {"hyphens only", "X-Forwarded-For: 1.2.3.4\r\nAccept: */*\r\nX-A-B-C: 1\r\n", {}},
        {"underscore in a value only", "X-Name: a_b\r\nCookie: a_b=c_d\r\n", {}},
        {"shadows X-Forwarded-For",
         "X-Forwarded-For: 10.0.0.1\r\nX_Forwarded_For: 1.2.3.4\r\n",
         {"X_Forwarded_For"}},
        {"comes first", "X_Real_IP: 1.2.3.4\r\nAccept: */*\r\n", {"X_Real_IP"}},
        {"comes last", "Accept: */*\r\nx_http_method_override: DELETE\r\n", {"x_http_method_override"}},
        {"mixed with hyphens", "X-HTTP_Method-Override: PUT\r\n", {"X-HTTP_Method-Override"}},
        {"leading, trailing, alone, doubled",
         "_a: 1\r\nb_: 2\r\n_: 3\r\nc__d: 4\r\n",
         {"_a", "b_", "_", "c__d"}},
        {"consecutive, between others",
         "A: 1\r\nX_1: 1\r\nX_2: 2\r\nB: 2\r\nX_3: 3\r\nC: 3\r\n",
         {"X_1", "X_2", "X_3"}},
        {"the same name twice, around its hyphen twin", "X_A: 1\r\nX-A: 2\r\nx_a: 3\r\n", {"X_A", "x_a"}},
        // Beast does not take these for the framing fields, and neither may the app.
        {"framing look-alikes",
         "Content_Length: 5\r\nTransfer_Encoding: chunked\r\nHost_: evil\r\n",
         {"Content_Length", "Transfer_Encoding", "Host_"}},
        {"empty value", "X_Empty:\r\n", {"X_Empty"}},
    };

    for (const auto& r : rows) {
        INFO(r.name);
        const std::string text = "GET / HTTP/1.1\r\nHost: a\r\n" + r.fields + "\r\n";
        const auto parsed = parse_with_beast(text);
        REQUIRE_FALSE(parsed.ec);
        // Beast accepts '_' in a name (it is a tchar), and so does the head scan.
        REQUIRE_FALSE(scan_request_head(text, default_limits).error);
        REQUIRE_FALSE(check_request_fields(*parsed.head));
        const auto original = fields_of(*parsed.head);

        // What drop must leave: every other field, in order, with its value.
        auto kept = original;
        std::vector<std::string> removed;
        std::erase_if(kept, [&](const auto& f) {
            if (f.first.find('_') == std::string::npos) return false;
            removed.push_back(f.first);
            return true;
        });
        REQUIRE(removed == r.dropped);

        SECTION("drop") {
            auto head = *parsed.head;
            const auto result = apply_underscore_policy(head, underscores_policy::drop);
            CHECK_FALSE(result.error);
            CHECK(result.fields == r.dropped.size());
            CHECK(fields_of(head) == kept);
            // Not found by name either.
            for (const auto& name : r.dropped) CHECK(head.find(name) == head.end());
            CHECK_FALSE(check_request_fields(head));
        }
        SECTION("reject") {
            auto head = *parsed.head;
            const auto result = apply_underscore_policy(head, underscores_policy::reject);
            if (r.dropped.empty()) {
                CHECK_FALSE(result.error);
                CHECK(result.fields == 0);
            } else {
                CHECK(result.error.status == 400);
                CHECK(std::string_view(result.error.detail) == "underscore in a header field name");
                CHECK(result.fields == 1);
            }
            CHECK(fields_of(head) == original);
        }
        SECTION("forward") {
            auto head = *parsed.head;
            const auto result = apply_underscore_policy(head, underscores_policy::forward);
            CHECK_FALSE(result.error);
            CHECK(result.fields == r.dropped.size());
            CHECK(fields_of(head) == original);
        }
    }
}

TEST_CASE("apply_underscore_policy allocates nothing", "[framing][underscore]") {
    auto clean = build_head(
        "GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nX-Forwarded-For: 1.2.3.4\r\n"
        "User-Agent: t\r\nX-Custom: a_b\r\n");
    auto dirty = build_head(
        "GET / HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 1.2.3.4\r\nAccept: */*\r\n"
        "x_http_method_override: DELETE\r\n");
    const auto policies = {underscores_policy::drop, underscores_policy::reject, underscores_policy::forward};
    for (const auto policy : policies) {
        INFO("policy " << static_cast<int>(policy));
        auto a = clean;
        auto b = dirty;
        const std::size_t before = allocations;
        const auto ra = apply_underscore_policy(a, policy);
        const auto rb = apply_underscore_policy(b, policy);
        const std::size_t during = allocations - before;
        CHECK(during == 0);
        CHECK(ra.fields == 0);
        CHECK(rb.fields == (policy == underscores_policy::reject ? 1u : 2u));
    }
    // The counter does see allocations, so the zero above means something.
    const std::size_t before = allocations;
    const auto built = build_head("GET / HTTP/1.1\r\nHost: a\r\nX_New: 1\r\n");
    CHECK(allocations > before);
}

TEST_CASE("find_underscore_alias: what a CGI app reads as the named field", "[framing][underscore]") {
    const std::string override_name = "X-HTTP-Method-Override";
    struct row {
        const char* name;
        std::string fields;
        std::string_view expected;
    };
    const std::vector<row> rows{
        {"absent", "Accept: */*\r\n", ""},
        {"the hyphen spelling is not an alias", "X-HTTP-Method-Override: DELETE\r\n", ""},
        {"underscores", "X_HTTP_Method_Override: DELETE\r\n", "DELETE"},
        {"lower case", "x_http_method_override: PUT\r\n", "PUT"},
        {"upper case, as in the CGI variable", "X_HTTP_METHOD_OVERRIDE: PATCH\r\n", "PATCH"},
        {"one underscore among hyphens", "X-HTTP-Method_Override: POST\r\n", "POST"},
        {"after the hyphen spelling", "X-HTTP-Method-Override: GET\r\nX_HTTP_Method_Override: DELETE\r\n",
         "DELETE"},
        {"the first of two", "X_HTTP_Method_Override: PUT\r\nx_http_method_override: DELETE\r\n", "PUT"},
        {"a longer name", "X_HTTP_Method_Override_2: DELETE\r\n", ""},
        {"a shorter name", "X_HTTP_Method: DELETE\r\n", ""},
        {"another name of the same length", "X_HTTP_Method_Overridf: DELETE\r\n", ""},
    };
    for (const auto& r : rows) {
        INFO(r.name);
        const auto parsed = parse_with_beast("GET / HTTP/1.1\r\nHost: a\r\n" + r.fields + "\r\n");
        REQUIRE_FALSE(parsed.ec);
        CHECK(find_underscore_alias(*parsed.head, override_name) == r.expected);
    }

    // After drop, there is nothing left to find.
    auto head = build_head("GET / HTTP/1.1\r\nHost: a\r\nX_HTTP_Method: DELETE\r\n");
    CHECK(find_underscore_alias(head, "X-HTTP-Method") == "DELETE");
    apply_underscore_policy(head, underscores_policy::drop);
    CHECK(find_underscore_alias(head, "X-HTTP-Method").empty());
}
