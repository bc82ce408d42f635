#include "proxy/config/config.hpp"

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
    CHECK(cfg.upstream.tls_verify);
    CHECK(cfg.upstream.tls_ca_file.empty());
    CHECK(cfg.upstream.tls_server_name.empty());

    for (const auto& l : cfg.listeners) {
        CHECK_FALSE(l.https());
        CHECK(l.sni.empty());
        CHECK(l.tls_ciphers == default_tls_ciphers);
        CHECK(l.tls_ciphersuites == default_tls_ciphersuites);
        CHECK(l.tls_min_version == 0x0303);
        CHECK(l.hsts_field.empty());
        CHECK_FALSE(l.redirect_https);
        CHECK(l.redirect_except.empty());
        CHECK(l.tls_context == nullptr);
    }

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
    CHECK(cfg.forwarding.underscores_in_headers == underscores_policy::drop);

    CHECK(cfg.log.error == "stderr");
    CHECK(cfg.log.level == "info");
    CHECK(cfg.log.access.empty());
    CHECK(cfg.log.format == access_format::combined);

    CHECK(cfg.gate.state_file.empty());
    CHECK(cfg.gate.audit_log.empty());

    // admin.socket is checked by each caller: the embedded default sets one.
    CHECK(cfg.admin.socket_mode == 0600);
    CHECK(cfg.admin.socket_owner.empty());
    CHECK(cfg.admin.socket_group.empty());
    CHECK(cfg.admin.metrics.empty());
    CHECK(cfg.admin.metrics_host.empty());
    CHECK(cfg.admin.metrics_port == 0);

    CHECK_FALSE(cfg.reopen.health.has_value());
    CHECK(cfg.reopen.health_interval.count() == 10'000);
    CHECK(cfg.reopen.smoke.empty());
    CHECK(cfg.reopen.watch.count() == 0);
    CHECK(cfg.reopen.max_error_rate == 0.05);
    CHECK(cfg.reopen.min_requests == 20);
    CHECK(cfg.reopen.freeze_timeout.count() == 30'000);
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
    CHECK(cfg.admin.socket.empty());
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
    // An admin socket, so `maintgate ctl` can drive the demo; no metrics listener.
    CHECK(result.cfg->admin.socket == "/tmp/maintgate-admin.sock");
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
    // The built-in configuration spelt out: the same admin socket, so the file runs as
    // shipped and `maintgate ctl -c maintgate.example.toml status` reaches it.
    const auto embedded = load_config_string(std::string(default_config_text()), "<embedded default>");
    REQUIRE(embedded.cfg.has_value());
    CHECK(result.cfg->admin.socket == embedded.cfg->admin.socket);
    CHECK(result.cfg->admin.metrics == embedded.cfg->admin.metrics);

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
        "trusted_proxies = ", "via = ",            "underscores_in_headers = ", "[log]",             "error = ",        "level = ",
        "access = ",         "access_format = ",   "[gate]",            "initial_mode = ", "state_file = ",
        "corrupt_state_mode = ", "retry_after = ", "upstream_down_page = ", "pages_dir = ", "bypass_cidrs = ",
        "bypass_secret = ",  "bypass_header = ",  "bypass_path = ",    "bypass_cookie_ttl = ", "status_path = ",
        "#[[rule]]",         "#path_prefix = ",   "#path = ",          "#path_regex = ",  "#methods = ",
        "#action = ",        "#reason = ",        "audit_log = ",      "[admin]",         "socket = ",
        "socket_mode = ",    "socket_owner = ",   "socket_group = ",   "#metrics = ",     "#[health_check]",
        "#method = ",        "#host = ",          "#expect_status = ", "#body_contains = ", "#timeout = ",
        "#interval = ",      "#headers = ",       "#body = ",          "#[[smoke_check]]", "#name = ",
        "[reopen]",          "watch = ",          "max_error_rate = ", "min_requests = ", "freeze_timeout = ",
        "#tls_cert = ",      "#tls_key = ",       "#[[listener.sni]]", "#server_names = ", "#tls_ciphers = ",
        "#tls_ciphersuites = ", "#tls_min_version = ", "#hsts = ",     "#redirect_https = ", "#redirect_except = ",
        "#tls_verify = ",    "#tls_ca_file = ",   "#tls_server_name = ",
    };
    for (const char* key : keys) {
        INFO("key: " << key);
        CHECK(text.find(std::string("\n") + key) != std::string::npos);
    }
}

TEST_CASE("the example's commented-out defaults are the binary's defaults", "[config]")
{
    const std::string path = std::string(MAINTGATE_SOURCE_DIR) + "/maintgate.example.toml";
    std::ifstream in(path);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto line_of = [&](const std::string& start) {
        const auto at = text.find("\n" + start);
        INFO("line: " << start);
        REQUIRE(at != std::string::npos);
        const auto end = text.find('\n', at + 1);
        return text.substr(at + 1, end - at - 1);
    };

    // [health_check], uncommented as written (less its example headers and with the
    // required path), against a health check that sets nothing but the path.
    const auto from = text.find("\n#[health_check]\n");
    const auto to = text.find("\n\n", from + 1);
    REQUIRE(from != std::string::npos);
    std::string block;
    for (std::size_t at = from + 1; at < to;) {
        auto end = text.find('\n', at);
        std::string line = text.substr(at, end - at);
        at = end + 1;
        // "#key = value": a setting; "# words": a comment, kept out.
        if (line.size() > 1 && line[0] == '#' && line[1] != ' ' && !line.starts_with("#headers"))
            block += line.substr(1) + "\n";
    }
    INFO(block);
    const config documented = load_ok(base + block);
    const config minimal = load_ok(base + "[health_check]\npath = \"/healthz\"\n");
    REQUIRE(documented.reopen.health.has_value());
    REQUIRE(minimal.reopen.health.has_value());
    const auto& d = *documented.reopen.health;
    const auto& m = *minimal.reopen.health;
    CHECK(d.name == m.name);
    CHECK(d.method == m.method);
    CHECK(d.path == m.path);
    CHECK(d.host == m.host);
    CHECK(d.body == m.body);
    CHECK(d.expect_status == m.expect_status);
    CHECK(d.body_contains == m.body_contains);
    CHECK(d.timeout == m.timeout);
    CHECK(documented.reopen.health_interval == minimal.reopen.health_interval);

    // The TLS settings shown commented out are the compiled-in ones.
    CHECK(line_of("#tls_verify = ") == "#tls_verify = true");
    CHECK(line_of("#tls_ciphers = ") == "#tls_ciphers = \"" + std::string(default_tls_ciphers) + "\"");
    CHECK(line_of("#tls_ciphersuites = ") == "#tls_ciphersuites = \"" + std::string(default_tls_ciphersuites) + "\"");
    CHECK(line_of("#tls_min_version = ") == "#tls_min_version = \"1.2\"");
    CHECK(minimal.listeners.at(0).tls_min_version == 0x0303);
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
underscores_in_headers = "reject"

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
    CHECK(cfg.forwarding.underscores_in_headers == underscores_policy::reject);

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

TEST_CASE("forwarding.underscores_in_headers: each value, and each mistake", "[config]")
{
    const std::string forwarding = base + "[forwarding]\n";
    const struct {
        const char* text;
        underscores_policy expected;
    } accepted[] = {
        {"drop", underscores_policy::drop},
        {"reject", underscores_policy::reject},
        {"forward", underscores_policy::forward},
    };
    for (const auto& a : accepted) {
        INFO("value: " << a.text);
        const config cfg = load_ok(forwarding + "underscores_in_headers = \"" + a.text + "\"\n");
        CHECK(cfg.forwarding.underscores_in_headers == a.expected);
    }
    // Left out, the safe choice: nginx's default, and what CGI-style apps need.
    CHECK(load_ok(forwarding + "via = true\n").forwarding.underscores_in_headers == underscores_policy::drop);

    const std::string choices = "\"drop\", \"reject\" or \"forward\"";
    check_single_errors({
        // nginx's own spelling of the setting is a boolean; neither it nor a near miss
        // is guessed at.
        {forwarding + "underscores_in_headers = \"on\"\n",
         "t.toml:6:26: forwarding.underscores_in_headers: \"on\" is not one of " + choices},
        {forwarding + "underscores_in_headers = \"Drop\"\n",
         "t.toml:6:26: forwarding.underscores_in_headers: \"Drop\" is not one of " + choices},
        {forwarding + "underscores_in_headers = \"\"\n",
         "t.toml:6:26: forwarding.underscores_in_headers: \"\" is not one of " + choices},
        {forwarding + "underscores_in_headers = true\n",
         "t.toml:6:26: forwarding.underscores_in_headers: expected one of " + choices + ", got boolean true"},
        {forwarding + "via = false\nunderscores_in_headers = [\"drop\"]\n",
         "t.toml:7:26: forwarding.underscores_in_headers: expected one of " + choices + ", got array"},
        // A typo of the key gets a suggestion rather than silently keeping the default.
        {forwarding + "underscore_in_headers = \"forward\"\n",
         "t.toml:6:1: unknown key \"underscore_in_headers\" in [forwarding]; did you mean "
         "\"underscores_in_headers\"?"},
        // It belongs to [forwarding], not [limits].
        {base + "[limits]\nunderscores_in_headers = \"drop\"\n",
         "t.toml:6:1: unknown key \"underscores_in_headers\" in [limits]"},
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
        {base + "[admn]\nsocket = \"/run/maintgate.sock\"\n", "t.toml:5:1: unknown table [admn]; did you mean [admin]?"},
        {base + "[reopn]\nwatch = \"5m\"\n", "t.toml:5:1: unknown table [reopn]; did you mean [reopen]?"},
        {base + "[[smoke_checks]]\npath = \"/\"\n",
         "t.toml:5:1: unknown table [[smoke_checks]]; did you mean [[smoke_check]]?"},
        {base + "[healthcheck]\npath = \"/\"\n",
         "t.toml:5:1: unknown table [healthcheck]; did you mean [health_check]?"},
        {base + "[gate]\naudit_logs = \"a.jsonl\"\n",
         "t.toml:6:1: unknown key \"audit_logs\" in [gate]; did you mean \"audit_log\"?"},
        {base + "[admin]\nsocket_mod = \"0600\"\n",
         "t.toml:6:1: unknown key \"socket_mod\" in [admin]; did you mean \"socket_mode\"?"},
        {base + "[health_check]\npath = \"/\"\nheader = { A = \"1\" }\n",
         "t.toml:7:1: unknown key \"header\" in [health_check]; did you mean \"headers\"?"},
        {base + "[health_check]\npath = \"/\"\nname = \"x\"\n", "t.toml:7:1: unknown key \"name\" in [health_check]"},
        {base + "[[smoke_check]]\npath = \"/\"\ninterval = \"5s\"\n",
         "t.toml:7:1: unknown key \"interval\" in smoke_check[0]"},
        {base + "[reopen]\nmax_errors = 5\n", "t.toml:6:1: unknown key \"max_errors\" in [reopen]"},
        {base + "[[backend]]\npath_prefix = \"/healthz\"\n", "t.toml:5:1: unknown table [[backend]]"},
        {base + "[[listeners]]\naddress = \"127.0.0.1:8081\"\n",
         "t.toml:5:1: unknown table [[listeners]]; did you mean [[listener]]?"},
        {base + "[upstream.tls]\nverify = true\n", "t.toml:5:1: unknown table [upstream.tls]"},
        {base + "tls = { verify = true }\n", "t.toml:5:1: unknown key \"tls\" in [upstream]"},
        {"[[listener]]\naddress = \"127.0.0.1:8080\"\ntls_crt = \"/etc/cert.pem\"\n[upstream]\nurl = \"http://a\"\n",
         "t.toml:3:1: unknown key \"tls_crt\" in listener[0]; did you mean \"tls_cert\"?"},
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

TEST_CASE("admin, health and smoke checks, reopen and audit_log: every key is read", "[config]")
{
    const config cfg = load_ok(base + R"([admin]
socket = "/run/maintgate/admin.sock"
socket_mode = "0660"
socket_owner = "maintgate"
socket_group = "ops"
metrics = "[::1]:9180"

[gate]
state_file = "/var/lib/maintgate/state.json"
audit_log = "/var/lib/maintgate/audit.jsonl"

[health_check]
method = "OPTIONS"
path = "/healthz?full=1"
host = "app.example.com"
expect_status = 204
body_contains = "ok"
timeout = "2s"
interval = "0s"
headers = { "X-Check" = "1", Authorization = "Bearer abc", "X-Tab" = "a\tb" }
body = "ping"

[[smoke_check]]
name = "front page"
path = "/"
body_contains = "Welcome"

[[smoke_check]]
method = "POST"
path = "/api/search"
headers = { "Content-Type" = "application/json" }
body = '{"q":"x"}'
expect_status = 201
timeout = "250ms"

[reopen]
watch = "5m"
max_error_rate = 0.1
min_requests = 50
freeze_timeout = "1h"
)");
    CHECK(cfg.admin.socket == "/run/maintgate/admin.sock");
    CHECK(cfg.admin.socket_mode == 0660);
    CHECK(cfg.admin.socket_owner == "maintgate");
    CHECK(cfg.admin.socket_group == "ops");
    CHECK(cfg.admin.metrics == "[::1]:9180");
    CHECK(cfg.admin.metrics_host == "::1");
    CHECK(cfg.admin.metrics_port == 9180);

    CHECK(cfg.gate.state_file == "/var/lib/maintgate/state.json");
    CHECK(cfg.gate.audit_log == "/var/lib/maintgate/audit.jsonl");

    REQUIRE(cfg.reopen.health.has_value());
    const check_request& h = *cfg.reopen.health;
    CHECK(h.name == "OPTIONS /healthz?full=1");
    CHECK(h.method == "OPTIONS");
    CHECK(h.path == "/healthz?full=1");
    CHECK(h.host == "app.example.com");
    CHECK(h.expect_status == 204);
    CHECK(h.body_contains == "ok");
    CHECK(h.timeout.count() == 2'000);
    CHECK(h.body == "ping");
    auto headers = h.headers;
    std::sort(headers.begin(), headers.end());
    CHECK(headers == std::vector<std::pair<std::string, std::string>>{
                         {"Authorization", "Bearer abc"}, {"X-Check", "1"}, {"X-Tab", "a\tb"}});
    CHECK(cfg.reopen.health_interval.count() == 0);

    REQUIRE(cfg.reopen.smoke.size() == 2);
    const check_request& front = cfg.reopen.smoke[0];
    CHECK(front.name == "front page");
    CHECK(front.method == "GET");
    CHECK(front.path == "/");
    CHECK(front.host.empty());
    CHECK(front.expect_status == 200);
    CHECK(front.body_contains == "Welcome");
    CHECK(front.timeout.count() == 5'000);
    CHECK(front.headers.empty());
    CHECK(front.body.empty());
    const check_request& search = cfg.reopen.smoke[1];
    CHECK(search.name == "POST /api/search");
    CHECK(search.method == "POST");
    CHECK(search.path == "/api/search");
    CHECK(search.expect_status == 201);
    CHECK(search.timeout.count() == 250);
    CHECK(search.body == "{\"q\":\"x\"}");
    CHECK(search.headers == std::vector<std::pair<std::string, std::string>>{{"Content-Type", "application/json"}});

    CHECK(cfg.reopen.watch.count() == 300'000);
    CHECK(cfg.reopen.max_error_rate == 0.1);
    CHECK(cfg.reopen.min_requests == 50);
    CHECK(cfg.reopen.freeze_timeout.count() == 3'600'000);
}

TEST_CASE("admin: the values that are accepted", "[config]")
{
    const std::string admin = base + "[admin]\n";
    struct mode_case {
        const char* toml_value;
        std::uint32_t mode;
    };
    // Read or execute for others grants nothing on a socket; only write lets them connect.
    const mode_case modes[] = {
        {"\"0600\"", 0600}, {"\"600\"", 0600}, {"\"0o640\"", 0640}, {"\"0660\"", 0660},
        {"\"0604\"", 0604}, {"\"0775\"", 0775}, {"\"0\"", 0},       {"0o600", 0600},
    };
    for (const auto& c : modes) {
        INFO("socket_mode = " << c.toml_value);
        CHECK(load_ok(admin + "socket_mode = " + c.toml_value + "\n").admin.socket_mode == c.mode);
    }
    for (const char* account : {"maintgate", "_maintgate", "www-data", "svc.web", "machine$", "0", "1000",
                                "4294967294"}) {
        INFO("account " << account);
        const config cfg = load_ok(admin + "socket_owner = \"" + account + "\"\nsocket_group = \"" + account + "\"\n");
        CHECK(cfg.admin.socket_owner == account);
        CHECK(cfg.admin.socket_group == account);
    }
    // Empty means "none" or "the process's", as when the key is absent.
    const config empty = load_ok(admin + "socket = \"\"\nsocket_owner = \"\"\nsocket_group = \"\"\nmetrics = \"\"\n");
    CHECK(empty.admin.socket.empty());
    CHECK(empty.admin.socket_owner.empty());
    CHECK(empty.admin.metrics.empty());
    CHECK(empty.admin.metrics_port == 0);

    // The longest path a sockaddr_un can hold.
    const std::string longest = "/" + std::string(106, 's');
    CHECK(load_ok(admin + "socket = \"" + longest + "\"\n").admin.socket == longest);

    const config metrics = load_ok(admin + "metrics = \"127.0.0.1:9180\"\n");
    CHECK(metrics.admin.metrics == "127.0.0.1:9180");
    CHECK(metrics.admin.metrics_host == "127.0.0.1");
    CHECK(metrics.admin.metrics_port == 9180);
    // Port 0 next to a port-0 listener: each gets its own kernel-chosen port.
    const config zero = load_ok(with_listener("127.0.0.1:0") + "[admin]\nmetrics = \"127.0.0.1:0\"\n");
    CHECK(zero.admin.metrics_port == 0);
}

TEST_CASE("admin: each mistake has its own message", "[config]")
{
    const std::string admin = base + "[admin]\n";
    const std::string too_long = "/" + std::string(107, 's');
    const std::string world = " lets every local user connect and change the mode; use \"0600\", or \"0660\" with "
                              "socket_group";
    const std::string octal = "write it as an octal string such as \"0600\" or \"0660\"";
    const std::string special = " sets special bits (setuid, setgid, sticky), which mean nothing on a socket; use "
                                "permission bits only, such as \"0600\"";
    check_single_errors({
        {admin + "socket = 5\n",
         "t.toml:6:10: admin.socket: expected a Unix socket path such as \"/run/maintgate/admin.sock\", got "
         "integer 5"},
        {admin + "socket = \"/run/maintgate/\"\n",
         "t.toml:6:10: admin.socket: \"/run/maintgate/\" names a folder; give a file name"},
        {admin + "socket = \"/run/a\\u0000b\"\n", "t.toml:6:10: admin.socket: \"/run/a\\x00b\" contains a NUL character"},
        {admin + "socket = \"" + too_long + "\"\n",
         "t.toml:6:10: admin.socket: \"" + too_long.substr(0, 80)
             + "...\" is 108 bytes long; a Unix socket path can be at most 107 bytes"},
        {admin + "socket_mode = \"0666\"\n", "t.toml:6:15: admin.socket_mode: \"0666\"" + world},
        {admin + "socket_mode = \"0602\"\n", "t.toml:6:15: admin.socket_mode: \"0602\"" + world},
        {admin + "socket_mode = \"777\"\n", "t.toml:6:15: admin.socket_mode: \"777\"" + world},
        {admin + "socket_mode = 0o666\n", "t.toml:6:15: admin.socket_mode: 0o666" + world},
        {admin + "socket_mode = \"rw-------\"\n",
         "t.toml:6:15: admin.socket_mode: \"rw-------\" is not an octal mode; " + octal},
        {admin + "socket_mode = \"0680\"\n", "t.toml:6:15: admin.socket_mode: \"0680\" is not an octal mode; " + octal},
        {admin + "socket_mode = \"00600\"\n",
         "t.toml:6:15: admin.socket_mode: \"00600\" is not an octal mode; " + octal},
        {admin + "socket_mode = \"\"\n", "t.toml:6:15: admin.socket_mode: \"\" is not an octal mode; " + octal},
        {admin + "socket_mode = \"4600\"\n", "t.toml:6:15: admin.socket_mode: \"4600\"" + special},
        {admin + "socket_mode = 0o1600\n", "t.toml:6:15: admin.socket_mode: 0o1600" + special},
        // A decimal 600 is 0o1130: refused rather than guessed at.
        {admin + "socket_mode = 600\n",
         "t.toml:6:15: admin.socket_mode: expected an octal mode, got integer 600; " + octal},
        {admin + "socket_owner = \"bad name\"\n",
         "t.toml:6:16: admin.socket_owner: \"bad name\" is not a user name or numeric uid"},
        {admin + "socket_owner = \"-rf\"\n",
         "t.toml:6:16: admin.socket_owner: \"-rf\" is not a user name or numeric uid"},
        {admin + "socket_owner = \"4294967295\"\n",
         "t.toml:6:16: admin.socket_owner: \"4294967295\" is not a user name or numeric uid"},
        {admin + "socket_owner = \"" + std::string(33, 'u') + "\"\n",
         "t.toml:6:16: admin.socket_owner: \"" + std::string(33, 'u') + "\" is not a user name or numeric uid"},
        {admin + "socket_owner = 1000\n",
         "t.toml:6:16: admin.socket_owner: expected a user name or numeric uid, got integer 1000"},
        {admin + "socket_group = \"ops:wheel\"\n",
         "t.toml:6:16: admin.socket_group: \"ops:wheel\" is not a group name or numeric gid"},
        {admin + "metrics = \"localhost:9180\"\n",
         "t.toml:6:11: admin.metrics: \"localhost\" is not an IP address; a listener takes a literal IPv4 address or "
         "a bracketed IPv6 address (no host names), such as \"127.0.0.1:8080\" or \"[::1]:8080\""},
        {admin + "metrics = \"127.0.0.1:99999\"\n",
         "t.toml:6:11: admin.metrics: port 99999 is out of range (0-65535)"},
        {admin + "metrics = 9180\n",
         "t.toml:6:11: admin.metrics: expected a string such as \"127.0.0.1:9180\", got integer 9180"},
        // The same address as a listener, however it is spelt.
        {admin + "metrics = \"127.0.0.1:8080\"\n",
         "t.toml:6:11: admin.metrics: \"127.0.0.1:8080\" is already used by listener[0]"},
        {with_listener("[::1]:8080") + "[admin]\nmetrics = \"[0::1]:8080\"\n",
         "t.toml:6:11: admin.metrics: \"[0::1]:8080\" is already used by listener[0]"},
        {"admin = \"/run/a.sock\"\n" + base, "t.toml:1:9: admin: expected a table ([admin]), got string \"/run/a.sock\""},
    });
}

TEST_CASE("health_check: defaults, and each mistake has its own message", "[config]")
{
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
    CHECK(load_ok(base + "[health_check]\npath = \"/\"\nexpect_status = 100\n").reopen.health->expect_status == 100);
    CHECK(load_ok(base + "[health_check]\npath = \"/\"\nexpect_status = 599\n").reopen.health->expect_status == 599);
    CHECK(load_ok(base + "[health_check]\npath = \"/a%20b?x=[1]&y=~\"\n").reopen.health->path == "/a%20b?x=[1]&y=~");

    const std::string hc = base + "[health_check]\npath = \"/\"\n";  // further keys on line 7
    check_single_errors({
        {base + "[health_check]\nmethod = \"GET\"\n", "t.toml:5:1: missing required key \"path\" in [health_check]"},
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
        {hc + "method = 1\n", "t.toml:7:10: health_check.method: expected a method name such as \"GET\", got integer 1"},
        {hc + "host = \"a b\"\n",
         "t.toml:7:8: health_check.host: \"a b\" is not a valid Host header value (no spaces, control or non-ASCII "
         "characters)"},
        {hc + "expect_status = 99\n", "t.toml:7:17: health_check.expect_status: 99 is out of range (100-599)"},
        {hc + "expect_status = 600\n", "t.toml:7:17: health_check.expect_status: 600 is out of range (100-599)"},
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
        {hc + "body = 5\n", "t.toml:7:8: health_check.body: expected a string (the request body), got integer 5"},
        {hc + "headers = \"X-A: 1\"\n",
         "t.toml:7:11: health_check.headers: expected a table such as { \"X-Check\" = \"1\" }, got string "
         "\"X-A: 1\""},
        {hc + "headers = { \"Bad Name\" = \"1\" }\n",
         "t.toml:7:13: health_check.headers.\"Bad Name\": not a valid header name"},
        {hc + "headers = { \"\" = \"1\" }\n", "t.toml:7:13: health_check.headers.\"\": not a valid header name"},
        {hc + "headers = { \"X-A\" = \"a\\r\\nX-Admin: 1\" }\n",
         "t.toml:7:21: health_check.headers.\"X-A\": \"a\\x0d\\nX-Admin: 1\" contains a control character (CR, LF or "
         "NUL would split the request)"},
        {hc + "headers = { \"X-A\" = \"a\\u0000\" }\n",
         "t.toml:7:21: health_check.headers.\"X-A\": \"a\\x00\" contains a control character (CR, LF or NUL would "
         "split the request)"},
        {hc + "headers = { \"X-A\" = 1 }\n", "t.toml:7:21: health_check.headers.\"X-A\": expected a string, got integer 1"},
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
        {base + "[[health_check]]\npath = \"/\"\n", "t.toml:5:1: health_check: expected a table ([health_check]), got array"},
    });
}

TEST_CASE("smoke_check: names, order, and each mistake has its own message", "[config]")
{
    const config cfg = load_ok(base + "[[smoke_check]]\npath = \"/b\"\n[[smoke_check]]\npath = \"/a\"\nname = \"A\"\n"
                                      "[[smoke_check]]\nmethod = \"DELETE\"\npath = \"/b\"\n");
    REQUIRE(cfg.reopen.smoke.size() == 3);
    CHECK(cfg.reopen.smoke[0].name == "GET /b");
    CHECK(cfg.reopen.smoke[1].name == "A");
    CHECK(cfg.reopen.smoke[2].name == "DELETE /b");
    CHECK_FALSE(cfg.reopen.health.has_value());
    // An empty name is the default name; so is a name given twice by default.
    const config same = load_ok(base + "[[smoke_check]]\npath = \"/\"\nname = \"\"\n[[smoke_check]]\npath = \"/\"\n");
    REQUIRE(same.reopen.smoke.size() == 2);
    CHECK(same.reopen.smoke[0].name == "GET /");
    CHECK(same.reopen.smoke[1].name == "GET /");

    check_single_errors({
        {base + "[[smoke_check]]\nname = \"x\"\n", "t.toml:5:1: missing required key \"path\" in smoke_check[0]"},
        {base + "[[smoke_check]]\npath = \"/\"\n[[smoke_check]]\npath = \"x\"\n",
         "t.toml:8:8: smoke_check[1].path: \"x\" must start with \"/\""},
        {base + "[[smoke_check]]\npath = \"/\"\nname = \"a\\nb\"\n",
         "t.toml:7:8: smoke_check[0].name: \"a\\nb\" contains a control character"},
        {base + "[[smoke_check]]\npath = \"/\"\nname = 5\n",
         "t.toml:7:8: smoke_check[0].name: expected a string naming the check, got integer 5"},
        {base + "[[smoke_check]]\npath = \"/\"\nname = \"home\"\n[[smoke_check]]\npath = \"/x\"\nname = \"home\"\n",
         "t.toml:10:8: smoke_check[1].name: \"home\" is already used by smoke_check[0]"},
        {base + "[[smoke_check]]\npath = \"/\"\nmethod = \"post\"\n",
         "t.toml:7:10: smoke_check[0].method: \"post\" is not upper-case; methods are case-sensitive"},
        {base + "[[smoke_check]]\npath = \"/\"\nheaders = { \"A B\" = \"1\" }\n",
         "t.toml:7:13: smoke_check[0].headers.\"A B\": not a valid header name"},
        {base + "[smoke_check]\npath = \"/\"\n", "t.toml:5:1: smoke_check: expected [[smoke_check]] tables, got table"},
        {"smoke_check = 5\n" + base, "t.toml:1:15: smoke_check: expected [[smoke_check]] tables, got integer 5"},
        {"smoke_check = [5]\n" + base,
         "t.toml:1:16: smoke_check[0]: expected a table ([[smoke_check]]), got integer 5"},
    });
}

TEST_CASE("reopen: the values that are accepted, and each mistake has its own message", "[config]")
{
    const std::string reopen = base + "[reopen]\n";
    const config off = load_ok(reopen + "watch = \"0s\"\nmax_error_rate = 1\nmin_requests = 1\nfreeze_timeout = \"1ms\"\n");
    CHECK(off.reopen.watch.count() == 0);
    CHECK(off.reopen.max_error_rate == 1.0);
    CHECK(off.reopen.min_requests == 1);
    CHECK(off.reopen.freeze_timeout.count() == 1);
    CHECK(load_ok(reopen + "max_error_rate = 0.001\n").reopen.max_error_rate == 0.001);

    const std::string range = "must be greater than 0 and at most 1 (a share: 0.05 is 5%), got ";
    check_single_errors({
        {reopen + "watch = \"5\"\n",
         "t.toml:6:9: reopen.watch: \"5\" has no unit; write \"5s\" for seconds or \"5ms\" for milliseconds"},
        {reopen + "watch = 300\n",
         "t.toml:6:9: reopen.watch: expected a duration such as \"5s\" or \"250ms\", got integer 300"},
        {reopen + "max_error_rate = 0\n", "t.toml:6:18: reopen.max_error_rate: " + range + "integer 0"},
        {reopen + "max_error_rate = 0.0\n", "t.toml:6:18: reopen.max_error_rate: " + range + "float 0.0"},
        {reopen + "max_error_rate = -0.5\n", "t.toml:6:18: reopen.max_error_rate: " + range + "float -0.5"},
        {reopen + "max_error_rate = 1.5\n", "t.toml:6:18: reopen.max_error_rate: " + range + "float 1.5"},
        {reopen + "max_error_rate = 5\n", "t.toml:6:18: reopen.max_error_rate: " + range + "integer 5"},
        {reopen + "max_error_rate = nan\n", "t.toml:6:18: reopen.max_error_rate: " + range + "float nan"},
        {reopen + "max_error_rate = \"5%\"\n",
         "t.toml:6:18: reopen.max_error_rate: expected a number such as 0.05 (5%), got string \"5%\""},
        {reopen + "min_requests = 0\n", "t.toml:6:16: reopen.min_requests: 0 is out of range (1-1000000000)"},
        {reopen + "min_requests = 1.5\n", "t.toml:6:16: reopen.min_requests: expected an integer, got float 1.5"},
        {reopen + "freeze_timeout = \"0s\"\n", "t.toml:6:18: reopen.freeze_timeout: must be greater than 0, got \"0s\""},
        {reopen + "freeze_timeout = \"1h1ms\"\n",
         "t.toml:6:18: reopen.freeze_timeout: must be at most 1h, got \"1h1ms\""},
        {"reopen = true\n" + base, "t.toml:1:10: reopen: expected a table ([reopen]), got boolean true"},
    });
}

TEST_CASE("gate.audit_log, gate.state_file and admin.socket: paths and distinct files", "[config]")
{
    check_single_errors({
        {base + "[gate]\naudit_log = 5\n", "t.toml:6:13: gate.audit_log: expected a file path, got integer 5"},
        {base + "[gate]\naudit_log = \"/var/log/\"\n",
         "t.toml:6:13: gate.audit_log: \"/var/log/\" names a folder; give a file name"},
        {base + "[gate]\nstate_file = \"/var/lib/\"\n",
         "t.toml:6:14: gate.state_file: \"/var/lib/\" names a folder; give a file name"},
        {base + "[gate]\nstate_file = \"/a\\u0000\"\n", "t.toml:6:14: gate.state_file: \"/a\\x00\" contains a NUL character"},
        {base + "[gate]\nstate_file = \"/v/s.json\"\naudit_log = \"/v/s.json\"\n",
         "t.toml:7:13: gate.audit_log: \"/v/s.json\" is also gate.state_file; each needs its own file"},
        {base + "[gate]\nstate_file = \"/v/s\"\n[admin]\nsocket = \"/v/s\"\n",
         "t.toml:8:10: admin.socket: \"/v/s\" is also gate.state_file; the socket needs a path of its own"},
        {base + "[admin]\nsocket = \"/v/a\"\n[gate]\naudit_log = \"/v/a\"\n",
         "t.toml:6:10: admin.socket: \"/v/a\" is also gate.audit_log; the socket needs a path of its own"},
    });

    SECTION("relative paths are relative to the config file's folder")
    {
        const std::string doc = base + "[gate]\nstate_file = \"state.json\"\naudit_log = \"logs/audit.jsonl\"\n"
                                       "[admin]\nsocket = \"../run/admin.sock\"\n";
        const auto nested = load_config_string(doc, "/etc/maintgate/main.toml");
        REQUIRE(nested.cfg.has_value());
        CHECK(nested.cfg->gate.state_file == "/etc/maintgate/state.json");
        CHECK(nested.cfg->gate.audit_log == "/etc/maintgate/logs/audit.jsonl");
        CHECK(nested.cfg->admin.socket == "/etc/maintgate/../run/admin.sock");

        const auto relative = load_config_string(doc, "conf/main.toml");
        REQUIRE(relative.cfg.has_value());
        CHECK(relative.cfg->gate.state_file == "conf/state.json");
        CHECK(relative.cfg->admin.socket == "conf/../run/admin.sock");

        const auto root = load_config_string(doc, "/main.toml");
        REQUIRE(root.cfg.has_value());
        CHECK(root.cfg->gate.state_file == "/state.json");

        // A bare file name is in the current directory already; absolute paths stay.
        const config here = load_ok(doc);
        CHECK(here.gate.state_file == "state.json");
        CHECK(here.admin.socket == "../run/admin.sock");
        const auto absolute = load_config_string(base + "[gate]\nstate_file = \"/s.json\"\n", "/etc/m/main.toml");
        REQUIRE(absolute.cfg.has_value());
        CHECK(absolute.cfg->gate.state_file == "/s.json");

        // The length limit applies to the path bind() will see.
        const std::string name(100, 'n');
        const auto long_folder = load_config_string(base + "[admin]\nsocket = \"" + name + "\"\n", "/etc/maintgate/m.toml");
        REQUIRE(long_folder.errors.size() == 1);
        CHECK(long_folder.errors[0].message
              == "admin.socket: \"/etc/maintgate/" + name.substr(0, 65) + "...\" is 115 bytes long; a Unix socket "
                 "path can be at most 107 bytes");
    }

    SECTION("pages_dir too, so a relative pages folder is found next to the config")
    {
        const auto dir = std::filesystem::temp_directory_path()
                         / ("maintgate_config_paths_" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir / "pages");
        for (const char* name : {"maintenance.html", "read_only.html"}) {
            std::ofstream out(dir / "pages" / name);
            out << "<p>{{reason}}</p>\n";
        }
        const std::string path = (dir / "m.toml").string();
        {
            std::ofstream out(path);
            out << base << "[gate]\npages_dir = \"pages\"\n";
        }
        const auto ok = load_config_file(path);
        for (const auto& m : messages(ok))
            UNSCOPED_INFO(m);
        REQUIRE(ok.cfg.has_value());
        CHECK(ok.cfg->gate.pages_dir == dir.string() + "/pages");
        CHECK(ok.cfg->gate.maintenance_page == "<p>{{reason}}</p>\n");

        {
            std::ofstream out(path);
            out << base << "[gate]\npages_dir = \"missing\"\n";
        }
        CHECK(messages(load_config_file(path))
              == std::vector<std::string>{
                  path + ":6:13: gate.pages_dir: cannot read \"" + dir.string()
                      + "/missing/maintenance.html\": No such file or directory",
                  path + ":6:13: gate.pages_dir: cannot read \"" + dir.string()
                      + "/missing/read_only.html\": No such file or directory",
              });
        std::filesystem::remove_all(dir);
    }
}

TEST_CASE("mistakes in the new sections are all reported in one run, in document order", "[config]")
{
    const auto result = load(base + R"([reopen]
max_error_rate = 2
[admin]
socket_mode = "0666"
sokcet = "/run/a.sock"
[[smoke_check]]
name = "home"
[health_check]
path = "/"
timeout = "0s"
)");
    CHECK_FALSE(result.cfg.has_value());
    CHECK(messages(result) == std::vector<std::string>{
        "t.toml:6:18: reopen.max_error_rate: must be greater than 0 and at most 1 (a share: 0.05 is 5%), got "
        "integer 2",
        "t.toml:8:15: admin.socket_mode: \"0666\" lets every local user connect and change the mode; use \"0600\", "
        "or \"0660\" with socket_group",
        "t.toml:9:1: unknown key \"sokcet\" in [admin]; did you mean \"socket\"?",
        "t.toml:10:1: missing required key \"path\" in smoke_check[0]",
        "t.toml:14:11: health_check.timeout: must be greater than 0, got \"0s\"",
    });
}

TEST_CASE("HTTPS listeners and redirects: every key is read", "[config][tls]")
{
    const config cfg = load_ok(R"([[listener]]
address = "0.0.0.0:443"
tls_cert = "/etc/maintgate/fullchain.pem"
tls_key = "keys/privkey.pem"
tls_ciphers = "ECDHE-RSA-AES128-GCM-SHA256"
tls_ciphersuites = "TLS_AES_128_GCM_SHA256"
tls_min_version = "1.3"
hsts = "max-age=31536000; includeSubDomains"

[[listener.sni]]
tls_cert = "other.pem"
tls_key = "other.key"
server_names = ["Other.Example", "*.other.example"]

[[listener.sni]]
tls_cert = "third.pem"
tls_key = "third.key"

[[listener]]
address = "0.0.0.0:80"
redirect_https = true
redirect_except = ["/healthz", "/.well-known/acme-challenge/"]

[[listener]]
address = "0.0.0.0:8080"
redirect_https = "https://www.example.com:8443/"

[[listener]]
address = "0.0.0.0:8081"
redirect_https = false

[upstream]
url = "https://app.internal"
tls_ca_file = "/etc/ssl/app-ca.pem"
tls_server_name = "app.example"
)");
    REQUIRE(cfg.listeners.size() == 4);
    const auto& tls = cfg.listeners[0];
    CHECK(tls.https());
    CHECK(tls.tls.cert == "/etc/maintgate/fullchain.pem");
    CHECK(tls.tls.key == "keys/privkey.pem");  // relative to the config's folder; "t.toml" has none
    CHECK(tls.tls.where == "t.toml:3:12");
    CHECK(tls.tls_ciphers == "ECDHE-RSA-AES128-GCM-SHA256");
    CHECK(tls.tls_ciphersuites == "TLS_AES_128_GCM_SHA256");
    CHECK(tls.tls_min_version == 0x0304);
    CHECK(tls.hsts_field == "Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n");
    REQUIRE(tls.sni.size() == 2);
    CHECK(tls.sni[0].cert == "other.pem");
    CHECK(tls.sni[0].key == "other.key");
    CHECK(tls.sni[0].server_names == std::vector<std::string>{"other.example", "*.other.example"});
    CHECK(tls.sni[0].where == "t.toml:11:12");
    CHECK(tls.sni[1].server_names.empty());  // the certificate's own names
    CHECK_FALSE(tls.redirect_https);

    CHECK_FALSE(cfg.listeners[1].https());
    CHECK(cfg.listeners[1].redirect_https);
    CHECK(cfg.listeners[1].redirect_to.empty());
    CHECK(cfg.listeners[1].redirect_except == std::vector<std::string>{"/healthz", "/.well-known/acme-challenge/"});
    CHECK(cfg.listeners[2].redirect_https);
    CHECK(cfg.listeners[2].redirect_to == "https://www.example.com:8443");
    CHECK_FALSE(cfg.listeners[3].redirect_https);

    CHECK(cfg.upstream.tls);
    CHECK(cfg.upstream.port == 443);
    CHECK(cfg.upstream.tls_verify);
    CHECK(cfg.upstream.tls_ca_file == "/etc/ssl/app-ca.pem");
    CHECK(cfg.upstream.tls_server_name == "app.example");
    CHECK(cfg.upstream.tls_where == "t.toml:33:7");
}

TEST_CASE("relative certificate paths are relative to the config's folder", "[config][tls]")
{
    const auto result = load_config_string("[[listener]]\naddress = \"127.0.0.1:0\"\ntls_cert = \"c.pem\"\n"
                                           "tls_key = \"/abs/k.pem\"\n[upstream]\nurl = \"https://app\"\n"
                                           "tls_ca_file = \"ca/ca.pem\"\n",
                                           "/etc/maintgate/maintgate.toml");
    REQUIRE(result.cfg.has_value());
    CHECK(result.cfg->listeners[0].tls.cert == "/etc/maintgate/c.pem");
    CHECK(result.cfg->listeners[0].tls.key == "/abs/k.pem");
    CHECK(result.cfg->listeners[0].tls.where == "/etc/maintgate/maintgate.toml:3:12");
    CHECK(result.cfg->upstream.tls_ca_file == "/etc/maintgate/ca/ca.pem");
}

TEST_CASE("HTTPS listeners: each mistake has its own message", "[config][tls]")
{
    const std::string up = "[upstream]\nurl = \"http://127.0.0.1:3000\"\n";
    // The listener's own keys start on line 3.
    const auto listener = [&](const std::string& keys) {
        return "[[listener]]\naddress = \"127.0.0.1:8443\"\n" + keys + up;
    };
    const std::string pair = "tls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n";
    check_single_errors({
        {listener("tls_cert = \"c.pem\"\n"),
         "t.toml:3:12: listener[0].tls_cert: set tls_key too (the private key of this certificate)"},
        {listener("tls_key = \"k.pem\"\n"),
         "t.toml:3:11: listener[0].tls_key: set tls_cert too (the certificate chain this key belongs to)"},
        {listener("tls_cert = \"\"\ntls_key = \"k.pem\"\n"), "t.toml:3:12: listener[0].tls_cert: must name a PEM file"},
        {listener("tls_cert = \"certs/\"\ntls_key = \"k.pem\"\n"),
         "t.toml:3:12: listener[0].tls_cert: \"certs/\" names a folder; give a file name"},
        {listener("tls_cert = 1\ntls_key = \"k.pem\"\n"),
         "t.toml:3:12: listener[0].tls_cert: expected a PEM file path, got integer 1"},
        {listener("tls_certs = \"c.pem\"\n"),
         "t.toml:3:1: unknown key \"tls_certs\" in listener[0]; did you mean \"tls_cert\"?"},
        {listener(pair + "tls_min_version = \"1.4\"\n"),
         "t.toml:5:19: listener[0].tls_min_version: \"1.4\" is not one of \"1.0\", \"1.1\", \"1.2\" or \"1.3\""},
        {listener(pair + "tls_ciphers = \"AES 128\"\n"),
         "t.toml:5:15: listener[0].tls_ciphers: \"AES 128\" is not an OpenSSL cipher list (names joined by \":\")"},
        {listener(pair + "hsts = \"31536000\"\n"),
         "t.toml:5:8: listener[0].hsts: \"31536000\" must start with \"max-age=\" (seconds), such as "
         "\"max-age=31536000\""},
        {listener(pair + "hsts = \"max-age=\"\n"),
         "t.toml:5:8: listener[0].hsts: \"max-age=\" max-age must be a number of seconds, such as "
         "\"max-age=31536000\""},
        {listener(pair + "hsts = \"max-age=1\\r\\nX: y\"\n"),
         "t.toml:5:8: listener[0].hsts: \"max-age=1\\x0d\\nX: y\" must be visible ASCII (it is sent as a header "
         "value)"},
        // TLS keys on a plain listener would silently do nothing.
        {listener("hsts = \"max-age=60\"\n"),
         "t.toml:3:8: listener[0].hsts: only an HTTPS listener takes this; give it tls_cert and tls_key"},
        {listener("tls_min_version = \"1.3\"\n"),
         "t.toml:3:19: listener[0].tls_min_version: only an HTTPS listener takes this; give it tls_cert and tls_key"},
        {listener(pair + "[[listener.sni]]\ntls_cert = \"o.pem\"\n"),
         "t.toml:5:1: missing required key \"tls_key\" in listener[0].sni[0]"},
        {listener(pair + "[[listener.sni]]\ntls_cert = \"o.pem\"\ntls_key = \"o.key\"\nserver_names = [\"a b\"]\n"),
         "t.toml:8:17: listener[0].sni[0].server_names[0]: expected a DNS name such as \"example.com\" or "
         "\"*.example.com\", got string \"a b\""},
        {listener(pair + "[[listener.sni]]\ntls_cert = \"o.pem\"\ntls_key = \"o.key\"\nserver_names = []\n"),
         "t.toml:8:16: listener[0].sni[0].server_names: expected an array of names such as [\"example.com\", "
         "\"*.example.com\"], got array"},
        {listener(pair + "[[listener.sni]]\ntls_cert = \"o.pem\"\ntls_key = \"o.key\"\nnames = [\"a\"]\n"),
         "t.toml:8:1: unknown key \"names\" in listener[0].sni[0]"},
        {listener("[[listener.sni]]\ntls_cert = \"o.pem\"\ntls_key = \"o.key\"\n"),
         "t.toml:3:1: listener[0].sni: only an HTTPS listener takes this; give it tls_cert and tls_key"},
    });
}

TEST_CASE("redirects to HTTPS: each mistake has its own message", "[config][tls]")
{
    const std::string up = "[upstream]\nurl = \"http://127.0.0.1:3000\"\n";
    const std::string https = "[[listener]]\naddress = \"127.0.0.1:8443\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n";
    // The plain listener's own keys start on line 3.
    const auto plain = [&](const std::string& keys) {
        return "[[listener]]\naddress = \"127.0.0.1:8080\"\n" + keys + https + up;
    };
    check_single_errors({
        {plain("redirect_https = \"http://example.com\"\n"),
         "t.toml:3:18: listener[0].redirect_https: \"http://example.com\" is not an https:// URL; use true, or a URL "
         "such as \"https://example.com\""},
        {plain("redirect_https = \"https://example.com/path\"\n"),
         "t.toml:3:18: listener[0].redirect_https: a path (\"/path\") is not supported; the URL names only the server"},
        {plain("redirect_https = \"https://example.com?a=1\"\n"),
         "t.toml:3:18: listener[0].redirect_https: a query (\"?a=1\") is not allowed in the redirect URL"},
        {plain("redirect_https = \"https://example.com:0\"\n"),
         "t.toml:3:18: listener[0].redirect_https: port 0 is out of range (1-65535)"},
        {plain("redirect_https = 1\n"),
         "t.toml:3:18: listener[0].redirect_https: expected true or a URL such as \"https://example.com\", got "
         "integer 1"},
        {plain("redirect_except = [\"/healthz\"]\n"),
         "t.toml:3:19: listener[0].redirect_except: only a listener with redirect_https takes this"},
        {plain("redirect_https = true\nredirect_except = \"/healthz\"\n"),
         "t.toml:4:19: listener[0].redirect_except: expected an array of paths such as [\"/healthz\"], got string "
         "\"/healthz\""},
        {plain("redirect_https = true\nredirect_except = [\"healthz\"]\n"),
         "t.toml:4:20: listener[0].redirect_except[0]: \"healthz\" must start with \"/\""},
        {plain("redirect_https = true\nredirect_except = [\"/a?b\"]\n"),
         "t.toml:4:20: listener[0].redirect_except[0]: \"/a?b\" must not contain '?' or '#': it is compared with "
         "the path alone"},
        // true means "this server's HTTPS listener": there must be one.
        {"[[listener]]\naddress = \"127.0.0.1:8080\"\nredirect_https = true\n" + up,
         "t.toml:3:18: redirect_https: true needs an HTTPS listener (one with tls_cert) in this file; otherwise give "
         "the URL, such as \"https://example.com\""},
        {https + "redirect_https = true\n" + up,
         "t.toml:5:18: listener[0].redirect_https: an HTTPS listener cannot redirect to HTTPS; set it on a plain "
         "listener"},
    });
    // A URL makes no HTTPS listener necessary.
    const config cfg = load_ok("[[listener]]\naddress = \"127.0.0.1:8080\"\nredirect_https = \"https://example.com\"\n" + up);
    CHECK(cfg.listeners[0].redirect_to == "https://example.com");
}

TEST_CASE("https upstreams: each mistake has its own message", "[config][tls]")
{
    const std::string listener = "[[listener]]\naddress = \"127.0.0.1:8080\"\n";
    const std::string https = listener + "[upstream]\nurl = \"https://app\"\n";
    const std::string http = listener + "[upstream]\nurl = \"http://app\"\n";
    check_single_errors({
        {http + "tls_verify = false\n", "t.toml:5:14: upstream.tls_verify: only an https:// upstream takes this"},
        {http + "tls_ca_file = \"ca.pem\"\n", "t.toml:5:15: upstream.tls_ca_file: only an https:// upstream takes this"},
        {https + "tls_verify = \"no\"\n", "t.toml:5:14: upstream.tls_verify: expected true or false, got string \"no\""},
        {https + "tls_server_name = \"a b\"\n", "t.toml:5:19: upstream.tls_server_name: \"a b\" is not a valid host name"},
        {https + "tls_verify = false\ntls_ca_file = \"ca.pem\"\n",
         "t.toml:6:15: upstream.tls_ca_file: set, but tls_verify = false ignores it; remove one"},
    });
    CHECK_FALSE(load_ok(https + "tls_verify = false\n").upstream.tls_verify);
}
