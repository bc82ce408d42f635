// [health_check] and [[smoke_check]].
#include "proxy/config/config.hpp"

#include <catch2/catch.hpp>

#include "tests/proxy/config/config_test_support.hpp"

using namespace maintgate;
using namespace maintgate::config_test;

TEST_CASE("health_check: defaults, and each mistake has its own message", "[config]") {
    const config minimal = load_ok(base + "[health_check]\npath = \"/healthz\"\n");
    REQUIRE(minimal.reopen.health.has_value());
    const check_request& h = *minimal.reopen.health;
    CHECK(h.name == "GET /healthz");
    CHECK(h.method == "GET");
    CHECK(h.path == "/healthz");
    CHECK(h.host.empty());
    CHECK(h.headers.empty());
    CHECK(h.body.empty());
    CHECK(h.expect_status == 200);
    CHECK(h.body_contains.empty());
    CHECK(h.timeout.count() == 5'000);
    CHECK(minimal.reopen.health_interval.count() == 10'000);
    CHECK(minimal.reopen.smoke.empty());
    // Subtables are tables too.
    const config sub = load_ok(base + "[health_check]\npath = \"/\"\n[health_check.headers]\nX-A = \"1\"\n");
    REQUIRE(sub.reopen.health.has_value());
    CHECK(sub.reopen.health->headers == std::vector<std::pair<std::string, std::string>>{{"X-A", "1"}});
    // Status bounds, and every visible ASCII byte but '#' in a target.
    CHECK(
        load_ok(base + "[health_check]\npath = \"/\"\nexpect_status = 100\n").reopen.health->expect_status ==
        100);
    CHECK(
        load_ok(base + "[health_check]\npath = \"/\"\nexpect_status = 599\n").reopen.health->expect_status ==
        599);
    CHECK(load_ok(base + "[health_check]\npath = \"/a%20b?x=[1]&y=~\"\n").reopen.health->path ==
          "/a%20b?x=[1]&y=~");

    const std::string hc = base + "[health_check]\npath = \"/\"\n";  // further keys on line 7
    check_single_errors({
        {base + "[health_check]\nmethod = \"GET\"\n",
         "t.toml:5:1: missing required key \"path\" in [health_check]"},
        {base + "[health_check]\npath = \"healthz\"\n",
         "t.toml:6:8: health_check.path: \"healthz\" must start with \"/\""},
        {base + "[health_check]\npath = \"\"\n", "t.toml:6:8: health_check.path: \"\" must start with \"/\""},
        {base + "[health_check]\npath = \"/a b\"\n",
         "t.toml:6:8: health_check.path: \"/a b\" must be visible ASCII without spaces (percent-encode the rest)"},
        {base + "[health_check]\npath = \"/a\\r\\nX: 1\"\n",
         "t.toml:6:8: health_check.path: \"/a\\x0d\\nX: 1\" must be visible ASCII without spaces (percent-encode the "
         "rest)"},
        {base + "[health_check]\npath = \"/caf\u00e9\"\n",
         "t.toml:6:8: health_check.path: \"/caf\u00e9\" must be visible ASCII without spaces (percent-encode the "
         "rest)"},
        {base + "[health_check]\npath = \"/#top\"\n",
         "t.toml:6:8: health_check.path: \"/#top\" must not contain \"#\": a fragment is never sent to a server"},
        {base + "[health_check]\npath = 5\n",
         "t.toml:6:8: health_check.path: expected a path such as \"/healthz\", got integer 5"},
        {hc + "method = \"get\"\n",
         "t.toml:7:10: health_check.method: \"get\" is not upper-case; methods are case-sensitive"},
        {hc + "method = \"GE T\"\n", "t.toml:7:10: health_check.method: \"GE T\" is not a method name"},
        {hc + "method = \"\"\n", "t.toml:7:10: health_check.method: \"\" is not a method name"},
        {hc + "method = \"CONNECT\"\n",
         "t.toml:7:10: health_check.method: \"CONNECT\" opens a tunnel and cannot be a check; use a method such as "
         "\"GET\""},
        {hc + "method = 1\n",
         "t.toml:7:10: health_check.method: expected a method name such as \"GET\", got integer 1"},
        {hc + "host = \"a b\"\n",
         "t.toml:7:8: health_check.host: \"a b\" is not a valid Host header value (no spaces, control or non-ASCII "
         "characters)"},
        {hc + "expect_status = 99\n",
         "t.toml:7:17: health_check.expect_status: 99 is out of range (100-599)"},
        {hc + "expect_status = 600\n",
         "t.toml:7:17: health_check.expect_status: 600 is out of range (100-599)"},
        {hc + "expect_status = \"200\"\n",
         "t.toml:7:17: health_check.expect_status: expected an integer, got string \"200\""},
        {hc + "body_contains = 5\n",
         "t.toml:7:17: health_check.body_contains: expected a string to find in the response body, got integer 5"},
        {hc + "method = \"HEAD\"\nbody_contains = \"ok\"\n",
         "t.toml:8:17: health_check.body_contains: a response to HEAD has no body; use \"GET\" to check the content"},
        {hc + "timeout = \"0s\"\n", "t.toml:7:11: health_check.timeout: must be greater than 0, got \"0s\""},
        {hc + "timeout = 5\n",
         "t.toml:7:11: health_check.timeout: expected a duration such as \"5s\" or \"250ms\", got integer 5"},
        {hc + "interval = \"10\"\n",
         "t.toml:7:12: health_check.interval: \"10\" has no unit; write \"10s\" for seconds or \"10ms\" for "
         "milliseconds"},
        {hc + "body = 5\n",
         "t.toml:7:8: health_check.body: expected a string (the request body), got integer 5"},
        {hc + "headers = \"X-A: 1\"\n",
         "t.toml:7:11: health_check.headers: expected a table such as { \"X-Check\" = \"1\" }, got string "
         "\"X-A: 1\""},
        {hc + "headers = { \"Bad Name\" = \"1\" }\n",
         "t.toml:7:13: health_check.headers.\"Bad Name\": not a valid header name"},
        {hc + "headers = { \"\" = \"1\" }\n",
         "t.toml:7:13: health_check.headers.\"\": not a valid header name"},
        {hc + "headers = { \"X-A\" = \"a\\r\\nX-Admin: 1\" }\n",
         "t.toml:7:21: health_check.headers.\"X-A\": \"a\\x0d\\nX-Admin: 1\" contains a control character (CR, LF or "
         "NUL would split the request)"},
        {hc + "headers = { \"X-A\" = \"a\\u0000\" }\n",
         "t.toml:7:21: health_check.headers.\"X-A\": \"a\\x00\" contains a control character (CR, LF or NUL would "
         "split the request)"},
        {hc + "headers = { \"X-A\" = 1 }\n",
         "t.toml:7:21: health_check.headers.\"X-A\": expected a string, got integer 1"},
        {hc + "headers = { host = \"x\" }\n",
         "t.toml:7:13: health_check.headers.\"host\": set the Host field with health_check.host"},
        {hc + "headers = { \"Content-Length\" = \"5\" }\n",
         "t.toml:7:13: health_check.headers.\"Content-Length\": set by the check itself and cannot be configured"},
        {hc + "headers = { \"transfer-encoding\" = \"chunked\" }\n",
         "t.toml:7:13: health_check.headers.\"transfer-encoding\": set by the check itself and cannot be configured"},
        {hc + "headers = { Connection = \"keep-alive\" }\n",
         "t.toml:7:13: health_check.headers.\"Connection\": set by the check itself and cannot be configured"},
        {"health_check = \"/healthz\"\n" + base,
         "t.toml:1:16: health_check: expected a table ([health_check]), got string \"/healthz\""},
        {base + "[[health_check]]\npath = \"/\"\n",
         "t.toml:5:1: health_check: expected a table ([health_check]), got array"},
    });
}

TEST_CASE("smoke_check: names, order, and each mistake has its own message", "[config]") {
    const config cfg =
        load_ok(base +
                "[[smoke_check]]\npath = \"/b\"\n[[smoke_check]]\npath = \"/a\"\nname = \"A\"\n"
                "[[smoke_check]]\nmethod = \"DELETE\"\npath = \"/b\"\n");
    REQUIRE(cfg.reopen.smoke.size() == 3);
    CHECK(cfg.reopen.smoke[0].name == "GET /b");
    CHECK(cfg.reopen.smoke[1].name == "A");
    CHECK(cfg.reopen.smoke[2].name == "DELETE /b");
    CHECK_FALSE(cfg.reopen.health.has_value());
    // An empty name is the default name; so is a name given twice by default.
    const config same =
        load_ok(base + "[[smoke_check]]\npath = \"/\"\nname = \"\"\n[[smoke_check]]\npath = \"/\"\n");
    REQUIRE(same.reopen.smoke.size() == 2);
    CHECK(same.reopen.smoke[0].name == "GET /");
    CHECK(same.reopen.smoke[1].name == "GET /");

    check_single_errors({
        {base + "[[smoke_check]]\nname = \"x\"\n",
         "t.toml:5:1: missing required key \"path\" in smoke_check[0]"},
        {base + "[[smoke_check]]\npath = \"/\"\n[[smoke_check]]\npath = \"x\"\n",
         "t.toml:8:8: smoke_check[1].path: \"x\" must start with \"/\""},
        {base + "[[smoke_check]]\npath = \"/\"\nname = \"a\\nb\"\n",
         "t.toml:7:8: smoke_check[0].name: \"a\\nb\" contains a control character"},
        {base + "[[smoke_check]]\npath = \"/\"\nname = 5\n",
         "t.toml:7:8: smoke_check[0].name: expected a string naming the check, got integer 5"},
        {base +
             "[[smoke_check]]\npath = \"/\"\nname = \"home\"\n[[smoke_check]]\npath = \"/x\"\nname = \"home\"\n",
         "t.toml:10:8: smoke_check[1].name: \"home\" is already used by smoke_check[0]"},
        {base + "[[smoke_check]]\npath = \"/\"\nmethod = \"post\"\n",
         "t.toml:7:10: smoke_check[0].method: \"post\" is not upper-case; methods are case-sensitive"},
        {base + "[[smoke_check]]\npath = \"/\"\nheaders = { \"A B\" = \"1\" }\n",
         "t.toml:7:13: smoke_check[0].headers.\"A B\": not a valid header name"},
        {base + "[smoke_check]\npath = \"/\"\n",
         "t.toml:5:1: smoke_check: expected [[smoke_check]] tables, got table"},
        {"smoke_check = 5\n" + base,
         "t.toml:1:15: smoke_check: expected [[smoke_check]] tables, got integer 5"},
        {"smoke_check = [5]\n" + base,
         "t.toml:1:16: smoke_check[0]: expected a table ([[smoke_check]]), got integer 5"},
    });
}
