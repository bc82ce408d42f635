// [[listener]]: addresses, HTTPS keys and redirects.
#include "proxy/config/config.hpp"

#include <catch2/catch.hpp>

#include "tests/proxy/config/config_test_support.hpp"

using namespace maintgate;
using namespace maintgate::config_test;

TEST_CASE("listener addresses: each mistake has its own message", "[config]") {
    check_single_errors({
        {with_listener("127.0.0.1:70000"),
         "t.toml:2:11: listener[0].address: port 70000 is out of range (0-65535)"},
        {with_listener("127.0.0.1:123456"),
         "t.toml:2:11: listener[0].address: port 123456 is out of range (0-65535)"},
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
        {with_listener("[127.0.0.1]:80"),
         "t.toml:2:11: listener[0].address: \"127.0.0.1\" is not an IPv6 address"},
        {"[[listener]]\naddress = 8080\n[upstream]\nurl = \"http://127.0.0.1:3000\"\n",
         "t.toml:2:11: listener[0].address: expected a string such as \"127.0.0.1:8080\", got integer 8080"},
        {"[[listener]]\n[upstream]\nurl = \"http://127.0.0.1:3000\"\n",
         "t.toml:1:1: missing required key \"address\" in listener[0]"},
    });
}

TEST_CASE("listeners: presence, shape and duplicates", "[config]") {
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
        {"[[listener]]\naddress = \"127.0.0.1:8080\"\n[[listener]]\naddress = \"127.0.0.1:8080\"\n" +
             upstream,
         "t.toml:4:11: listener[1].address: \"127.0.0.1:8080\" is already used by listener[0]"},
        // The same address however it is spelt.
        {"[[listener]]\naddress = \"[::1]:8080\"\n[[listener]]\naddress = \"[0:0::1]:8080\"\n" + upstream,
         "t.toml:4:11: listener[1].address: \"[0:0::1]:8080\" is already used by listener[0]"},
        {"[[listener]]\naddress = \"127.0.0.1:1\"\n[[listener]]\naddress = \"127.0.0.1:2\"\n"
         "[[listener]]\naddress = \"127.0.0.1:1\"\n" +
             upstream,
         "t.toml:6:11: listener[2].address: \"127.0.0.1:1\" is already used by listener[0]"},
    });

    // Different ports, or port 0 (the kernel picks a fresh one each time), are fine.
    const config cfg = load_ok(
        "[[listener]]\naddress = \"127.0.0.1:0\"\n[[listener]]\naddress = \"127.0.0.1:0\"\n"
        "[[listener]]\naddress = \"127.0.0.1:1\"\n[[listener]]\naddress = \"[::1]:1\"\n" +
        upstream);
    CHECK(cfg.listeners.size() == 4);
}

TEST_CASE("HTTPS listeners and redirects: every key is read", "[config][tls]") {
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
    CHECK(cfg.listeners[1].redirect_except ==
          std::vector<std::string>{"/healthz", "/.well-known/acme-challenge/"});
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

TEST_CASE("relative certificate paths are relative to the config's folder", "[config][tls]") {
    const auto result = load_config_string(
        "[[listener]]\naddress = \"127.0.0.1:0\"\ntls_cert = \"c.pem\"\n"
        "tls_key = \"/abs/k.pem\"\n[upstream]\nurl = \"https://app\"\n"
        "tls_ca_file = \"ca/ca.pem\"\n",
        "/etc/maintgate/maintgate.toml");
    REQUIRE(result.cfg.has_value());
    CHECK(result.cfg->listeners[0].tls.cert == "/etc/maintgate/c.pem");
    CHECK(result.cfg->listeners[0].tls.key == "/abs/k.pem");
    CHECK(result.cfg->listeners[0].tls.where == "/etc/maintgate/maintgate.toml:3:12");
    CHECK(result.cfg->upstream.tls_ca_file == "/etc/maintgate/ca/ca.pem");
}

TEST_CASE("HTTPS listeners: each mistake has its own message", "[config][tls]") {
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
        {listener("tls_cert = \"\"\ntls_key = \"k.pem\"\n"),
         "t.toml:3:12: listener[0].tls_cert: must name a PEM file"},
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
        {listener(pair +
                  "[[listener.sni]]\ntls_cert = \"o.pem\"\ntls_key = \"o.key\"\nserver_names = [\"a b\"]\n"),
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

TEST_CASE("redirects to HTTPS: each mistake has its own message", "[config][tls]") {
    const std::string up = "[upstream]\nurl = \"http://127.0.0.1:3000\"\n";
    const std::string https =
        "[[listener]]\naddress = \"127.0.0.1:8443\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n";
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
    const config cfg = load_ok(
        "[[listener]]\naddress = \"127.0.0.1:8080\"\nredirect_https = \"https://example.com\"\n" + up);
    CHECK(cfg.listeners[0].redirect_to == "https://example.com");
}
