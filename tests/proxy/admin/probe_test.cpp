#include "proxy/admin/probe.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

using namespace maintgate;
using namespace maintgate::proxy;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
// The bound on any one test's event loop: far above what a passing test needs.
constexpr auto test_deadline = std::chrono::seconds(20);

using request = http::request<http::string_body>;

// What the fake upstream does once it has read a request.
struct action {
    enum kind { reply, reply_and_hold, trickle, close, hang } what = reply;
    // Written as they are; then `reply` closes the connection, `reply_and_hold` keeps it
    // open, and `trickle` keeps it open sending one more byte every 100 ms for 5 s.
    std::string bytes;
};

action reply(std::string bytes) { return {action::reply, std::move(bytes)}; }
action reply_and_hold(std::string bytes) { return {action::reply_and_hold, std::move(bytes)}; }

std::string response(unsigned status, std::string_view body, std::string_view extra = {}) {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n" + std::string(extra) + "\r\n" + std::string(body);
}

// A small upstream on 127.0.0.1:0: reads each request with Beast, records it, and acts
// as the test's handler says.
class fake_upstream {
public:
    fake_upstream(net::io_context& ioc, std::function<action(const request&)> handler)
        : acceptor_(ioc, tcp::endpoint(net::ip::address_v4::loopback(), 0)), handler_(std::move(handler)) {
        net::co_spawn(ioc, serve(), net::detached);
    }

    tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }
    const std::vector<request>& requests() const { return requests_; }

    // Ends the accept loop and drops connections held open, so the event loop runs dry.
    void stop() {
        error_code ignored;
        acceptor_.close(ignored);
        for (auto& s : held_) s->close(ignored);
    }

private:
    net::awaitable<void> serve() {
        for (;;) {
            auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
            if (ec) co_return;
            net::co_spawn(acceptor_.get_executor(), session(std::make_shared<tcp::socket>(std::move(socket))),
                          net::detached);
        }
    }

    net::awaitable<void> session(std::shared_ptr<tcp::socket> socket) {
        beast::flat_buffer buf;
        request req;
        auto [ec, n] = co_await http::async_read(*socket, buf, req, use_tuple);
        if (ec) co_return;
        requests_.push_back(req);
        const action a = handler_(req);
        error_code ignored;
        switch (a.what) {
        case action::reply:
            co_await net::async_write(*socket, net::buffer(a.bytes), use_tuple);
            socket->shutdown(tcp::socket::shutdown_send, ignored);
            socket->close(ignored);
            break;
        case action::reply_and_hold:
            co_await net::async_write(*socket, net::buffer(a.bytes), use_tuple);
            held_.push_back(socket);
            break;
        case action::trickle: {
            held_.push_back(socket);
            auto [wec, wn] = co_await net::async_write(*socket, net::buffer(a.bytes), use_tuple);
            net::steady_timer timer(socket->get_executor());
            for (int i = 0; i < 50 && !wec; ++i) {
                timer.expires_after(std::chrono::milliseconds(100));
                co_await timer.async_wait(use_tuple);
                std::tie(wec, wn) = co_await net::async_write(*socket, net::buffer("a", 1), use_tuple);
            }
            break;
        }
        case action::close: socket->close(ignored); break;
        case action::hang: held_.push_back(socket); break;
        }
    }

    tcp::acceptor acceptor_;
    std::function<action(const request&)> handler_;
    std::vector<request> requests_;
    std::vector<std::shared_ptr<tcp::socket>> held_;
};

// Runs one awaitable to completion on ioc, then stops the upstream so the loop ends.
template <class T>
T run(net::io_context& ioc, fake_upstream& up, net::awaitable<T> op) {
    std::optional<T> out;
    std::exception_ptr error;
    net::co_spawn(ioc, std::move(op), [&](std::exception_ptr e, T value) {
        error = e;
        if (!e) out = std::move(value);
        up.stop();
    });
    ioc.run_for(test_deadline);
    REQUIRE_FALSE(error);
    REQUIRE(out.has_value());
    return std::move(*out);
}

upstream_config upstream_at(const tcp::endpoint& ep) {
    upstream_config u;
    u.host = "127.0.0.1";
    u.port = ep.port();
    return u;
}

check_request get(std::string path) {
    check_request c;
    c.path = std::move(path);
    c.timeout = std::chrono::seconds(5);
    return c;
}

// A port nothing listens on: bound by us, then released.
tcp::endpoint refused_endpoint(net::io_context& ioc) {
    tcp::acceptor a(ioc, tcp::endpoint(net::ip::address_v4::loopback(), 0));
    const auto ep = a.local_endpoint();
    a.close();
    return ep;
}

struct probe_run {
    probe_result result;
    std::vector<request> requests;
};

probe_run probe(const check_request& check, std::function<action(const request&)> handler,
                std::optional<upstream_config> u = std::nullopt) {
    net::io_context ioc;
    fake_upstream up(ioc, std::move(handler));
    const std::vector<tcp::endpoint> endpoints{up.endpoint()};
    const upstream_config cfg = u ? *u : upstream_at(up.endpoint());
    probe_run out;
    out.result = run(ioc, up, run_probe(check, endpoints, cfg));
    out.requests = up.requests();
    return out;
}

bool starts_with(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

TEST_CASE("probe: the expected status passes, with a short detail", "[probe]") {
    const auto run = probe(get("/healthz"), [](const request&) { return reply(response(200, "ok")); });
    const auto& r = run.result;
    CHECK(r.ok);
    CHECK(r.status == 200);
    CHECK(r.name == "GET /healthz");
    INFO(r.detail);
    CHECK(starts_with(r.detail, "200 in "));
    CHECK(r.detail.ends_with(" ms"));
    CHECK(r.detail == "200 in " + std::to_string(r.elapsed.count()) + " ms");
    REQUIRE(run.requests.size() == 1);
    CHECK(run.requests[0].method_string() == "GET");
    CHECK(run.requests[0].target() == "/healthz");
}

TEST_CASE("probe: a configured name is kept, and any expected status is honoured", "[probe]") {
    check_request c = get("/gone");
    c.name = "old page is gone";
    c.expect_status = 404;
    const auto r = probe(c, [](const request&) { return reply(response(404, "")); }).result;
    CHECK(r.ok);
    CHECK(r.status == 404);
    CHECK(r.name == "old page is gone");
    CHECK(starts_with(r.detail, "404 in "));
}

TEST_CASE("probe: a wrong status fails and says what came", "[probe]") {
    const auto r = probe(get("/"), [](const request&) { return reply(response(503, "down")); }).result;
    CHECK_FALSE(r.ok);
    CHECK(r.status == 503);
    CHECK(r.detail == "expected 200, got 503");

    check_request c = get("/");
    c.expect_status = 204;
    const auto r2 = probe(c, [](const request&) { return reply(response(200, "")); }).result;
    CHECK_FALSE(r2.ok);
    CHECK(r2.detail == "expected 204, got 200");
}

TEST_CASE("probe: body_contains looks in the body", "[probe]") {
    check_request c = get("/");
    c.body_contains = "Welcome";

    SECTION("found, with Content-Length") {
        const auto r =
            probe(c, [](const request&) { return reply(response(200, "<h1>Welcome home</h1>")); }).result;
        CHECK(r.ok);
        CHECK(starts_with(r.detail, "200 in "));
    }
    SECTION("found in a chunked body, across chunks") {
        const std::string chunked =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            "4\r\nWelc\r\n3\r\nome\r\n0\r\n\r\n";
        const auto r = probe(c, [&](const request&) { return reply(chunked); }).result;
        CHECK(r.ok);
    }
    SECTION("found in a body that ends when the connection closes") {
        const auto r =
            probe(c, [](const request&) { return reply("HTTP/1.1 200 OK\r\n\r\nWelcome"); }).result;
        CHECK(r.ok);
    }
    SECTION("missing") {
        const auto r = probe(c, [](const request&) { return reply(response(200, "<h1>Error</h1>")); }).result;
        CHECK_FALSE(r.ok);
        CHECK(r.status == 200);
        CHECK(r.detail == "body does not contain \"Welcome\"");
    }
    SECTION("the status is judged first") {
        const auto r = probe(c, [](const request&) { return reply(response(500, "Welcome")); }).result;
        CHECK_FALSE(r.ok);
        CHECK(r.detail == "expected 200, got 500");
    }
    SECTION("only the first 1 MiB is searched") {
        const std::string early = "Welcome" + std::string(3 * 1024 * 1024, 'x');
        CHECK(probe(c, [&](const request&) { return reply(response(200, early)); }).result.ok);

        const std::string late = std::string(1024 * 1024, 'x') + "Welcome" + std::string(1024 * 1024, 'x');
        const auto r = probe(c, [&](const request&) { return reply(response(200, late)); }).result;
        CHECK_FALSE(r.ok);
        CHECK(r.detail == "body does not contain \"Welcome\" (in its first 1 MiB)");
    }
    SECTION("the marker is shown escaped") {
        c.body_contains = "say \"hi\"\n";
        const auto r = probe(c, [](const request&) { return reply(response(200, "nothing")); }).result;
        CHECK(r.detail == "body does not contain \"say \\\"hi\\\"\\x0a\"");
    }
    SECTION("a truncated body is a bad response, even past the marker") {
        const auto r = probe(c, [](const request&) {
                           return reply("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nWelcome");
                       }).result;
        CHECK_FALSE(r.ok);
        INFO(r.detail);
        CHECK(starts_with(r.detail, "bad response: "));
    }
}

TEST_CASE("probe: without body_contains the body is never read", "[probe]") {
    // The upstream announces 1 GiB, sends none of it and keeps the connection open: a probe
    // that waited for the body would time out.
    const auto r = probe(get("/"), [](const request&) {
                       return reply_and_hold("HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n");
                   }).result;
    CHECK(r.ok);
    CHECK(r.status == 200);
    CHECK(r.elapsed < std::chrono::seconds(4));
}

TEST_CASE("probe: HEAD does not wait for the body its Content-Length describes", "[probe]") {
    check_request c = get("/");
    c.method = "HEAD";
    const auto run = probe(
        c, [](const request&) { return reply_and_hold("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"); });
    CHECK(run.result.ok);
    CHECK(run.result.name == "HEAD /");
    CHECK(run.result.elapsed < std::chrono::seconds(4));
    REQUIRE(run.requests.size() == 1);
    CHECK(run.requests[0].method() == http::verb::head);

    // The config refuses body_contains with HEAD, but a caller building its own check gets
    // a prompt answer too, not a wait for 5000 bytes that never come.
    c.body_contains = "x";
    const auto with_marker = probe(
        c, [](const request&) { return reply_and_hold("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"); });
    CHECK(with_marker.result.detail == "body does not contain \"x\"");
    CHECK(with_marker.result.elapsed < std::chrono::seconds(4));
}

TEST_CASE("probe: interim 1xx responses come before the answer", "[probe]") {
    const auto r =
        probe(get("/"), [](const request&) {
            return reply("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n" +
                         response(200, "ok"));
        }).result;
    CHECK(r.ok);
    CHECK(r.status == 200);
}

TEST_CASE("probe: an upstream that never answers times out at check.timeout", "[probe]") {
    check_request c = get("/slow");
    c.timeout = std::chrono::milliseconds(300);
    const auto r = probe(c, [](const request&) { return action{action::hang, {}}; }).result;
    CHECK_FALSE(r.ok);
    CHECK(r.status == 0);
    CHECK(r.detail == "timed out after 300ms");
    CHECK(r.elapsed >= std::chrono::milliseconds(300));
    CHECK(r.elapsed < std::chrono::seconds(3));

    // The deadline covers the whole exchange, not each read: a body that trickles in
    // faster than the timeout, with a marker that never comes, still ends at the deadline.
    c.body_contains = "never";
    const auto slow = probe(c, [](const request&) {
                          return action{action::trickle, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc"};
                      }).result;
    CHECK_FALSE(slow.ok);
    CHECK(slow.status == 200);
    CHECK(slow.detail == "timed out after 300ms");
    CHECK(slow.elapsed < std::chrono::seconds(2));
}

TEST_CASE("probe: an upstream that closes without answering", "[probe]") {
    const auto r = probe(get("/"), [](const request&) { return action{action::close, {}}; }).result;
    CHECK_FALSE(r.ok);
    CHECK(r.status == 0);
    CHECK(r.detail == "closed without a response");
}

TEST_CASE("probe: garbage is a bad response", "[probe]") {
    for (const std::string garbage : {"SSH-2.0-OpenSSH_9.2\r\n", "HTTP/1.1 2000 OK\r\n\r\n",
                                      "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"}) {
        INFO(garbage);
        const auto r = probe(get("/"), [&](const request&) { return reply(garbage); }).result;
        CHECK_FALSE(r.ok);
        CHECK(r.status == 0);
        INFO(r.detail);
        CHECK(starts_with(r.detail, "bad response: "));
    }
}

TEST_CASE("probe: connection failures", "[probe]") {
    net::io_context ioc;
    const tcp::endpoint refused = refused_endpoint(ioc);

    SECTION("a refused port") {
        fake_upstream up(ioc, [](const request&) { return reply(response(200, "")); });
        const auto r = run(ioc, up, run_probe(get("/"), {refused}, upstream_at(refused)));
        CHECK_FALSE(r.ok);
        CHECK(r.status == 0);
        CHECK(r.detail == "connect: Connection refused");
    }
    SECTION("endpoints are tried in order; the first that accepts is used") {
        fake_upstream up(ioc, [](const request&) { return reply(response(200, "")); });
        const auto r =
            run(ioc, up, run_probe(get("/"), {refused, up.endpoint()}, upstream_at(up.endpoint())));
        CHECK(r.ok);
        CHECK(up.requests().size() == 1);
    }
    SECTION("no endpoint at all") {
        fake_upstream up(ioc, [](const request&) { return reply(response(200, "")); });
        const auto r = run(ioc, up, run_probe(get("/"), {}, upstream_config{}));
        CHECK_FALSE(r.ok);
        CHECK(r.detail == "connect: no upstream address");
        CHECK(up.requests().empty());
    }
}

TEST_CASE("probe: the Host field", "[probe]") {
    const auto ok = [](const request&) { return reply(response(200, "")); };

    SECTION("check.host first") {
        check_request c = get("/");
        c.host = "check.example";
        upstream_config u;
        u.host_header = "app.example";
        const auto run = probe(c, ok, u);
        REQUIRE(run.requests.size() == 1);
        CHECK(run.requests[0][http::field::host] == "check.example");
    }
    SECTION("then upstream.host_header") {
        upstream_config u;
        u.host_header = "app.example";
        const auto run = probe(get("/"), ok, u);
        REQUIRE(run.requests.size() == 1);
        CHECK(run.requests[0][http::field::host] == "app.example");
    }
    SECTION("then the upstream's host:port") {
        upstream_config u;
        u.host = "app";
        u.port = 3000;
        const auto run = probe(get("/"), ok, u);
        REQUIRE(run.requests.size() == 1);
        CHECK(run.requests[0][http::field::host] == "app:3000");
        CHECK(run.requests[0].count(http::field::host) == 1);
    }
    SECTION("with brackets around an IPv6 address") {
        upstream_config u;
        u.host = "::1";
        u.port = 8080;
        const auto run = probe(get("/"), ok, u);
        REQUIRE(run.requests.size() == 1);
        CHECK(run.requests[0][http::field::host] == "[::1]:8080");
    }
}

TEST_CASE("probe: the method, target, headers and body arrive", "[probe]") {
    const auto ok = [](const request&) { return reply(response(201, "")); };

    SECTION("a POST with a body and headers") {
        check_request c = get("/api/search?q=1");
        c.method = "POST";
        c.expect_status = 201;
        c.body = "{\"q\":\"smoke\"}";
        c.headers = {{"Content-Type", "application/json"}, {"X-Check", "1"}, {"X-Check", "2"}};
        const auto run = probe(c, ok);
        CHECK(run.result.ok);
        REQUIRE(run.requests.size() == 1);
        const request& req = run.requests[0];
        CHECK(req.method() == http::verb::post);
        CHECK(req.target() == "/api/search?q=1");
        CHECK(req.version() == 11);
        CHECK(req.body() == "{\"q\":\"smoke\"}");
        CHECK(req[http::field::content_length] == "13");
        CHECK(req.count(http::field::transfer_encoding) == 0);
        CHECK(req[http::field::content_type] == "application/json");
        CHECK(req.count("X-Check") == 2);
        CHECK(req[http::field::user_agent] == "maintgate-check");
        CHECK(req[http::field::connection] == "close");
    }
    SECTION("a GET without a body has no Content-Length; a bodiless POST has 0") {
        const auto get_run = probe(get("/"), ok);
        REQUIRE(get_run.requests.size() == 1);
        CHECK(get_run.requests[0].count(http::field::content_length) == 0);

        check_request c = get("/");
        c.method = "POST";
        const auto post_run = probe(c, ok);
        REQUIRE(post_run.requests.size() == 1);
        CHECK(post_run.requests[0][http::field::content_length] == "0");
    }
    SECTION("a configured User-Agent replaces the default") {
        check_request c = get("/");
        c.headers = {{"user-agent", "uptime-robot"}};
        const auto run = probe(c, ok);
        REQUIRE(run.requests.size() == 1);
        CHECK(run.requests[0].count(http::field::user_agent) == 1);
        CHECK(run.requests[0][http::field::user_agent] == "uptime-robot");
    }
    SECTION("a method Beast does not know is sent as written") {
        check_request c = get("/");
        c.method = "PURGE";
        c.expect_status = 201;
        const auto run = probe(c, ok);
        CHECK(run.result.ok);
        REQUIRE(run.requests.size() == 1);
        CHECK(run.requests[0].method_string() == "PURGE");
    }
}

TEST_CASE("run_checks: the health check, then every smoke check, all of them", "[probe]") {
    reopen_config r;
    r.health = get("/healthz");
    check_request broken = get("/broken");
    broken.name = "broken page";
    check_request missing = get("/home");
    missing.body_contains = "Welcome";
    r.smoke = {get("/"), broken, missing};

    net::io_context ioc;
    fake_upstream up(ioc, [](const request& req) {
        if (req.target() == "/broken") return reply(response(500, "oops"));
        return reply(response(200, "hello"));
    });
    const std::vector<tcp::endpoint> endpoints{up.endpoint()};
    const upstream_config u = upstream_at(up.endpoint());
    const auto results = run(ioc, up, run_checks(r, endpoints, u));

    REQUIRE(results.size() == 4);
    CHECK(results[0].name == "GET /healthz");
    CHECK(results[0].ok);
    CHECK(results[1].name == "GET /");
    CHECK(results[1].ok);
    CHECK(results[2].name == "broken page");
    CHECK_FALSE(results[2].ok);
    CHECK(results[2].detail == "expected 200, got 500");
    CHECK(results[3].name == "GET /home");
    CHECK_FALSE(results[3].ok);
    CHECK(results[3].detail == "body does not contain \"Welcome\"");

    // In order, one request each, none skipped after the first failure.
    REQUIRE(up.requests().size() == 4);
    CHECK(up.requests()[0].target() == "/healthz");
    CHECK(up.requests()[1].target() == "/");
    CHECK(up.requests()[2].target() == "/broken");
    CHECK(up.requests()[3].target() == "/home");
}

TEST_CASE("run_checks: nothing configured, nothing run", "[probe]") {
    net::io_context ioc;
    fake_upstream up(ioc, [](const request&) { return reply(response(200, "")); });
    const auto results =
        run(ioc, up, run_checks(reopen_config{}, {up.endpoint()}, upstream_at(up.endpoint())));
    CHECK(results.empty());
    CHECK(up.requests().empty());

    // Without a health check, the smoke checks alone.
    net::io_context ioc2;
    fake_upstream up2(ioc2, [](const request&) { return reply(response(200, "")); });
    reopen_config r;
    r.smoke = {get("/a")};
    const auto smoke_only = run(ioc2, up2, run_checks(r, {up2.endpoint()}, upstream_at(up2.endpoint())));
    REQUIRE(smoke_only.size() == 1);
    CHECK(smoke_only[0].name == "GET /a");
    CHECK(smoke_only[0].ok);
}
