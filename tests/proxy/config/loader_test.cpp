// The document as a whole: defaults, the shipped examples, unknown keys, document
// order of errors, TOML syntax errors and reading files.
#include "proxy/config/config.hpp"

#include <catch2/catch.hpp>

#include "tests/proxy/config/config_test_support.hpp"

using namespace maintgate;
using namespace maintgate::config_test;

TEST_CASE("config_error renders file:line:column", "[config]") {
    CHECK(config_error{"a.toml", 3, 7, "boom"}.to_string() == "a.toml:3:7: boom");
    CHECK(config_error{"a.toml", 3, 0, "boom"}.to_string() == "a.toml:3: boom");
    CHECK(config_error{"a.toml", 0, 0, "boom"}.to_string() == "a.toml: boom");
}

TEST_CASE("a minimal document takes every default", "[config]") {
    const config cfg = load_ok(base);
    CHECK(cfg.source == file_name);
    check_local_listener_and_demo_upstream(cfg);
    check_defaults_except_listeners_and_upstream_url(cfg);
    CHECK(cfg.admin.socket.empty());
}

TEST_CASE("the embedded default loads and is the documented default", "[config]") {
    const std::string text(default_config_text());
    const auto result = load_config_string(text, "<embedded default>");
    for (const auto& m : messages(result)) UNSCOPED_INFO(m);
    REQUIRE(result.errors.empty());
    REQUIRE(result.cfg.has_value());
    CHECK(result.cfg->source == "<embedded default>");
    check_local_listener_and_demo_upstream(*result.cfg);
    check_defaults_except_listeners_and_upstream_url(*result.cfg);
    // An admin socket, so `maintgate ctl` can drive the demo; no metrics listener.
    CHECK(result.cfg->admin.socket == "/tmp/maintgate-admin.sock");
}

TEST_CASE("maintgate.example.toml loads and states the true defaults", "[config]") {
    const std::string path = std::string(MAINTGATE_SOURCE_DIR) + "/maintgate.example.toml";
    const auto result = load_config_file(path);
    for (const auto& m : messages(result)) UNSCOPED_INFO(m);
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
        "#workers = ",
        "[[listener]]",
        "address = ",
        "[upstream]",
        "url = ",
        "host_header = ",
        "connect_timeout = ",
        "response_timeout = ",
        "max_idle = ",
        "idle_timeout = ",
        "[timeouts]",
        "header = ",
        "body_idle = ",
        "keepalive = ",
        "send = ",
        "tunnel_idle = ",
        "expect_continue = ",
        "shutdown = ",
        "[limits]",
        "max_connections = ",
        "max_header_size = ",
        "max_headers = ",
        "max_uri_size = ",
        "max_body_size = ",
        "[forwarding]",
        "trusted_proxies = ",
        "via = ",
        "underscores_in_headers = ",
        "[log]",
        "error = ",
        "level = ",
        "access = ",
        "access_format = ",
        "[gate]",
        "initial_mode = ",
        "state_file = ",
        "corrupt_state_mode = ",
        "retry_after = ",
        "upstream_down_page = ",
        "pages_dir = ",
        "bypass_cidrs = ",
        "bypass_secret = ",
        "bypass_header = ",
        "bypass_path = ",
        "bypass_cookie_ttl = ",
        "status_path = ",
        "#[[rule]]",
        "#path_prefix = ",
        "#path = ",
        "#path_regex = ",
        "#methods = ",
        "#action = ",
        "#reason = ",
        "audit_log = ",
        "[admin]",
        "socket = ",
        "socket_mode = ",
        "socket_owner = ",
        "socket_group = ",
        "#metrics = ",
        "#[health_check]",
        "#method = ",
        "#host = ",
        "#expect_status = ",
        "#body_contains = ",
        "#timeout = ",
        "#interval = ",
        "#headers = ",
        "#body = ",
        "#[[smoke_check]]",
        "#name = ",
        "[reopen]",
        "watch = ",
        "max_error_rate = ",
        "min_requests = ",
        "freeze_timeout = ",
        "#tls_cert = ",
        "#tls_key = ",
        "#[[listener.sni]]",
        "#server_names = ",
        "#tls_ciphers = ",
        "#tls_ciphersuites = ",
        "#tls_min_version = ",
        "#hsts = ",
        "#redirect_https = ",
        "#redirect_except = ",
        "#tls_verify = ",
        "#tls_ca_file = ",
        "#tls_server_name = ",
    };
    for (const char* key : keys) {
        INFO("key: " << key);
        CHECK(text.find(std::string("\n") + key) != std::string::npos);
    }
}

TEST_CASE("the example's commented-out defaults are the binary's defaults", "[config]") {
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
    CHECK(line_of("#tls_ciphersuites = ") ==
          "#tls_ciphersuites = \"" + std::string(default_tls_ciphersuites) + "\"");
    CHECK(line_of("#tls_min_version = ") == "#tls_min_version = \"1.2\"");
    CHECK(minimal.listeners.at(0).tls_min_version == 0x0303);
}

TEST_CASE("every key is read", "[config]") {
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

TEST_CASE("inline tables and arrays of inline tables are the same document", "[config]") {
    const config cfg = load_ok(R"(listener = [{ address = "127.0.0.1:9000" }]
upstream = { url = "http://127.0.0.1:3000", max_idle = 8 }
)");
    REQUIRE(cfg.listeners.size() == 1);
    CHECK(cfg.listeners[0].port == 9000);
    CHECK(cfg.upstream.max_idle == 8);
}

TEST_CASE("top level: workers and wrong types", "[config]") {
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

TEST_CASE("unknown keys and tables are errors, with a suggestion for typos", "[config]") {
    check_single_errors({
        {base + "conect_timeout = \"5s\"\n",
         "t.toml:5:1: unknown key \"conect_timeout\" in [upstream]; did you mean \"connect_timeout\"?"},
        {base + "timeout = \"5s\"\n", "t.toml:5:1: unknown key \"timeout\" in [upstream]"},
        {"worker = 2\n" + base,
         "t.toml:1:1: unknown key \"worker\" at the top level; did you mean \"workers\"?"},
        {"colour = \"blue\"\n" + base, "t.toml:1:1: unknown key \"colour\" at the top level"},
        {base + "[upstrem]\nurl = \"x\"\n", "t.toml:5:1: unknown table [upstrem]; did you mean [upstream]?"},
        {base + "[timeout]\nheader = \"5s\"\n",
         "t.toml:5:1: unknown table [timeout]; did you mean [timeouts]?"},
        {base + "[admn]\nsocket = \"/run/maintgate.sock\"\n",
         "t.toml:5:1: unknown table [admn]; did you mean [admin]?"},
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
        {base + "[health_check]\npath = \"/\"\nname = \"x\"\n",
         "t.toml:7:1: unknown key \"name\" in [health_check]"},
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

TEST_CASE("every error in a document is reported, in document order", "[config]") {
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
    CHECK(
        messages(result) ==
        std::vector<std::string>{
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

TEST_CASE("a TOML syntax error is one error at its position", "[config]") {
    struct syntax_case {
        std::string document;
        std::uint32_t line;
        std::uint32_t column;
    };
    const syntax_case cases[] = {
        {base + "connect_timeout = \n", 5, 19},
        {base + "url = \"http://x\"\n", 5, 7},  // a key defined twice (toml++ points at the value)
        {base + "[upstream]\n", 5, 1},  // a table defined twice
        {"workers = 99999999999999999999\n" + base, 1, 31},  // not representable in 64 bits
        {base + "host_header = \"a\\qb\"\n", 5, 18},  // unknown escape
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
    CHECK(messages(load("workers = \n" + base)) ==
          std::vector<std::string>{
              "t.toml:1:11: Error while parsing key-value pair: expected value, saw '\\n'"});
}

TEST_CASE("load_config_file names the file in every error", "[config]") {
    const auto dir =
        std::filesystem::temp_directory_path() / ("maintgate_config_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "bad.toml").string();
    {
        std::ofstream out(path);
        out << base << "max_idle = -5\n";
    }
    const auto result = load_config_file(path);
    CHECK(messages(result) ==
          std::vector<std::string>{path + ":5:12: upstream.max_idle: -5 is out of range (0-100000)"});

    const std::string good = (dir / "good.toml").string();
    {
        std::ofstream out(good);
        out << base;
    }
    const auto ok = load_config_file(good);
    REQUIRE(ok.cfg.has_value());
    CHECK(ok.cfg->source == good);

    SECTION("an unreadable path is one error without a position") {
        const std::string missing = (dir / "missing.toml").string();
        CHECK(messages(load_config_file(missing)) ==
              std::vector<std::string>{missing + ": cannot read config file: No such file or directory"});
        CHECK(messages(load_config_file(dir.string())) ==
              std::vector<std::string>{dir.string() + ": cannot read config file: Is a directory"});
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("mistakes in the new sections are all reported in one run, in document order", "[config]") {
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
    CHECK(
        messages(result) ==
        std::vector<std::string>{
            "t.toml:6:18: reopen.max_error_rate: must be greater than 0 and at most 1 (a share: 0.05 is 5%), got "
            "integer 2",
            "t.toml:8:15: admin.socket_mode: \"0666\" lets every local user connect and change the mode; use \"0600\", "
            "or \"0660\" with socket_group",
            "t.toml:9:1: unknown key \"sokcet\" in [admin]; did you mean \"socket\"?",
            "t.toml:10:1: missing required key \"path\" in smoke_check[0]",
            "t.toml:14:11: health_check.timeout: must be greater than 0, got \"0s\"",
        });
}
