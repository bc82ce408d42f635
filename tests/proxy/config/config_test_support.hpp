#pragma once
// What the config tests share: a valid base document, loading helpers and the
// documented defaults.
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

namespace maintgate::config_test {

inline constexpr const char* file_name = "t.toml";

// Four lines that make a valid document; cases append to it, so an appended
// section starts on line 5.
inline const std::string base =
    "[[listener]]\n"
    "address = \"127.0.0.1:8080\"\n"
    "[upstream]\n"
    "url = \"http://127.0.0.1:3000\"\n";

inline load_result load(const std::string& text) { return load_config_string(text, file_name); }

inline std::vector<std::string> messages(const load_result& result) {
    std::vector<std::string> out;
    for (const auto& e : result.errors) out.push_back(e.to_string());
    return out;
}

// The address sits on line 2, column 11.
inline std::string with_listener(const std::string& address) {
    return "[[listener]]\naddress = \"" + address + "\"\n[upstream]\nurl = \"http://127.0.0.1:3000\"\n";
}

// The URL sits on line 4, column 7.
inline std::string with_upstream_url(const std::string& url) {
    return "[[listener]]\naddress = \"127.0.0.1:8080\"\n[upstream]\nurl = \"" + url + "\"\n";
}

inline config load_ok(const std::string& text) {
    const auto result = load(text);
    INFO("document:\n" << text);
    for (const auto& m : messages(result)) UNSCOPED_INFO(m);
    REQUIRE(result.errors.empty());
    REQUIRE(result.cfg.has_value());
    return *result.cfg;
}

struct bad_case {
    std::string document;
    std::string error;  // the one error expected, as to_string() renders it
};

inline void check_single_errors(const std::vector<bad_case>& cases) {
    for (const auto& c : cases) {
        INFO("document:\n" << c.document);
        const auto result = load(c.document);
        CHECK_FALSE(result.cfg.has_value());
        CHECK(messages(result) == std::vector<std::string>{c.error});
    }
}

// The defaults documented in config.hpp, spelled out so a changed default is a
// deliberate edit here too.
inline void check_defaults_except_listeners_and_upstream_url(const config& cfg) {
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

inline void check_local_listener_and_demo_upstream(const config& cfg) {
    REQUIRE(cfg.listeners.size() == 1);
    CHECK(cfg.listeners[0].address == "127.0.0.1:8080");
    CHECK(cfg.listeners[0].host == "127.0.0.1");
    CHECK(cfg.listeners[0].port == 8080);
    CHECK(cfg.upstream.url == "http://127.0.0.1:3000");
    CHECK(cfg.upstream.host == "127.0.0.1");
    CHECK(cfg.upstream.port == 3000);
}

}  // namespace maintgate::config_test
