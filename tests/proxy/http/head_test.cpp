// The session's parser (head_parser.hpp) and its heads (head.hpp): what it reads matches
// Beast's own parser, its views outlive the bytes they were parsed from, and a head
// costs no allocation once the worker's pool is warm.
#include "proxy/http/head_parser.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/proxy/http/make_request.hpp"

// framing_test.cpp defines the counting operator new (tests/alloc_counter.hpp, once per
// program); this is the counter it bumps.
namespace maintgate::test {
inline thread_local std::size_t allocations = 0;
}  // namespace maintgate::test

using namespace maintgate;
using namespace maintgate::proxy;
using maintgate::test::allocations;

namespace {

// Beast's own reading of the same bytes, as name/value pairs.
template <bool isRequest>
field_list beast_fields(std::string_view text) {
    http::parser<isRequest, http::empty_body> p;
    p.eager(false);
    p.skip(!isRequest);
    error_code ec;
    p.put(net::buffer(text.data(), text.size()), ec);
    REQUIRE_FALSE(ec);
    REQUIRE(p.is_header_done());
    field_list out;
    for (const auto& f : p.get()) out.emplace_back(std::string(f.name_string()), std::string(f.value()));
    return out;
}

}  // namespace

TEST_CASE("head_parser: a request head as views, the same as Beast's fields", "[head]") {
    std::string text =
        "POST /up?x=1 HTTP/1.1\r\nHost: app.example\r\nX-Custom:  padded value \t\r\n"
        "content-length: 5\r\nAccept: */*\r\nX-Empty:\r\nhost: again\r\n\r\nhello";
    // In the order they came: Beast's basic_fields would list the second host next to
    // the first.
    const field_list expected{{"Host", "app.example"}, {"X-Custom", "padded value"},
                              {"content-length", "5"}, {"Accept", "*/*"},
                              {"X-Empty", ""},         {"host", "again"}};
    CHECK(beast_fields<true>(text).size() == expected.size());
    buffer_pool pool;
    request_parser p(pool);
    error_code ec;
    const std::size_t used = p.put(net::buffer(text), ec);
    REQUIRE_FALSE(ec);
    REQUIRE(p.is_header_done());
    CHECK(used == text.size() - 5);  // not eager: the body waits

    // The bytes the head came from are overwritten (the read buffer reused): the head
    // holds its own copy.
    std::string(text.size(), 'x').swap(text);
    const auto& h = p.get();
    CHECK(h.method() == http::verb::post);
    CHECK(h.method_string() == "POST");
    CHECK(h.target() == "/up?x=1");
    CHECK(h.version() == 11);
    CHECK(proxy::test::fields_of(h) == expected);
    CHECK(h.size() == 6);
    CHECK(h.find(http::field::host)->value() == "app.example");  // the first
    CHECK(h.count(http::field::host) == 2);
    CHECK(h.count("HOST") == 2);
    CHECK(h[http::field::content_length] == "5");
    CHECK(h["x-custom"] == "padded value");
    CHECK(h.find("X-CUSTOM")->name_string() == "X-Custom");
    CHECK(h.find("X-Missing") == h.end());
    CHECK(h[http::field::referer].empty());
    CHECK(h.find(http::field::unknown)->name_string() == "X-Custom");

    // The body goes into the caller's buffer, as with buffer_body.
    const std::string body = "hello";
    char buf[3];
    p.eager(true);
    std::size_t got = p.put(net::buffer(body), ec);
    CHECK(ec == http::error::need_buffer);  // no buffer yet
    CHECK(got == 0);
    ec = {};
    p.body().data = buf;
    p.body().size = sizeof buf;
    got = p.put(net::buffer(body), ec);
    CHECK(ec == http::error::need_buffer);
    CHECK(got == 3);
    CHECK(std::string_view(buf, 3) == "hel");
    ec = {};
    p.body().data = buf;
    p.body().size = sizeof buf;
    got = p.put(net::buffer(body.data() + 3, 2), ec);
    CHECK_FALSE(ec);
    CHECK(p.is_done());
    CHECK(std::string_view(buf, sizeof buf - p.body().size) == "lo");
}

namespace {

// Parses a response head handed over in two parts, as relay_response's reads do: Beast
// consumes the start line and every complete field as it goes, and the caller's buffer
// then moves its unread bytes to the front and fills up behind them, overwriting what
// the parser consumed.
void check_parsed_in_two_parts(const std::string& whole, std::size_t split, const field_list& expected) {
    INFO("split at " << split);
    buffer_pool pool;
    response_parser p(pool);
    std::string buffer = whole.substr(0, split);
    error_code ec;
    const std::size_t used = p.put(net::buffer(buffer), ec);
    if (ec) REQUIRE(ec == http::error::need_more);
    REQUIRE_FALSE(p.is_header_done());
    std::fill(buffer.begin(), buffer.end(), '#');
    std::string next = whole.substr(used);
    ec = {};
    const std::size_t rest = p.put(net::buffer(next), ec);
    REQUIRE_FALSE(ec);
    REQUIRE(p.is_header_done());
    CHECK(used + rest == whole.size());
    std::fill(next.begin(), next.end(), 'x');
    CHECK(p.get().result_int() == 200);
    CHECK(p.get().reason() == "OK");
    CHECK(proxy::test::fields_of(p.get()) == expected);
}

}  // namespace

TEST_CASE("head_parser: a head that arrives in parts", "[head]") {
    const std::string whole =
        "HTTP/1.1 200 OK\r\nServer: a\r\nX-Folded: one\r\n two\r\nContent-Length: 0\r\n\r\n";
    const field_list expected = beast_fields<false>(whole);
    for (std::size_t split = 1; split < whole.size(); ++split) check_parsed_in_two_parts(whole, split, expected);
}

TEST_CASE("head_parser: a head in parts that outgrows its first slab", "[head]") {
    // The first part fits a small slab, the whole head does not: the copy grows and the
    // views of the first part move with it.
    std::string whole = "HTTP/1.1 200 OK\r\nX-Early: " + std::string(600, 'e') + "\r\n";
    for (int i = 0; i < 30; ++i)
        whole += "X-Late-" + std::to_string(i) + ": " + std::string(100, 'a' + i % 26) + "\r\n";
    whole += "Content-Length: 0\r\n\r\n";
    const field_list expected = beast_fields<false>(whole);
    for (const std::size_t split : {std::size_t{40}, std::size_t{700}, std::size_t{1500}, whole.size() - 3})
        check_parsed_in_two_parts(whole, split, expected);
}

TEST_CASE("head_parser: more fields than the head holds inline", "[head]") {
    std::string text = "GET / HTTP/1.1\r\nHost: a\r\n";
    field_list expected{{"Host", "a"}};
    for (int i = 0; i < 3 * static_cast<int>(head_fields::inline_fields); ++i) {
        const std::string name = "X-F" + std::to_string(i);
        text += name + ": v" + std::to_string(i) + "\r\n";
        expected.emplace_back(name, "v" + std::to_string(i));
    }
    text += "Accept: */*\r\n\r\n";
    expected.emplace_back("Accept", "*/*");
    buffer_pool pool;
    request_parser p(pool);
    p.header_limit(1 << 20);
    error_code ec;
    p.put(net::buffer(text), ec);
    REQUIRE_FALSE(ec);
    std::string(text.size(), 'x').swap(text);
    auto& h = p.get();
    CHECK(proxy::test::fields_of(h) == expected);
    CHECK(h[http::field::accept] == "*/*");
    CHECK(h["x-f45"] == "v45");

    // erase keeps the others' order, and a copy is its own table.
    const request_head before = h;
    auto it = h.find("X-F3");
    it = h.erase(it);
    CHECK(it->name_string() == "X-F4");
    expected.erase(expected.begin() + 4);
    CHECK(proxy::test::fields_of(h) == expected);
    CHECK(h.find("X-F3") == h.end());
    CHECK(before.size() == h.size() + 1);
    CHECK(before["X-F3"] == "v3");
}

TEST_CASE("head_parser: a response head, obs-fold unfolded as Beast does", "[head]") {
    std::string text =
        "HTTP/1.1 404 Not Here\r\nContent-Type: text/plain\r\nX-Folded: first\r\n  second\r\n"
        "\tthird\r\nContent-Length: 0\r\n\r\n";
    const field_list expected = beast_fields<false>(text);
    REQUIRE(expected[1].second.find("first") == 0);
    REQUIRE(expected[1].second.find("third") != std::string::npos);
    buffer_pool pool;
    response_parser p(pool);
    error_code ec;
    p.put(net::buffer(text), ec);
    REQUIRE_FALSE(ec);
    std::string(text.size(), 'x').swap(text);
    const auto& h = p.get();
    CHECK(h.result_int() == 404);
    CHECK(h.result() == http::status::not_found);
    CHECK(h.reason() == "Not Here");
    CHECK(h.version() == 11);
    CHECK(proxy::test::fields_of(h) == expected);
    CHECK(p.is_done());  // Content-Length: 0

    // No reason at all.
    std::string bare = "HTTP/1.0 204 \r\n\r\n";
    response_parser q(pool);
    q.put(net::buffer(bare), ec);
    REQUIRE_FALSE(ec);
    std::string(bare.size(), 'x').swap(bare);
    CHECK(q.get().result_int() == 204);
    CHECK(q.get().reason().empty());
    CHECK(q.get().version() == 10);
    CHECK(q.get().empty());
}

TEST_CASE("head_parser: a head costs no allocation once the pool is warm", "[head]") {
    const std::string text =
        "GET /index.html?q=1 HTTP/1.1\r\nHost: app.example\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
        "Accept: text/html,application/xhtml+xml\r\nAccept-Language: en-GB,en;q=0.9\r\n"
        "Accept-Encoding: gzip, deflate, br\r\nCookie: session=abc; theme=dark\r\nConnection: keep-alive\r\n"
        "Upgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\n"
        "Sec-Fetch-Site: none\r\nCache-Control: max-age=0\r\n\r\n";
    const std::string response =
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Tue, 08 Dec 2026 02:00:00 GMT\r\n"
        "Content-Type: text/html\r\nContent-Length: 60\r\nConnection: keep-alive\r\n\r\n";
    buffer_pool pool;
    auto parse_both = [&] {
        request_parser p(pool);
        error_code ec;
        p.put(net::buffer(text), ec);
        response_parser r(pool);
        r.put(net::buffer(response), ec);
        return p.get().size() + r.get().size();
    };
    CHECK(parse_both() == 17);  // takes the pool's slabs
    const std::size_t before = allocations;
    CHECK(parse_both() == 17);
    CHECK(allocations == before);

    // Beast's own parser allocates for the same head: the counter sees it.
    const std::size_t beast_before = allocations;
    beast_fields<true>(text);
    CHECK(allocations > beast_before);
}

TEST_CASE("request_head::build owns its bytes, and copies share them", "[head]") {
    request_head h;
    {
        std::string method = "PATCH";
        std::string name = "X-Name";
        h = request_head::build(method, "/t", 10, {{name, "v"}, {"Host", "h"}});
        method.assign("xxxxx");
        name.assign("xxxxxx");
    }
    const request_head copy = h;
    h = request_head::build("GET", "/", 11, {});
    CHECK(copy.method() == http::verb::patch);
    CHECK(copy.method_string() == "PATCH");
    CHECK(copy.target() == "/t");
    CHECK(copy.version() == 10);
    CHECK(copy["x-name"] == "v");
    CHECK(copy.find(http::field::host)->value() == "h");
    CHECK(h.empty());
}
