#pragma once
// The gate's decision: given the mode and one request, forward it, refuse it as a write,
// show the maintenance page, or answer locally. Pure and allocation-free: plain data in,
// a decision out. The proxy reads the mode once per request and calls decide().
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/bypass.hpp"
#include "policy/cidr.hpp"
#include "policy/path_regex.hpp"

namespace maintgate::policy {

enum class mode : std::uint8_t { open, read_only, maintenance };

// "open", "read-only", "maintenance".
std::string_view to_string(mode m) noexcept;
std::optional<mode> parse_mode(std::string_view text) noexcept;

// The steps of a staged reopen, in order. Each stage is a mode plus what it still holds:
// `operators` is maintenance (only operators reach the app) and `writes` is open with
// webhook routes still refused. `set mode` lands on the stage of the same name.
enum class stage : std::uint8_t { maintenance, operators, read_only, writes, open };

// "maintenance", "operators", "read-only", "writes", "open".
std::string_view to_string(stage s) noexcept;
std::optional<stage> parse_stage(std::string_view text) noexcept;
mode mode_of(stage s) noexcept;
stage stage_of(mode m) noexcept;

// GET, HEAD and OPTIONS are reads; TRACE and CONNECT are refused always; every other
// method is a write. Case-sensitive on purpose: "get" and unknown methods are writes,
// so a method an app might treat as a read by accident cannot slip past the gate.
enum class method_class : std::uint8_t { read, write, forbidden };
method_class classify_method(std::string_view method) noexcept;

enum class rule_action : std::uint8_t {
    allow,  // forwarded in every mode (health checks)
    read,  // a write method that is really a read (search POST)
    allow_writes_in_read_only,  // writes that must work in read-only mode (login)
    webhook,  // a webhook route: held whenever writes are held
};

std::string_view to_string(rule_action a) noexcept;
std::optional<rule_action> parse_rule_action(std::string_view text) noexcept;

struct rule {
    rule_action action = rule_action::allow;
    std::string path;  // exact normalised path, or empty
    std::string path_prefix;  // segment-boundary prefix, or empty
    std::optional<path_regex> regex;  // searched in the normalised path
    std::vector<std::string> methods;  // exact method names; empty: any method
    std::string host;  // lower-case host without port; empty: any host
    std::string reason;  // why the exception exists: shown by check/status
};

struct gate_config {
    std::vector<rule> rules;  // first match wins, in config order
    std::vector<cidr> bypass_cidrs;  // operators' networks
    std::string bypass_secret;  // empty: no secret bypass
    std::string bypass_header = "x-maintgate-bypass";  // lower-case name; value is the secret
    std::string bypass_path = "/.maintgate/bypass";  // GET bypass_path/<secret> sets the cookie
    std::string bypass_cookie = "maintgate_bypass";
    std::chrono::seconds bypass_cookie_ttl{12 * 3600};
    std::string status_path = "/.well-known/maintgate";
    bypass_signer signer;  // keyed from bypass_secret at load
};

// What decide() needs of a request; views into the parsed request, valid for the call.
struct request_view {
    std::string_view method;
    // X-HTTP-Method-Override, X-HTTP-Method or X-Method-Override, or empty. Apps
    // (Rails, Laravel, Express middleware) may act on it, so a write named there makes
    // the request a write, whatever the request line says.
    std::string_view method_override;
    // An Upgrade request (WebSocket): a GET that opens a channel able to carry writes,
    // so it counts as a write unless a `read` rule says the channel only reads.
    bool upgrade = false;
    std::string_view target;
    std::string_view host;  // Host field value (may carry a port)
    std::string_view bypass_header;  // value of the configured bypass header, or empty
    std::string_view cookie;  // Cookie field value, or empty
    ip_address peer;
    std::int64_t now = 0;  // unix seconds, for cookie expiry
};

enum class verdict : std::uint8_t {
    forward,  // send to the upstream
    refuse_write,  // 503 read-only refusal (writes and held webhooks)
    maintenance,  // 503 maintenance page
    status,  // the public status endpoint
    grant_bypass,  // the secret URL: set the signed cookie, redirect to "/"
    deny_method,  // TRACE, CONNECT: 405
};

std::string_view to_string(verdict v) noexcept;

struct decision {
    verdict what = verdict::forward;
    bool write = false;  // a write that reaches the upstream when forwarded
    bool bypass = false;  // forwarded only because the client is an operator
    int rule = -1;  // index of the matching rule in gate_config::rules, or -1
};

// What decide() reads of the gate's state: the mode, whether webhook routes are still
// held while the mode is open (the `writes` stage), and whether the write fence is up.
// While fenced, no write is forwarded: not for operators, not for exception rules; a
// `read` rule's POST is a read by declaration and passes.
struct gate_view {
    mode m = mode::open;
    bool hold_webhooks = false;
    bool fenced = false;
};

// The whole gate in one function; see the mode table at the top of README.md. In order:
// TRACE/CONNECT are denied; GET/HEAD of status_path (and of its /windows.json and /windows.ics
// feeds) is the status endpoint; GET of
// bypass_path/<secret> grants the bypass cookie; in open mode everything is forwarded;
// operators (bypass_cidrs, the bypass header, a valid cookie) are forwarded in every
// mode; then the first matching rule decides; without one, maintenance shows the page
// and read-only forwards reads and refuses writes. Rules match on the normalised path,
// so "/healthz/../api" never matches a "/healthz" rule; a target that cannot be
// normalised matches no rule. Allocation-free.
decision decide(const gate_view& v, const gate_config& g, const request_view& r) noexcept;
inline decision decide(mode m, const gate_config& g, const request_view& r) noexcept {
    return decide(gate_view{m, false, false}, g, r);
}

// True when the request carries proof of being an operator.
bool is_operator(const gate_config& g, const request_view& r) noexcept;

// The index of the first rule matching the request, or -1. A rule's methods must list
// the request's method and, when there is one, its method override. Allocation-free.
int match_rule(const gate_config& g, const request_view& r) noexcept;

}  // namespace maintgate::policy
