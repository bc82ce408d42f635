#include "proxy/config.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using namespace maintgate;

namespace {

constexpr const char* file_name = "t.toml";

// Four lines that make a valid document; cases append to it, so an appended
// section starts on line 5.
const std::string base = "[[listener]]\n"
                         "address = \"127.0.0.1:8080\"\n"
                         "[upstream]\n"
                         "url = \"http://127.0.0.1:3000\"\n";

load_result load(const std::string& text)
{
    return load_config_string(text, file_name);
}

std::vector<std::string> messages(const load_result& result)
{
    std::vector<std::string> out;
    for (const auto& e : result.errors)
        out.push_back(e.to_string());
    return out;
}

// The address sits on line 2, column 11.
std::string with_listener(const std::string& address)
{
    return "[[listener]]\naddress = \"" + address + "\"\n[upstream]\nurl = \"http://127.0.0.1:3000\"\n";
}

// The URL sits on line 4, column 7.
std::string with_upstream_url(const std::string& url)
{
    return "[[listener]]\naddress = \"127.0.0.1:8080\"\n[upstream]\nurl = \"" + url + "\"\n";
}

config load_ok(const std::string& text)
{
    const auto result = load(text);
    INFO("document:\n" << text);
    for (const auto& m : messages(result))
        UNSCOPED_INFO(m);
    REQUIRE(result.errors.empty());
    REQUIRE(result.cfg.has_value());
    return *result.cfg;
}

struct bad_case {
    std::string document;
    std::string error;  // the one error expected, as to_string() renders it
};

void check_single_errors(const std::vector<bad_case>& cases)
{
    for (const auto& c : cases) {
        INFO("document:\n" << c.document);
        const auto result = load(c.document);
        CHECK_FALSE(result.cfg.has_value());
        CHECK(messages(result) == std::vector<std::string>{c.error});
    }
}

// The defaults documented in config.hpp, spelled out so a changed default is a
// deliberate edit here too.
void check_defaults_except_listeners_and_upstream_url(const config& cfg)
{
    const unsigned cores = std::clamp(std::thread::hardware_concurrency(), 1u, 256u);
    CHECK(cfg.workers == cores);

    CHECK(cfg.upstream.host_header.empty());
    CHECK(cfg.upstream.connect_timeout.count() == 5'000);
    CHECK(cfg.upstream.response_timeout.count() == 60'000);
    CHECK(cfg.upstream.max_idle == 64);
    CHECK(cfg.upstream.idle_timeout.count() == 4'000);

    CHECK(cfg.timeouts.header.count() == 10'000);
    CHECK(cfg.timeouts.body_idle.count() == 60'000);
    CHECK(cfg.timeouts.keepalive.count() == 75'000);
    CHECK(cfg.timeouts.send.count() == 60'000);
    CHECK(cfg.timeouts.tunnel_idle.count() == 3'600'000);
    CHECK(cfg.timeouts.expect_continue.count() == 1'000);
    CHECK(cfg.timeouts.shutdown.count() == 30'000);

    CHECK(cfg.limits.max_connections == 10'000);
    CHECK(cfg.limits.max_header_size == 16'384);
    CHECK(cfg.limits.max_headers == 100);
    CHECK(cfg.limits.max_uri_size == 8'192);
    CHECK(cfg.limits.max_body_size == 0);

    CHECK(cfg.forwarding.trusted_proxies.empty());
    CHECK(cfg.forwarding.via == true);

    CHECK(cfg.log.error == "stderr");
    CHECK(cfg.log.level == "info");
    CHECK(cfg.log.access.empty());
    CHECK(cfg.log.format == access_format::combined);
}

void check_local_listener_and_demo_upstream(const config& cfg)
{
    REQUIRE(cfg.listeners.size() == 1);
    CHECK(cfg.listeners[0].address == "127.0.0.1:8080");
    CHECK(cfg.listeners[0].host == "127.0.0.1");
    CHECK(cfg.listeners[0].port == 8080);
    CHECK(cfg.upstream.url == "http://127.0.0.1:3000");
    CHECK(cfg.upstream.host == "127.0.0.1");
    CHECK(cfg.upstream.port == 3000);
}

}  // namespace

TEST_CASE("config_error renders file:line:column", "[config]")
{
    CHECK(config_error{"a.toml", 3, 7, "boom"}.to_string() == "a.toml:3:7: boom");
    CHECK(config_error{"a.toml", 3, 0, "boom"}.to_string() == "a.toml:3: boom");
    CHECK(config_error{"a.toml", 0, 0, "boom"}.to_string() == "a.toml: boom");
}

TEST_CASE("a minimal document takes every default", "[config]")
{
    const config cfg = load_ok(base);
    CHECK(cfg.source == file_name);
    check_local_listener_and_demo_upstream(cfg);
    check_defaults_except_listeners_and_upstream_url(cfg);
}

TEST_CASE("the embedded default loads and is the documented default", "[config]")
{
    const std::string text(default_config_text());
    const auto result = load_config_string(text, "<embedded default>");
    for (const auto& m : messages(result))
        UNSCOPED_INFO(m);
    REQUIRE(result.errors.empty());
    REQUIRE(result.cfg.has_value());
    CHECK(result.cfg->source == "<embedded default>");
    check_local_listener_and_demo_upstream(*result.cfg);
    check_defaults_except_listeners_and_upstream_url(*result.cfg);
}

TEST_CASE("maintgate.example.toml loads and states the true defaults", "[config]")
{
    const std::string path = std::string(MAINTGATE_SOURCE_DIR) + "/maintgate.example.toml";
    const auto result = load_config_file(path);
    for (const auto& m : messages(result))
        UNSCOPED_INFO(m);
    REQUIRE(result.errors.empty());
    REQUIRE(result.cfg.has_value());
    CHECK(result.cfg->source == path);
    check_local_listener_and_demo_upstream(*result.cfg);
    check_defaults_except_listeners_and_upstream_url(*result.cfg);

    // Every key is documented there, set or (for workers, whose default depends on
    // the machine) commented out.
    std::ifstream in(path);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const char* keys[] = {
        "#workers = ",       "[[listener]]",      "address = ",        "[upstream]",      "url = ",
        "host_header = ",    "connect_timeout = ", "response_timeout = ", "max_idle = ",     "idle_timeout = ",
        "[timeouts]",        "header = ",         "body_idle = ",      "keepalive = ",    "send = ",
        "tunnel_idle = ",    "expect_continue = ", "shutdown = ",       "[limits]",        "max_connections = ",
        "max_header_size = ", "max_headers = ",    "max_uri_size = ",   "max_body_size = ", "[forwarding]",
        "trusted_proxies = ", "via = ",            "[log]",             "error = ",        "level = ",
        "access = ",         "access_format = ",   "[gate]",            "initial_mode = ", "state_file = ",
        "corrupt_state_mode = ", "retry_after = ", "upstream_down_page = ", "pages_dir = ", "bypass_cidrs = ",
        "bypass_secret = ",  "bypass_header = ",  "bypass_path = ",    "bypass_cookie_ttl = ", "status_path = ",
        "#[[rule]]",         "#path_prefix = ",   "#path = ",          "#path_regex = ",  "#methods = ",
        "#action = ",        "#reason = ",
    };
    for (const char* key : keys) {
        INFO("key: " << key);
        CHECK(text.find(std::string("\n") + key) != std::string::npos);
    }
}

TEST_CASE("every key is read", "[config]")
{
    const config cfg = load_ok(R"(workers = 3

[[listener]]
address = "0.0.0.0:80"

[[listener]]
address = "[::1]:8443"

[[listener]]
address = "127.0.0.1:0"

[[listener]]
address = "127.0.0.1:0"

[upstream]
url = "http://app.internal:8000/"
host_header = "www.example.com"
connect_timeout = "250ms"
response_timeout = "2m"
idle_timeout = "3s"
max_idle = 0

[timeouts]
header = "5s"
body_idle = "30s"
keepalive = "1m15s"
send = "45s"
tunnel_idle = "2h"
expect_continue = "500ms"
shutdown = "1m"

[limits]
max_connections = 500
max_header_size = 1024
max_headers = 50
max_uri_size = 1024
max_body_size = "10MiB"

[forwarding]
trusted_proxies = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]
via = false

[log]
error = "/var/log/maintgate/error.log"
level = "debug"
access = "stdout"
access_format = "json"
)");
    CHECK(cfg.workers == 3);
    REQUIRE(cfg.listeners.size() == 4);
    CHECK(cfg.listeners[0].address == "0.0.0.0:80");
    CHECK(cfg.listeners[0].host == "0.0.0.0");
    CHECK(cfg.listeners[0].port == 80);
    CHECK(cfg.listeners[1].address == "[::1]:8443");
    CHECK(cfg.listeners[1].host == "::1");
    CHECK(cfg.listeners[1].port == 8443);
    CHECK(cfg.listeners[2].host == "127.0.0.1");
    CHECK(cfg.listeners[2].port == 0);
    CHECK(cfg.listeners[3].port == 0);

    CHECK(cfg.upstream.url == "http://app.internal:8000/");
    CHECK(cfg.upstream.host == "app.internal");
    CHECK(cfg.upstream.port == 8000);
    CHECK(cfg.upstream.host_header == "www.example.com");
    CHECK(cfg.upstream.connect_timeout.count() == 250);
    CHECK(cfg.upstream.response_timeout.count() == 120'000);
    CHECK(cfg.upstream.idle_timeout.count() == 3'000);
    CHECK(cfg.upstream.max_idle == 0);

    CHECK(cfg.timeouts.header.count() == 5'000);
    CHECK(cfg.timeouts.body_idle.count() == 30'000);
    CHECK(cfg.timeouts.keepalive.count() == 75'000);
    CHECK(cfg.timeouts.send.count() == 45'000);
    CHECK(cfg.timeouts.tunnel_idle.count() == 7'200'000);
    CHECK(cfg.timeouts.expect_continue.count() == 500);
    CHECK(cfg.timeouts.shutdown.count() == 60'000);

    CHECK(cfg.limits.max_connections == 500);
    CHECK(cfg.limits.max_header_size == 1024);
    CHECK(cfg.limits.max_headers == 50);
    CHECK(cfg.limits.max_uri_size == 1024);
    CHECK(cfg.limits.max_body_size == 10 * 1024 * 1024);

    REQUIRE(cfg.forwarding.trusted_proxies.size() == 3);
    const auto inside = policy::parse_ip("10.1.2.3");
    const auto outside = policy::parse_ip("11.0.0.1");
    REQUIRE(inside.has_value());
    REQUIRE(outside.has_value());
    CHECK(cfg.forwarding.trusted_proxies[0].contains(*inside));
    CHECK_FALSE(cfg.forwarding.trusted_proxies[0].contains(*outside));
    CHECK(cfg.forwarding.via == false);

    CHECK(cfg.log.error == "/var/log/maintgate/error.log");
    CHECK(cfg.log.level == "debug");
    CHECK(cfg.log.access == "stdout");
    CHECK(cfg.log.format == access_format::json);
}

TEST_CASE("inline tables and arrays of inline tables are the same document", "[config]")
{
    const config cfg = load_ok(R"(listener = [{ address = "127.0.0.1:9000" }]
upstream = { url = "http://127.0.0.1:3000", max_idle = 8 }
)");
    REQUIRE(cfg.listeners.size() == 1);
    CHECK(cfg.listeners[0].port == 9000);
    CHECK(cfg.upstream.max_idle == 8);
}

TEST_CASE("upstream URLs that are accepted", "[config]")
{
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
    };
    for (const auto& c : cases) {
        const config cfg = load_ok(with_upstream_url(c.url));
        CHECK(cfg.upstream.url == c.url);
        CHECK(cfg.upstream.host == c.host);
        CHECK(cfg.upstream.port == c.port);
    }
}

TEST_CASE("body sizes that are accepted", "[config]")
{
    struct size_case {
        const char* toml_value;
        std::uint64_t bytes;
    };
    const size_case cases[] = {
        {"0", 0},
        {"1048576", 1'048'576},
        {"\"0\"", 0},
        {"\"512\"", 512},
        {"\"512B\"", 512},
        {"\"64k\"", 65'536},
        {"\"64K\"", 65'536},
        {"\"64kB\"", 65'536},
        {"\"64KiB\"", 65'536},
        {"\"10M\"", 10'485'760},
        {"\"10MB\"", 10'485'760},
        {"\"10MiB\"", 10'485'760},
        {"\"2G\"", 2'147'483'648},
        {"\"1T\"", 1'099'511'627'776},
        {"\"16777215T\"", 18'446'742'974'197'923'840u},
    };
    for (const auto& c : cases) {
        const config cfg = load_ok(base + "[limits]\nmax_body_size = " + c.toml_value + "\n");
        CHECK(cfg.limits.max_body_size == c.bytes);
    }
}

TEST_CASE("listener addresses: each mistake has its own message", "[config]")
{
    check_single_errors({
        {with_listener("127.0.0.1:70000"), "t.toml:2:11: listener[0].address: port 70000 is out of range (0-65535)"},
        {with_listener("127.0.0.1:123456"), "t.toml:2:11: listener[0].address: port 123456 is out of range (0-65535)"},
        {with_listener("127.0.0.1"),
         "t.toml:2:11: listener[0].address: expected \"host:port\" such as \"127.0.0.1:8080\" or \"[::1]:8080\", "
         "got \"127.0.0.1\""},
        {with_listener("127.0.0.1:"), "t.toml:2:11: listener[0].address: missing port after \":\""},
        {with_listener("127.0.0.1:http"), "t.toml:2:11: listener[0].address: port \"http\" is not a number"},
        {with_listener("127.0.0.1:-1"), "t.toml:2:11: listener[0].address: port \"-1\" is not a number"},
        {with_listener("localhost:8080"),
         "t.toml:2:11: listener[0].address: \"localhost\" is not an IP address; a listener takes a literal IPv4 "
         "address or a bracketed IPv6 address (no host names), such as \"127.0.0.1:8080\" or \"[::1]:8080\""},
        {with_listener("256.0.0.1:80"),
         "t.toml:2:11: listener[0].address: \"256.0.0.1\" is not an IP address; a listener takes a literal IPv4 "
         "address or a bracketed IPv6 address (no host names), such as \"127.0.0.1:8080\" or \"[::1]:8080\""},
        {with_listener(":8080"),
         "t.toml:2:11: listener[0].address: missing host; use \"0.0.0.0\" to listen on every IPv4 address"},
        {with_listener("::1:8080"),
         "t.toml:2:11: listener[0].address: an IPv6 address needs brackets, such as \"[::1]:8080\""},
        {with_listener("[::1]"),
         "t.toml:2:11: listener[0].address: expected \"host:port\" such as \"127.0.0.1:8080\" or \"[::1]:8080\", "
         "got \"[::1]\""},
        {with_listener("[::1:8080"),
         "t.toml:2:11: listener[0].address: missing \"]\" after the IPv6 address in \"[::1:8080\""},
        {with_listener("[fe80::1%eth0]:80"),
         "t.toml:2:11: listener[0].address: \"fe80::1%eth0\" is not an IPv6 address"},
        {with_listener("[127.0.0.1]:80"), "t.toml:2:11: listener[0].address: \"127.0.0.1\" is not an IPv6 address"},
        {"[[listener]]\naddress = 8080\n[upstream]\nurl = \"http://127.0.0.1:3000\"\n",
         "t.toml:2:11: listener[0].address: expected a string such as \"127.0.0.1:8080\", got integer 8080"},
        {"[[listener]]\n[upstream]\nurl = \"http://127.0.0.1:3000\"\n",
         "t.toml:1:1: missing required key \"address\" in listener[0]"},
    });
}

TEST_CASE("listeners: presence, shape and duplicates", "[config]")
{
    const std::string upstream = "[upstream]\nurl = \"http://127.0.0.1:3000\"\n";
    check_single_errors({
        {upstream, "t.toml: at least one [[listener]] is required"},
        {"listener = []\n" + upstream, "t.toml:1:12: at least one [[listener]] is required"},
        {"[listener]\naddress = \"127.0.0.1:8080\"\n" + upstream,
         "t.toml:1:1: listener: expected an array of tables ([[listener]]), got table"},
        {"listener = \"127.0.0.1:8080\"\n" + upstream,
         "t.toml:1:12: listener: expected an array of tables ([[listener]]), got string \"127.0.0.1:8080\""},
        {"listener = [\"127.0.0.1:8080\"]\n" + upstream,
         "t.toml:1:13: listener[0]: expected a table ([[listener]]), got string \"127.0.0.1:8080\""},
        {"[[listener]]\naddress = \"127.0.0.1:8080\"\n[[listener]]\naddress = \"127.0.0.1:8080\"\n" + upstream,
         "t.toml:4:11: listener[1].address: \"127.0.0.1:8080\" is already used by listener[0]"},
        // The same address however it is spelt.
        {"[[listener]]\naddress = \"[::1]:8080\"\n[[listener]]\naddress = \"[0:0::1]:8080\"\n" + upstream,
         "t.toml:4:11: listener[1].address: \"[0:0::1]:8080\" is already used by listener[0]"},
        {"[[listener]]\naddress = \"127.0.0.1:1\"\n[[listener]]\naddress = \"127.0.0.1:2\"\n"
         "[[listener]]\naddress = \"127.0.0.1:1\"\n" + upstream,
         "t.toml:6:11: listener[2].address: \"127.0.0.1:1\" is already used by listener[0]"},
    });

    // Different ports, or port 0 (the kernel picks a fresh one each time), are fine.
    const config cfg = load_ok("[[listener]]\naddress = \"127.0.0.1:0\"\n[[listener]]\naddress = \"127.0.0.1:0\"\n"
                               "[[listener]]\naddress = \"127.0.0.1:1\"\n[[listener]]\naddress = \"[::1]:1\"\n"
                               + upstream);
    CHECK(cfg.listeners.size() == 4);
}

TEST_CASE("upstream: each mistake has its own message", "[config]")
{
    const std::string listener = "[[listener]]\naddress = \"127.0.0.1:8080\"\n";
    check_single_errors({
        {listener,
         "t.toml: missing required table [upstream] (url = \"http://HOST:PORT\" of the app to forward to)"},
        {"upstream = \"http://127.0.0.1:3000\"\n" + listener,
         "t.toml:1:12: upstream: expected a table ([upstream]), got string \"http://127.0.0.1:3000\""},
        {listener + "[upstream]\nmax_idle = 4\n", "t.toml:3:1: missing required key \"url\" in [upstream]"},
        {with_upstream_url("https://127.0.0.1:3000"), "t.toml:4:7: upstream.url: https upstreams are not supported yet"},
        {with_upstream_url("HTTPS://app"), "t.toml:4:7: upstream.url: https upstreams are not supported yet"},
        {with_upstream_url("ftp://app"),
         "t.toml:4:7: upstream.url: scheme \"ftp\" is not supported; use \"http://HOST[:PORT]\""},
        {with_upstream_url("127.0.0.1:3000"),
         "t.toml:4:7: upstream.url: expected \"http://HOST[:PORT]\", got \"127.0.0.1:3000\""},
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
        {with_upstream_url("http://app:65536"), "t.toml:4:7: upstream.url: port 65536 is out of range (1-65535)"},
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
         "t.toml:5:15: upstream.host_header: \"" + std::string(80, 'a') + "...\" is not a valid Host header value "
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
        {base + "max_idle = \"64\"\n", "t.toml:5:12: upstream.max_idle: expected an integer, got string \"64\""},
    });
}

TEST_CASE("timeouts: every key is a duration greater than 0", "[config]")
{
    const char* keys[] = {"header", "body_idle", "keepalive", "send", "tunnel_idle", "expect_continue", "shutdown"};
    for (const std::string key : keys) {
        const std::string column = std::to_string(key.size() + 4);
        check_single_errors({
            {base + "[timeouts]\n" + key + " = \"0ms\"\n",
             "t.toml:6:" + column + ": timeouts." + key + ": must be greater than 0, got \"0ms\""},
            {base + "[timeouts]\n" + key + " = 30\n",
             "t.toml:6:" + column + ": timeouts." + key
                 + ": expected a duration such as \"5s\" or \"250ms\", got integer 30"},
            {base + "[timeouts]\n" + key + " = \"1.5s\"\n",
             "t.toml:6:" + column + ": timeouts." + key
                 + ": \"1.5s\" is not a duration; use whole numbers with units ms, s, m, h, d, largest first, such "
                   "as \"5s\", \"250ms\" or \"1h30m\""},
        });
    }
    check_single_errors({
        {"timeouts = 5\n" + base, "t.toml:1:12: timeouts: expected a table ([timeouts]), got integer 5"},
    });
}

TEST_CASE("limits: ranges, the cross-field rule and sizes", "[config]")
{
    const std::string limits = base + "[limits]\n";
    check_single_errors({
        {limits + "max_connections = 0\n", "t.toml:6:19: limits.max_connections: 0 is out of range (1-1000000)"},
        {limits + "max_connections = 1000001\n",
         "t.toml:6:19: limits.max_connections: 1000001 is out of range (1-1000000)"},
        {limits + "max_header_size = 1023\n",
         "t.toml:6:19: limits.max_header_size: 1023 is out of range (1024-1048576)"},
        {limits + "max_header_size = 1048577\n",
         "t.toml:6:19: limits.max_header_size: 1048577 is out of range (1024-1048576)"},
        {limits + "max_headers = 0\n", "t.toml:6:15: limits.max_headers: 0 is out of range (1-10000)"},
        {limits + "max_headers = 10001\n", "t.toml:6:15: limits.max_headers: 10001 is out of range (1-10000)"},
        {limits + "max_headers = 1.5\n", "t.toml:6:15: limits.max_headers: expected an integer, got float 1.5"},
        {limits + "max_uri_size = 15\n", "t.toml:6:16: limits.max_uri_size: 15 is out of range (16-16384)"},
        {limits + "max_header_size = 4096\nmax_uri_size = 8\n",
         "t.toml:7:16: limits.max_uri_size: 8 is out of range (16-4096)"},
        // The cross-field rule, against the default and against a configured head size.
        {limits + "max_uri_size = 16385\n",
         "t.toml:6:16: limits.max_uri_size: 16385 is larger than limits.max_header_size (16384, the default); the "
         "request-target must fit in the request head"},
        {limits + "max_uri_size = 8192\nmax_header_size = 4096\n",
         "t.toml:6:16: limits.max_uri_size: 8192 is larger than limits.max_header_size (4096); the request-target "
         "must fit in the request head"},
        // One mistake, one error: a bad max_header_size does not also fail max_uri_size.
        {limits + "max_header_size = 100\nmax_uri_size = 8192\n",
         "t.toml:6:19: limits.max_header_size: 100 is out of range (1024-1048576)"},
    });

    // Two mistakes, two errors; the URI is then held to the absolute ceiling.
    const auto result = load(limits + "max_header_size = 100\nmax_uri_size = 2000000\n");
    CHECK(messages(result) == std::vector<std::string>{
        "t.toml:6:19: limits.max_header_size: 100 is out of range (1024-1048576)",
        "t.toml:7:16: limits.max_uri_size: 2000000 is out of range (16-1048576)",
    });
}

TEST_CASE("limits.max_body_size: what is not a size", "[config]")
{
    const std::string limits = base + "[limits]\n";
    const std::string usage
        = "is not a size; use a whole number of bytes, or a string with a unit k, M, G or T, such as \"64k\" or "
          "\"10M\"";
    const char* malformed[] = {"", "10 M", "10m", "10g", "1.5M", "M", "-1", "10MB ", " 10M", "10iB", "10Mi",
                               "10kk", "0x10"};
    for (const std::string text : malformed) {
        check_single_errors({
            {limits + "max_body_size = \"" + text + "\"\n",
             "t.toml:6:17: limits.max_body_size: \"" + text + "\" " + usage},
        });
    }
    check_single_errors({
        {limits + "max_body_size = \"16777216T\"\n", "t.toml:6:17: limits.max_body_size: \"16777216T\" is too large"},
        {limits + "max_body_size = \"99999999999999999999\"\n",
         "t.toml:6:17: limits.max_body_size: \"99999999999999999999\" is too large"},
        {limits + "max_body_size = -1\n",
         "t.toml:6:17: limits.max_body_size: -1 is negative; use 0 for no limit, or a size in bytes"},
        {limits + "max_body_size = true\n",
         "t.toml:6:17: limits.max_body_size: expected a size such as 1048576 or \"10M\", got boolean true"},
    });
}

TEST_CASE("forwarding: trusted proxies and via", "[config]")
{
    const std::string forwarding = base + "[forwarding]\n";
    // The CIDR parser owns its wording; the config adds the key path and position.
    const std::string cidr_error = policy::parse_cidr("10.0.0.1/8").error;
    REQUIRE_FALSE(cidr_error.empty());
    check_single_errors({
        {forwarding + "trusted_proxies = [\"10.0.0.0/8\", \"10.0.0.1/8\"]\n",
         "t.toml:6:34: forwarding.trusted_proxies[1]: " + cidr_error},
        {forwarding + "trusted_proxies = [\n  \"10.0.0.0/8\",\n  \"10.0.0.1/8\",\n]\n",
         "t.toml:8:3: forwarding.trusted_proxies[1]: " + cidr_error},
        {forwarding + "trusted_proxies = [5]\n",
         "t.toml:6:20: forwarding.trusted_proxies[0]: expected a string such as \"10.0.0.0/8\", got integer 5"},
        {forwarding + "trusted_proxies = \"10.0.0.0/8\"\n",
         "t.toml:6:19: forwarding.trusted_proxies: expected an array of strings such as [\"10.0.0.0/8\"], got string "
         "\"10.0.0.0/8\""},
        {forwarding + "via = \"yes\"\n", "t.toml:6:7: forwarding.via: expected true or false, got string \"yes\""},
        {forwarding + "via = 1\n", "t.toml:6:7: forwarding.via: expected true or false, got integer 1"},
    });
}

TEST_CASE("log: destinations, level and format", "[config]")
{
    const std::string log = base + "[log]\n";
    check_single_errors({
        {log + "level = \"verbose\"\n",
         "t.toml:6:9: log.level: \"verbose\" is not one of \"trace\", \"debug\", \"info\", \"warn\", \"error\", "
         "\"critical\" or \"off\""},
        {log + "level = \"INFO\"\n",
         "t.toml:6:9: log.level: \"INFO\" is not one of \"trace\", \"debug\", \"info\", \"warn\", \"error\", "
         "\"critical\" or \"off\""},
        {log + "level = 3\n",
         "t.toml:6:9: log.level: expected one of \"trace\", \"debug\", \"info\", \"warn\", \"error\", \"critical\" "
         "or \"off\", got integer 3"},
        {log + "access_format = \"clf\"\n",
         "t.toml:6:17: log.access_format: \"clf\" is not one of \"combined\" or \"json\""},
        {log + "error = \"\"\n", "t.toml:6:9: log.error: must be \"stderr\" or a file path, got \"\""},
        {log + "error = 1\n", "t.toml:6:9: log.error: expected a string (\"stderr\" or a file path), got integer 1"},
        {log + "access = false\n",
         "t.toml:6:10: log.access: expected a string (\"\" for none, \"stdout\", \"stderr\" or a file path), got "
         "boolean false"},
    });
}

TEST_CASE("top level: workers and wrong types", "[config]")
{
    check_single_errors({
        {"workers = 0\n" + base, "t.toml:1:11: workers: 0 is out of range (1-256)"},
        {"workers = 257\n" + base, "t.toml:1:11: workers: 257 is out of range (1-256)"},
        {"workers = \"4\"\n" + base, "t.toml:1:11: workers: expected an integer, got string \"4\""},
        {"workers = 2.0\n" + base, "t.toml:1:11: workers: expected an integer, got float 2.0"},
        {"workers = [2]\n" + base, "t.toml:1:11: workers: expected an integer, got array"},
        {"workers = 1979-05-27\n" + base, "t.toml:1:11: workers: expected an integer, got date 1979-05-27"},
        {base + "[limits]\nmax_headers = { n = 1 }\n",
         "t.toml:6:15: limits.max_headers: expected an integer, got table"},
    });
    const config cfg = load_ok("workers = 256\n" + base);
    CHECK(cfg.workers == 256);
}

TEST_CASE("unknown keys and tables are errors, with a suggestion for typos", "[config]")
{
    check_single_errors({
        {base + "conect_timeout = \"5s\"\n",
         "t.toml:5:1: unknown key \"conect_timeout\" in [upstream]; did you mean \"connect_timeout\"?"},
        {base + "timeout = \"5s\"\n", "t.toml:5:1: unknown key \"timeout\" in [upstream]"},
        {"worker = 2\n" + base, "t.toml:1:1: unknown key \"worker\" at the top level; did you mean \"workers\"?"},
        {"colour = \"blue\"\n" + base, "t.toml:1:1: unknown key \"colour\" at the top level"},
        {base + "[upstrem]\nurl = \"x\"\n", "t.toml:5:1: unknown table [upstrem]; did you mean [upstream]?"},
        {base + "[timeout]\nheader = \"5s\"\n", "t.toml:5:1: unknown table [timeout]; did you mean [timeouts]?"},
        {base + "[admin]\nsocket = \"/run/maintgate.sock\"\n", "t.toml:5:1: unknown table [admin]"},
        {base + "[[backend]]\npath_prefix = \"/healthz\"\n", "t.toml:5:1: unknown table [[backend]]"},
        {base + "[[listeners]]\naddress = \"127.0.0.1:8081\"\n",
         "t.toml:5:1: unknown table [[listeners]]; did you mean [[listener]]?"},
        {base + "[upstream.tls]\nverify = true\n", "t.toml:5:1: unknown table [upstream.tls]"},
        {base + "tls = { verify = true }\n", "t.toml:5:1: unknown key \"tls\" in [upstream]"},
        {"[[listener]]\naddress = \"127.0.0.1:8080\"\ntls_cert = \"/etc/cert.pem\"\n[upstream]\nurl = \"http://a\"\n",
         "t.toml:3:1: unknown key \"tls_cert\" in listener[0]"},
        {base + "[log]\nformat = \"json\"\n", "t.toml:6:1: unknown key \"format\" in [log]"},
        {base + "[limits]\nmax_body = 5\n", "t.toml:6:1: unknown key \"max_body\" in [limits]"},
        {base + "[forwarding]\n\"via \" = true\n",
         "t.toml:6:1: unknown key \"via \" in [forwarding]; did you mean \"via\"?"},
    });
}

TEST_CASE("every error in a document is reported, in document order", "[config]")
{
    // Tables out of alphabetical order, so sorting by key would show.
    const auto result = load(R"(workers = 0
[[listener]]
adress = "127.0.0.1:8080"

[timeouts]
header = "0s"
sendd = "5s"

[log]
level = "loud"

[limits]
max_uri_size = 20000
max_body_size = "lots"

[[listener]]
address = "localhost:80"
)");
    CHECK_FALSE(result.cfg.has_value());
    CHECK(messages(result) == std::vector<std::string>{
        "t.toml:1:11: workers: 0 is out of range (1-256)",
        "t.toml:2:1: missing required key \"address\" in listener[0]",
        "t.toml:3:1: unknown key \"adress\" in listener[0]; did you mean \"address\"?",
        "t.toml:6:10: timeouts.header: must be greater than 0, got \"0s\"",
        "t.toml:7:1: unknown key \"sendd\" in [timeouts]; did you mean \"send\"?",
        "t.toml:10:9: log.level: \"loud\" is not one of \"trace\", \"debug\", \"info\", \"warn\", \"error\", "
        "\"critical\" or \"off\"",
        "t.toml:13:16: limits.max_uri_size: 20000 is larger than limits.max_header_size (16384, the default); the "
        "request-target must fit in the request head",
        "t.toml:14:17: limits.max_body_size: \"lots\" is not a size; use a whole number of bytes, or a string with a "
        "unit k, M, G or T, such as \"64k\" or \"10M\"",
        "t.toml:17:11: listener[1].address: \"localhost\" is not an IP address; a listener takes a literal IPv4 "
        "address or a bracketed IPv6 address (no host names), such as \"127.0.0.1:8080\" or \"[::1]:8080\"",
        "t.toml: missing required table [upstream] (url = \"http://HOST:PORT\" of the app to forward to)",
    });
}

TEST_CASE("a TOML syntax error is one error at its position", "[config]")
{
    struct syntax_case {
        std::string document;
        std::uint32_t line;
        std::uint32_t column;
    };
    const syntax_case cases[] = {
        {base + "connect_timeout = \n", 5, 19},
        {base + "url = \"http://x\"\n", 5, 7},           // a key defined twice (toml++ points at the value)
        {base + "[upstream]\n", 5, 1},                   // a table defined twice
        {"workers = 99999999999999999999\n" + base, 1, 31},  // not representable in 64 bits
        {base + "host_header = \"a\\qb\"\n", 5, 18},    // unknown escape
    };
    for (const auto& c : cases) {
        INFO("document:\n" << c.document);
        const auto result = load(c.document);
        CHECK_FALSE(result.cfg.has_value());
        REQUIRE(result.errors.size() == 1);
        CHECK(result.errors[0].file == "t.toml");
        CHECK(result.errors[0].line == c.line);
        CHECK(result.errors[0].column == c.column);
        CHECK_FALSE(result.errors[0].message.empty());
    }

    // The whole rendering, for the case an operator meets most: a missing value.
    CHECK(messages(load("workers = \n" + base))
          == std::vector<std::string>{"t.toml:1:11: Error while parsing key-value pair: expected value, saw '\\n'"});
}

TEST_CASE("load_config_file names the file in every error", "[config]")
{
    const auto dir = std::filesystem::temp_directory_path()
                     / ("maintgate_config_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "bad.toml").string();
    {
        std::ofstream out(path);
        out << base << "max_idle = -5\n";
    }
    const auto result = load_config_file(path);
    CHECK(messages(result) == std::vector<std::string>{path + ":5:12: upstream.max_idle: -5 is out of range (0-100000)"});

    const std::string good = (dir / "good.toml").string();
    {
        std::ofstream out(good);
        out << base;
    }
    const auto ok = load_config_file(good);
    REQUIRE(ok.cfg.has_value());
    CHECK(ok.cfg->source == good);

    SECTION("an unreadable path is one error without a position")
    {
        const std::string missing = (dir / "missing.toml").string();
        CHECK(messages(load_config_file(missing))
              == std::vector<std::string>{missing + ": cannot read config file: No such file or directory"});
        CHECK(messages(load_config_file(dir.string()))
              == std::vector<std::string>{dir.string() + ": cannot read config file: Is a directory"});
    }
    std::filesystem::remove_all(dir);
}
