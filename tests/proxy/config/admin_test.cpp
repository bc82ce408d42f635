// [admin], and the new sections read together.
#include "proxy/config/config.hpp"

#include <catch2/catch.hpp>

#include "tests/proxy/config/config_test_support.hpp"

using namespace maintgate;
using namespace maintgate::config_test;

TEST_CASE("admin, health and smoke checks, reopen and audit_log: every key is read", "[config]") {
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
    CHECK(search.headers ==
          std::vector<std::pair<std::string, std::string>>{{"Content-Type", "application/json"}});

    CHECK(cfg.reopen.watch.count() == 300'000);
    CHECK(cfg.reopen.max_error_rate == 0.1);
    CHECK(cfg.reopen.min_requests == 50);
    CHECK(cfg.reopen.freeze_timeout.count() == 3'600'000);
}

TEST_CASE("admin: the values that are accepted", "[config]") {
    const std::string admin = base + "[admin]\n";
    struct mode_case {
        const char* toml_value;
        std::uint32_t mode;
    };
    // Read or execute for others grants nothing on a socket; only write lets them connect.
    const mode_case modes[] = {
        {"\"0600\"", 0600}, {"\"600\"", 0600},  {"\"0o640\"", 0640}, {"\"0660\"", 0660},
        {"\"0604\"", 0604}, {"\"0775\"", 0775}, {"\"0\"", 0},        {"0o600", 0600},
    };
    for (const auto& c : modes) {
        INFO("socket_mode = " << c.toml_value);
        CHECK(load_ok(admin + "socket_mode = " + c.toml_value + "\n").admin.socket_mode == c.mode);
    }
    for (const char* account :
         {"maintgate", "_maintgate", "www-data", "svc.web", "machine$", "0", "1000", "4294967294"}) {
        INFO("account " << account);
        const config cfg =
            load_ok(admin + "socket_owner = \"" + account + "\"\nsocket_group = \"" + account + "\"\n");
        CHECK(cfg.admin.socket_owner == account);
        CHECK(cfg.admin.socket_group == account);
    }
    // Empty means "none" or "the process's", as when the key is absent.
    const config empty =
        load_ok(admin + "socket = \"\"\nsocket_owner = \"\"\nsocket_group = \"\"\nmetrics = \"\"\n");
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

TEST_CASE("admin: each mistake has its own message", "[config]") {
    const std::string admin = base + "[admin]\n";
    const std::string too_long = "/" + std::string(107, 's');
    const std::string world =
        " lets every local user connect and change the mode; use \"0600\", or \"0660\" with "
        "socket_group";
    const std::string octal = "write it as an octal string such as \"0600\" or \"0660\"";
    const std::string special =
        " sets special bits (setuid, setgid, sticky), which mean nothing on a socket; use "
        "permission bits only, such as \"0600\"";
    check_single_errors({
        {admin + "socket = 5\n",
         "t.toml:6:10: admin.socket: expected a Unix socket path such as \"/run/maintgate/admin.sock\", got "
         "integer 5"},
        {admin + "socket = \"/run/maintgate/\"\n",
         "t.toml:6:10: admin.socket: \"/run/maintgate/\" names a folder; give a file name"},
        {admin + "socket = \"/run/a\\u0000b\"\n",
         "t.toml:6:10: admin.socket: \"/run/a\\x00b\" contains a NUL character"},
        {admin + "socket = \"" + too_long + "\"\n",
         "t.toml:6:10: admin.socket: \"" + too_long.substr(0, 80) +
             "...\" is 108 bytes long; a Unix socket path can be at most 107 bytes"},
        {admin + "socket_mode = \"0666\"\n", "t.toml:6:15: admin.socket_mode: \"0666\"" + world},
        {admin + "socket_mode = \"0602\"\n", "t.toml:6:15: admin.socket_mode: \"0602\"" + world},
        {admin + "socket_mode = \"777\"\n", "t.toml:6:15: admin.socket_mode: \"777\"" + world},
        {admin + "socket_mode = 0o666\n", "t.toml:6:15: admin.socket_mode: 0o666" + world},
        {admin + "socket_mode = \"rw-------\"\n",
         "t.toml:6:15: admin.socket_mode: \"rw-------\" is not an octal mode; " + octal},
        {admin + "socket_mode = \"0680\"\n",
         "t.toml:6:15: admin.socket_mode: \"0680\" is not an octal mode; " + octal},
        {admin + "socket_mode = \"00600\"\n",
         "t.toml:6:15: admin.socket_mode: \"00600\" is not an octal mode; " + octal},
        {admin + "socket_mode = \"\"\n",
         "t.toml:6:15: admin.socket_mode: \"\" is not an octal mode; " + octal},
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
         "t.toml:6:16: admin.socket_owner: \"" + std::string(33, 'u') +
             "\" is not a user name or numeric uid"},
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
        {"admin = \"/run/a.sock\"\n" + base,
         "t.toml:1:9: admin: expected a table ([admin]), got string \"/run/a.sock\""},
    });
}
