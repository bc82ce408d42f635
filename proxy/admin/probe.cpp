#include "proxy/admin/probe.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <string_view>

#include "policy/ascii.hpp"
#include "proxy/config/duration.hpp"
#include "proxy/net/upstream_pool.hpp"

namespace maintgate::proxy {
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
// Enough to find a marker on any real page; reading further would let one huge response
// hold megabytes for a yes/no answer.
constexpr std::size_t body_cap = 1024 * 1024;
constexpr std::uint32_t header_limit = 64 * 1024;
// 100, 102 and 103 may come before the real answer; more than a few is an upstream bug.
constexpr int max_interim = 8;

using clock = std::chrono::steady_clock;

// What the upstream would see in the URL: brackets around an IPv6 literal, and the port.
std::string default_host(const upstream_config& u) {
    std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
    return host + ":" + std::to_string(u.port);
}

// The detail is one line for a terminal, a log and JSON: configured text is shown with
// quotes, backslashes and control bytes escaped.
std::string quoted(std::string_view text) {
    constexpr char hex[] = "0123456789abcdef";
    std::string out = "\"";
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xf];
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

// tcp_stream reports its own deadline as beast::error::timeout, whichever step it hit.
std::string failure(const error_code& ec, const check_request& check, std::string_view step) {
    if (ec == beast::error::timeout) return "timed out after " + format_duration(check.timeout);
    return std::string(step) + ": " + ec.message();
}

// A read error: the parser's own complaints are the upstream's fault ("bad response"),
// a socket error is the connection's.
std::string read_failure(const error_code& ec, const check_request& check) {
    if (ec == beast::error::timeout) return failure(ec, check, "read");
    if (ec.category() == http::make_error_code(http::error::end_of_stream).category())
        return "bad response: " + ec.message();
    return failure(ec, check, "read");
}

http::request<http::string_body> make_request(const check_request& check, const upstream_config& u) {
    http::request<http::string_body> req;
    req.method_string(check.method);
    req.target(check.path);
    req.version(11);
    req.set(http::field::host, !check.host.empty()      ? check.host
                               : !u.host_header.empty() ? u.host_header
                                                        : default_host(u));
    const bool own_agent = std::any_of(check.headers.begin(), check.headers.end(),
                                       [](const auto& h) { return policy::iequals(h.first, "user-agent"); });
    if (!own_agent) req.set(http::field::user_agent, "maintgate-check");
    // One request per connection: nothing is pooled, so nothing can go stale between checks.
    req.set(http::field::connection, "close");
    for (const auto& [name, value] : check.headers) req.insert(name, value);
    // Content-Length: 0 too for the methods that define a body, as RFC 9110 asks; some
    // servers answer a bodiless POST without one with 411.
    const bool body_method = check.method == "POST" || check.method == "PUT" || check.method == "PATCH";
    if (!check.body.empty() || body_method) req.content_length(check.body.size());
    req.body() = check.body;
    return req;
}

// One check, start to finish; run_probe adds the name, the time taken and the catch-all.
net::awaitable<probe_result> attempt(const check_request& check, const std::vector<tcp::endpoint>& upstream,
                                     const upstream_config& u, clock::time_point start) {
    probe_result r;
    if (upstream.empty()) {
        r.detail = "connect: no upstream address";
        co_return r;
    }
    // The same stream as the data path: plain TCP, or TLS verified as configured.
    upstream_stream stream(co_await net::this_coro::executor, u.tls_context.get());
    // One deadline for connect, send and the whole response: the tcp_stream timer is
    // absolute, so later steps get only what the earlier ones left.
    stream.tcp().expires_at(start + check.timeout);

    auto [cec, ep] = co_await connect_any(stream.tcp(), upstream);
    if (cec) {
        r.detail = failure(cec, check, "connect");
        co_return r;
    }
    error_code ignored;
    stream.socket().set_option(tcp::no_delay(true), ignored);
    std::string tls_detail;
    if (auto hec = co_await stream.handshake(tls_detail)) {
        r.detail = hec == beast::error::timeout ? failure(hec, check, "TLS") : "TLS: " + tls_detail;
        co_return r;
    }

    auto req = make_request(check, u);
    auto [wec, written] = co_await http::async_write(stream, req, use_tuple);
    if (wec) {
        r.detail = failure(wec, check, "send");
        co_return r;
    }

    beast::flat_buffer buf;
    std::optional<http::response_parser<http::string_body>> parser;
    for (int interim = 0;; ++interim) {
        parser.emplace();
        parser->header_limit(header_limit);
        // The body is cut at body_cap by not reading further, so no parser limit applies.
        parser->body_limit(boost::none);
        // A response to HEAD has a Content-Length but no body; without skip the parser would
        // wait for bytes that never come.
        if (check.method == "HEAD") parser->skip(true);
        auto [ec, n] = co_await http::async_read_header(stream, buf, *parser, use_tuple);
        if (ec) {
            r.detail = ec == http::error::end_of_stream && interim == 0 ? "closed without a response"
                                                                        : read_failure(ec, check);
            co_return r;
        }
        const unsigned status = parser->get().result_int();
        // An interim 1xx (not 101, which ends HTTP on this connection) precedes the answer.
        const bool interim_reply =
            status >= 100 && status < 200 && status != 101 && status != check.expect_status;
        if (!interim_reply || interim + 1 == max_interim) break;
    }
    r.status = parser->get().result_int();
    if (r.status != check.expect_status) {
        r.detail = "expected " + std::to_string(check.expect_status) + ", got " + std::to_string(r.status);
        co_return r;
    }

    if (!check.body_contains.empty()) {
        while (!parser->is_done() && parser->get().body().size() < body_cap) {
            auto [ec, n] = co_await http::async_read_some(stream, buf, *parser, use_tuple);
            if (ec) {
                r.detail = read_failure(ec, check);
                co_return r;
            }
        }
        const std::string& body = parser->get().body();
        const bool cut = body.size() >= body_cap && !parser->is_done();
        if (std::string_view(body).substr(0, body_cap).find(check.body_contains) == std::string_view::npos) {
            r.detail =
                "body does not contain " + quoted(check.body_contains) + (cut ? " (in its first 1 MiB)" : "");
            co_return r;
        }
    }
    r.ok = true;
    co_return r;
}

}  // namespace

net::awaitable<probe_result> run_probe(const check_request& check, const std::vector<tcp::endpoint>& upstream,
                                       const upstream_config& u) {
    const auto start = clock::now();
    probe_result r;
    std::string name = check.name.empty() ? check.method + " " + check.path : check.name;
    try {
        r = co_await attempt(check, upstream, u, start);
    } catch (const std::exception& e) {
        // Allocation failure, mostly: a check must report, never take the caller down.
        r = probe_result{};
        r.detail = std::string("check failed: ") + e.what();
    }
    r.name = std::move(name);
    r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start);
    if (r.ok) r.detail = std::to_string(r.status) + " in " + std::to_string(r.elapsed.count()) + " ms";
    co_return r;
}

net::awaitable<std::vector<probe_result>> run_checks(const reopen_config& r,
                                                     const std::vector<tcp::endpoint>& upstream,
                                                     const upstream_config& u) {
    std::vector<probe_result> out;
    out.reserve(r.smoke.size() + 1);
    if (r.health) out.push_back(co_await run_probe(*r.health, upstream, u));
    for (const auto& check : r.smoke) out.push_back(co_await run_probe(check, upstream, u));
    co_return out;
}

}  // namespace maintgate::proxy
