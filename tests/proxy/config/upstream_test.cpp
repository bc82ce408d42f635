// [upstream]: the URL, the pool, and TLS to an https:// upstream.
#include "proxy/config/config.hpp"

#include <catch2/catch.hpp>

#include "tests/proxy/config/config_test_support.hpp"

using namespace maintgate;
using namespace maintgate::config_test;

TEST_CASE("upstream URLs that are accepted", "[config]") {
    struct url_case {
        const char* url;
        const char* host;
        std::uint16_t port;
    };
    const url_case cases[] = {
        {"http://127.0.0.1:3000", "127.0.0.1", 3000},
        {"http://app", "app", 80},
        {"http://app/", "app", 80},
        {"HTTP://App.Internal:8080/", "App.Internal", 8080},
        {"http://my_app:3000", "my_app", 3000},
        {"http://[::1]:8080", "::1", 8080},
        {"http://[2001:db8::1]", "2001:db8::1", 80},
        {"http://[2001:db8::1]/", "2001:db8::1", 80},
        {"http://app:65535", "app", 65535},
        {"https://app", "app", 443},
        {"HTTPS://app.internal:8443/", "app.internal", 8443},
        {"https://[::1]", "::1", 443},
    };
    for (const auto& c : cases) {
        const config cfg = load_ok(with_upstream_url(c.url));
        CHECK(cfg.upstream.url == c.url);
        CHECK(cfg.upstream.host == c.host);
        CHECK(cfg.upstream.port == c.port);
        CHECK(cfg.upstream.tls == (c.url[4] == 's' || c.url[4] == 'S'));
        CHECK(cfg.upstream.tls_verify);
        CHECK(cfg.upstream.tls_context == nullptr);  // built by the server, never the loader
    }
}

TEST_CASE("upstream: each mistake has its own message", "[config]") {
    const std::string listener = "[[listener]]\naddress = \"127.0.0.1:8080\"\n";
    check_single_errors({
        {listener,
         "t.toml: missing required table [upstream] (url = \"http://HOST:PORT\" of the app to forward to)"},
        {"upstream = \"http://127.0.0.1:3000\"\n" + listener,
         "t.toml:1:12: upstream: expected a table ([upstream]), got string \"http://127.0.0.1:3000\""},
        {listener + "[upstream]\nmax_idle = 4\n", "t.toml:3:1: missing required key \"url\" in [upstream]"},
        {with_upstream_url("ftp://app"),
         "t.toml:4:7: upstream.url: scheme \"ftp\" is not supported; use \"http://HOST[:PORT]\" or "
         "\"https://HOST[:PORT]\""},
        {with_upstream_url("127.0.0.1:3000"),
         "t.toml:4:7: upstream.url: expected \"http://HOST[:PORT]\" or \"https://HOST[:PORT]\", got "
         "\"127.0.0.1:3000\""},
        {with_upstream_url("https://app/base"),
         "t.toml:4:7: upstream.url: a path (\"/base\") is not supported; the URL names only the server"},
        {with_upstream_url("http://user:secret@app:3000"),
         "t.toml:4:7: upstream.url: user info (\"user:secret@\") is not allowed in the upstream URL"},
        {with_upstream_url("http://app:3000/base"),
         "t.toml:4:7: upstream.url: a path (\"/base\") is not supported; the URL names only the server"},
        {with_upstream_url("http://app:3000/?x=1"),
         "t.toml:4:7: upstream.url: a query (\"?x=1\") is not allowed in the upstream URL"},
        {with_upstream_url("http://app:3000?x=1"),
         "t.toml:4:7: upstream.url: a query (\"?x=1\") is not allowed in the upstream URL"},
        {with_upstream_url("http://app#top"),
         "t.toml:4:7: upstream.url: a fragment (\"#top\") is not allowed in the upstream URL"},
        {with_upstream_url("http://app:0"), "t.toml:4:7: upstream.url: port 0 is out of range (1-65535)"},
        {with_upstream_url("http://app:65536"),
         "t.toml:4:7: upstream.url: port 65536 is out of range (1-65535)"},
        {with_upstream_url("http://app:"), "t.toml:4:7: upstream.url: missing port after \":\""},
        {with_upstream_url("http://app:web"), "t.toml:4:7: upstream.url: port \"web\" is not a number"},
        {with_upstream_url("http://:3000"), "t.toml:4:7: upstream.url: missing host in \"http://:3000\""},
        {with_upstream_url("http://"), "t.toml:4:7: upstream.url: missing host in \"http://\""},
        {with_upstream_url("http://10.0.0.300"),
         "t.toml:4:7: upstream.url: \"10.0.0.300\" is not a valid IPv4 address"},
        {with_upstream_url("http://my app"), "t.toml:4:7: upstream.url: \"my app\" is not a valid host name"},
        {with_upstream_url("http://-app"), "t.toml:4:7: upstream.url: \"-app\" is not a valid host name"},
        {with_upstream_url("http://app..internal"),
         "t.toml:4:7: upstream.url: \"app..internal\" is not a valid host name"},
        {with_upstream_url("http://::1:3000"),
         "t.toml:4:7: upstream.url: an IPv6 address needs brackets, such as \"http://[::1]:3000\""},
        {with_upstream_url("http://[::1"),
         "t.toml:4:7: upstream.url: missing \"]\" after the IPv6 address in \"[::1\""},
        {with_upstream_url("http://[::g]:80"), "t.toml:4:7: upstream.url: \"::g\" is not an IPv6 address"},
        {with_upstream_url("http://[::1]x"),
         "t.toml:4:7: upstream.url: expected \":PORT\" after \"[::1]\", got \"x\""},
        {listener + "[upstream]\nurl = 3000\n",
         "t.toml:4:7: upstream.url: expected a string such as \"http://127.0.0.1:3000\", got integer 3000"},
        {base + "host_header = \"a b\"\n",
         "t.toml:5:15: upstream.host_header: \"a b\" is not a valid Host header value (no spaces, control or "
         "non-ASCII characters)"},
        {base + "host_header = \"evil\\r\\nX-Admin: 1\"\n",
         "t.toml:5:15: upstream.host_header: \"evil\\x0d\\nX-Admin: 1\" is not a valid Host header value (no "
         "spaces, control or non-ASCII characters)"},
        // A long value is cut so one pasted blob cannot bury the other errors.
        {base + "host_header = \"" + std::string(100, 'a') + " b\"\n",
         "t.toml:5:15: upstream.host_header: \"" + std::string(80, 'a') +
             "...\" is not a valid Host header value "
             "(no spaces, control or non-ASCII characters)"},
        {base + "host_header = 5\n",
         "t.toml:5:15: upstream.host_header: expected a string such as \"app.example.com\", got integer 5"},
        {base + "connect_timeout = 5\n",
         "t.toml:5:19: upstream.connect_timeout: expected a duration such as \"5s\" or \"250ms\", got integer 5"},
        {base + "connect_timeout = \"5\"\n",
         "t.toml:5:19: upstream.connect_timeout: \"5\" has no unit; write \"5s\" for seconds or \"5ms\" for "
         "milliseconds"},
        {base + "connect_timeout = \"5x\"\n",
         "t.toml:5:19: upstream.connect_timeout: \"5x\" is not a duration; use whole numbers with units ms, s, m, "
         "h, d, largest first, such as \"5s\", \"250ms\" or \"1h30m\""},
        {base + "response_timeout = \"0s\"\n",
         "t.toml:5:20: upstream.response_timeout: must be greater than 0, got \"0s\""},
        {base + "idle_timeout = \"-1s\"\n",
         "t.toml:5:16: upstream.idle_timeout: \"-1s\" is not a duration; use whole numbers with units ms, s, m, h, "
         "d, largest first, such as \"5s\", \"250ms\" or \"1h30m\""},
        {base + "max_idle = 100001\n", "t.toml:5:12: upstream.max_idle: 100001 is out of range (0-100000)"},
        {base + "max_idle = -1\n", "t.toml:5:12: upstream.max_idle: -1 is out of range (0-100000)"},
        {base + "max_idle = \"64\"\n",
         "t.toml:5:12: upstream.max_idle: expected an integer, got string \"64\""},
    });
}

TEST_CASE("https upstreams: each mistake has its own message", "[config][tls]") {
    const std::string listener = "[[listener]]\naddress = \"127.0.0.1:8080\"\n";
    const std::string https = listener + "[upstream]\nurl = \"https://app\"\n";
    const std::string http = listener + "[upstream]\nurl = \"http://app\"\n";
    check_single_errors({
        {http + "tls_verify = false\n",
         "t.toml:5:14: upstream.tls_verify: only an https:// upstream takes this"},
        {http + "tls_ca_file = \"ca.pem\"\n",
         "t.toml:5:15: upstream.tls_ca_file: only an https:// upstream takes this"},
        {https + "tls_verify = \"no\"\n",
         "t.toml:5:14: upstream.tls_verify: expected true or false, got string \"no\""},
        {https + "tls_server_name = \"a b\"\n",
         "t.toml:5:19: upstream.tls_server_name: \"a b\" is not a valid host name"},
        {https + "tls_verify = false\ntls_ca_file = \"ca.pem\"\n",
         "t.toml:6:15: upstream.tls_ca_file: set, but tls_verify = false ignores it; remove one"},
    });
    CHECK_FALSE(load_ok(https + "tls_verify = false\n").upstream.tls_verify);
}
