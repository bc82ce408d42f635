#pragma once
// The configuration as plain data: loaded once from TOML, validated in full, then
// shared read-only by the data path. Exceptions are fine here, never after start-up.
#include <cstddef>
#include <cstdint>
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/cidr.hpp"
#include "policy/gate.hpp"
#include "proxy/config/duration.hpp"
#include "proxy/http/framing_types.hpp"
#include "proxy/spool/spool_types.hpp"
#include "proxy/window/window.hpp"
#include "proxy/hooks/hook_spec.hpp"

namespace maintgate {

namespace proxy {
class tls_server;
class tls_client;
}  // namespace proxy

// A certificate chain and its key, as PEM files. The files are read when the TLS contexts
// are built (start-up, reload, `maintgate check`), not by the loader, so `where` keeps
// the entry's position for the errors found then.
struct tls_certificate {
    std::string cert;  // PEM chain, leaf first (fullchain.pem)
    std::string key;  // PEM private key, unencrypted
    std::vector<std::string> server_names;  // SNI names it answers; empty: the certificate's own
    std::string where;  // "file:line:column" of the entry
};

// Mozilla's "intermediate" TLS 1.2 list (forward secrecy, AEAD only) and OpenSSL's
// TLS 1.3 suites.
inline constexpr std::string_view default_tls_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
inline constexpr std::string_view default_tls_ciphersuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

struct listener_config {
    std::string address;  // as written: "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:0"
    std::string host;  // "127.0.0.1", "::1", "0.0.0.0" (brackets removed)
    std::uint16_t port = 0;  // 0: the kernel picks one (tests)

    // HTTPS: a listener with a certificate speaks TLS.
    tls_certificate tls;  // tls.cert empty: plain HTTP
    std::vector<tls_certificate> sni;  // more certificates, chosen by the client's SNI
    std::string tls_ciphers{default_tls_ciphers};  // TLS 1.2, OpenSSL syntax
    std::string tls_ciphersuites{default_tls_ciphersuites};  // TLS 1.3, OpenSSL syntax
    int tls_min_version = 0x0303;  // OpenSSL's number: TLS 1.2 (TLS1_2_VERSION)
    std::string hsts_field;  // "Strict-Transport-Security: ...\r\n", or empty

    // Plain listeners only: send clients to HTTPS instead of serving them.
    bool redirect_https = false;
    std::string redirect_to;  // "https://host[:port]"; empty: the request's Host on
        // the first HTTPS listener's port
    std::vector<std::string> redirect_except;  // paths still served here: exact, or a prefix ending in "/"

    // The built contexts: set by the server at start-up and by reload, never by the
    // loader. A session holds the one it started with.
    std::shared_ptr<const proxy::tls_server> tls_context;

    bool https() const noexcept { return !tls.cert.empty(); }
};

struct upstream_config {
    std::string url = "http://127.0.0.1:3000";
    std::string host = "127.0.0.1";  // connect host: a literal address or a name
    std::uint16_t port = 3000;
    std::string host_header;  // empty: keep the client's Host
    duration connect_timeout{5'000};
    duration response_timeout{60'000};  // from request sent to response head received
    std::size_t max_idle = 64;  // idle pooled connections, per worker
    duration idle_timeout{4'000};  // below common app keep-alives (Node, Apache: 5s)

    // https:// upstreams.
    bool tls = false;  // the URL's scheme is https
    bool tls_verify = true;  // check the certificate chain and the name
    std::string tls_ca_file;  // PEM bundle to verify against; empty: the system store
    std::string tls_server_name;  // SNI and the name verified; empty: the URL's host
    std::string tls_where;  // "file:line:column" of [upstream], for errors found later
    // Built by the server at start-up (never by the loader); kept across reloads.
    std::shared_ptr<const proxy::tls_client> tls_context;
};

struct timeouts_config {
    duration header{10'000};  // total deadline for one request head (slowloris)
    duration body_idle{60'000};  // longest gap between body bytes from a client
    duration keepalive{75'000};  // idle client connection between requests
    duration send{60'000};  // longest a write to a client may stall
    duration tunnel_idle{3'600'000};  // upgraded (WebSocket) connection with no traffic
    duration expect_continue{1'000};  // wait for the upstream's 100 before sending the body anyway
    duration shutdown{30'000};  // graceful shutdown deadline for in-flight requests
};

struct limits_config {
    std::size_t max_connections = 10'000;  // client connections, all workers together
    std::size_t max_header_size = 16'384;  // whole request head, bytes (431 past it)
    std::size_t max_headers = 100;  // header fields in one request (431 past it)
    std::size_t max_uri_size = 8'192;  // request-target, bytes (414 past it)
    std::uint64_t max_body_size = 0;  // request body, bytes; 0 = unlimited (413 past it)
};

struct forwarding_config {
    // Peers whose X-Forwarded-For is trusted and appended to; everyone else's is overwritten.
    std::vector<policy::cidr> trusted_proxies;
    bool via = true;  // add "Via: 1.1 maintgate" both ways
    underscores_policy underscores_in_headers = underscores_policy::drop;
};

enum class access_format { combined, json };

struct log_config {
    std::string error = "stderr";  // "stderr" or a file path
    std::string level = "info";  // trace, debug, info, warn, error, critical, off
    std::string access;  // empty: no access log; "stdout", "stderr" or a path
    access_format format = access_format::combined;
};

// The gate: which mode to start in, how to persist it, and the policy the data path
// applies (rules, operator bypass, status endpoint).
struct gate_settings {
    policy::mode initial_mode = policy::mode::open;  // when there is no state file yet
    policy::mode corrupt_state_mode = policy::mode::maintenance;  // when the state file is unreadable
    std::string state_file;  // empty: the mode is not persisted (warned at start-up)
    std::string audit_log;  // JSON lines, one per admin change; empty: not kept (warned)
    duration retry_after{600'000};  // Retry-After when no expected end is set
    bool upstream_down_page = false;  // upstream unreachable: maintenance page (503) instead of 502/504
    std::string pages_dir;  // empty: the built-in pages
    std::string maintenance_page;  // template text, loaded and validated with the config
    std::string read_only_page;  // template text, loaded and validated with the config
    policy::gate_config policy;
    // What each rule adds for the webhook spool, by the same index as policy.rules.
    std::vector<webhook_spool> spool_rules;
};

// The operator's side: the admin socket (the only way to change the mode at run time)
// and the optional metrics listener.
struct admin_config {
    std::string socket;  // Unix socket path; empty: no admin socket (warned)
    std::uint32_t socket_mode = 0600;
    std::string socket_owner;  // user name or numeric uid; empty: the process's
    std::string socket_group;  // group name or numeric gid; empty: the process's
    std::string metrics;  // "127.0.0.1:9180" as written; empty: no metrics listener
    std::string metrics_host;  // brackets removed
    std::uint16_t metrics_port = 0;
};

// One request sent straight to the upstream to prove it works: the health check, or a
// smoke check run before each reopen step.
struct check_request {
    std::string name;  // shown in reports; default "METHOD path"
    std::string method = "GET";
    std::string path = "/";  // origin-form target, may carry a query
    std::string host;  // Host field; empty: the upstream's host_header or host:port
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;  // sent with Content-Length when not empty
    unsigned expect_status = 200;
    std::string body_contains;  // empty: the body is not checked
    duration timeout{5'000};  // connect + send + whole response
};

// Staged reopen: the gates each step must pass, and the automatic step back.
struct reopen_config {
    std::optional<check_request> health;  // [health_check]
    duration health_interval{10'000};  // background health check period; 0: only on demand
    std::vector<check_request> smoke;  // [[smoke_check]], run in order
    duration watch{0};  // after a step, watch the 5xx rate this long; 0: off
    double max_error_rate = 0.05;  // share of upstream responses that are 5xx
    std::uint64_t min_requests = 20;  // responses needed before the rate counts
    duration freeze_timeout{30'000};  // `freeze` without a timeout waits this long
    // [reopen.hooks]: [[hook]] names run, in order, once a step has reached the stage
    // (indexed by policy::stage); a failure steps back to the previous stage.
    std::array<std::vector<std::string>, 5> stage_hooks;
};

// The maintenance window's banner on forwarded HTML pages (proxy/http/banner.hpp).
struct banner_config {
    bool enabled = true;
    std::vector<std::string> exclude_prefixes;  // paths whose pages never get it
    // [[rule]] entries with banner = false: their matchers opt routes out (only rules
    // are read from it, with policy::match_rule).
    policy::gate_config route_off;
    std::string css;  // banner.css and banner.js, from gate.pages_dir or built in
    std::string js;
};

// [cluster]: several replicas behind one gate, through etcd v3's JSON gateway
// (proxy/cluster/). Absent: one replica, and nothing of the cluster runs.
struct etcd_endpoint {
    std::string url;  // as written: "http://127.0.0.1:2379"
    bool tls = false;  // https://
    std::string host;  // brackets removed
    std::uint16_t port = 2379;
};

struct cluster_config {
    std::vector<etcd_endpoint> etcd;  // tried in order; at least one
    std::string prefix = "/maintgate";  // keys: <prefix>/desired, /replicas/<id>, /acks/<id>
    std::string replica_id;  // empty: "<hostname>:<first listener's port>", resolved at start
    duration lease_ttl{10'000};  // the replicas/ and acks/ keys live this long without us
    duration keepalive{2'000};  // lease keep-alive period; 2 x keepalive < lease_ttl
    policy::mode fence_mode = policy::mode::read_only;  // at least this closed without etcd
    duration resync{300'000};  // full read of the desired state, besides the watch
    duration request_timeout{2'000};  // one etcd request, connect to last byte
    std::string tls_ca_file;  // https:// endpoints: PEM bundle; empty: the system store
    std::string tls_cert;  // client certificate (PEM), with tls_key
    std::string tls_key;
    std::string user;  // etcd auth; with password_file
    std::string password_file;  // read at start; one line, the trailing newline dropped
};

// [hold]: writes held during a freeze instead of refused (proxy/config/hold.cpp).
struct hold_config {
    bool enabled = false;  // every freeze holds writes; false: only `freeze hold` does
    duration max_wait{30'000};  // a held write past this gets the normal 503
    std::size_t max_held = 1'000;  // held writes, all workers together
    std::uint64_t max_bytes = 16 * 1024 * 1024;  // body bytes read from held writes, all workers
    double release_rate = 100.0;  // held writes forwarded per second once writes open again
    std::size_t body_cap = 16 * 1024;  // body bytes read from one held write
};

// [auto_read_only]: the gate goes read-only by itself (proxy/config/auto_read_only.cpp).
struct auto_read_only_config {
    bool enabled = false;
    std::string header = "maintgate-write-state";  // lower-case; stripped from responses
    double error_threshold = 0.5;  // share of 5xx among write responses over window
    std::uint64_t min_writes = 20;  // write responses in window before the share counts
    duration window{30'000};
    std::optional<check_request> probe;  // [auto_read_only.probe]: the [health_check] keys
    duration probe_interval{5'000};  // the probe's `interval`
    duration recover_after{30'000};  // healthy this long after expiry before reopening
    duration ttl{30'000};  // how long one trigger lasts unless re-confirmed
};

struct config {
    std::string source;  // file path, or "<embedded default>"
    unsigned workers = 0;  // resolved: never 0 after loading (default: cores)
    std::vector<listener_config> listeners;
    upstream_config upstream;
    timeouts_config timeouts;
    limits_config limits;
    forwarding_config forwarding;
    log_config log;
    gate_settings gate;
    admin_config admin;
    reopen_config reopen;
    spool_settings spool;  // [spool]; dir empty: no spool
    banner_config banner;
    std::optional<cluster_config> cluster;
    hold_config hold;
    auto_read_only_config auto_read_only;
    std::vector<window::plan> windows;  // [[window]], in document order
    std::vector<hook_spec> hooks;  // [[hook]], in document order
};

struct config_error {
    std::string file;
    std::uint32_t line = 0;  // 1-based; 0 when the error has no position
    std::uint32_t column = 0;  // 1-based; 0 when the error has no position
    std::string message;

    // "file:line:column: message" (or "file: message" without a position).
    std::string to_string() const;
};

struct load_result {
    std::optional<config> cfg;  // set only when errors is empty
    std::vector<config_error> errors;  // every error found, in document order
};

// Reads and validates a TOML file. Never throws.
load_result load_config_file(const std::string& path);

// Validates TOML text; source_name is used in error messages. Never throws.
load_result load_config_string(std::string_view text, const std::string& source_name);

// The embedded default: listen on 127.0.0.1:8080, forward to the demo app on
// 127.0.0.1:3000. Used by `maintgate run` when no -c is given.
std::string_view default_config_text() noexcept;

}  // namespace maintgate
