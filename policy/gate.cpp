#include "policy/gate.hpp"

#include <array>

#include "policy/ascii.hpp"
#include "policy/path.hpp"

namespace maintgate::policy {
namespace {

// Longest normalised path a rule is matched against; a longer path matches no rule,
// which only ever makes the gate stricter.
constexpr std::size_t max_rule_path = 8192;

// "Example.com:8080" -> "Example.com"; "[::1]:80" -> "[::1]".
std::string_view host_without_port(std::string_view host) noexcept {
    if (!host.empty() && host.front() == '[') {
        auto close = host.find(']');
        return close == std::string_view::npos ? host : host.substr(0, close + 1);
    }
    auto colon = host.rfind(':');
    return colon == std::string_view::npos ? host : host.substr(0, colon);
}

bool method_listed(const rule& r, std::string_view method) noexcept {
    if (r.methods.empty()) return true;
    for (const auto& m : r.methods)
        if (m == method) return true;
    return false;
}

bool path_matches(const rule& r, std::string_view path) noexcept {
    if (!r.path.empty() && path != r.path) return false;
    if (!r.path_prefix.empty() && !path_has_prefix(path, r.path_prefix)) return false;
    if (r.regex && !r.regex->search(path)) return false;
    return true;
}

bool grants_bypass(const gate_config& g, const request_view& r) noexcept {
    if (g.bypass_secret.empty() || r.method != "GET") return false;
    auto q = r.target.find('?');
    auto path = r.target.substr(0, q);
    if (path.size() <= g.bypass_path.size() + 1 || path.substr(0, g.bypass_path.size()) != g.bypass_path ||
        path[g.bypass_path.size()] != '/')
        return false;
    return constant_time_equal(path.substr(g.bypass_path.size() + 1), g.bypass_secret);
}

bool is_status_request(const gate_config& g, const request_view& r) noexcept {
    if (g.status_path.empty() || (r.method != "GET" && r.method != "HEAD")) return false;
    auto q = r.target.find('?');
    const auto path = r.target.substr(0, q);
    if (path == g.status_path) return true;
    // The maintenance windows' feeds, status_path + "/windows.json" and "/windows.ics".
    if (path.size() <= g.status_path.size() || path.substr(0, g.status_path.size()) != g.status_path)
        return false;
    const auto rest = path.substr(g.status_path.size());
    return rest == "/windows.json" || rest == "/windows.ics";
}

}  // namespace

std::string_view to_string(mode m) noexcept {
    switch (m) {
    case mode::open: return "open";
    case mode::read_only: return "read-only";
    case mode::maintenance: return "maintenance";
    }
    return "maintenance";
}

std::optional<mode> parse_mode(std::string_view text) noexcept {
    if (text == "open") return mode::open;
    if (text == "read-only") return mode::read_only;
    if (text == "maintenance") return mode::maintenance;
    return std::nullopt;
}

std::string_view to_string(stage s) noexcept {
    switch (s) {
    case stage::maintenance: return "maintenance";
    case stage::operators: return "operators";
    case stage::read_only: return "read-only";
    case stage::writes: return "writes";
    case stage::open: return "open";
    }
    return "maintenance";
}

std::optional<stage> parse_stage(std::string_view text) noexcept {
    if (text == "maintenance") return stage::maintenance;
    if (text == "operators") return stage::operators;
    if (text == "read-only") return stage::read_only;
    if (text == "writes") return stage::writes;
    if (text == "open") return stage::open;
    return std::nullopt;
}

mode mode_of(stage s) noexcept {
    switch (s) {
    case stage::maintenance:
    case stage::operators: return mode::maintenance;
    case stage::read_only: return mode::read_only;
    case stage::writes:
    case stage::open: return mode::open;
    }
    return mode::maintenance;
}

stage stage_of(mode m) noexcept {
    switch (m) {
    case mode::open: return stage::open;
    case mode::read_only: return stage::read_only;
    case mode::maintenance: return stage::maintenance;
    }
    return stage::maintenance;
}

method_class classify_method(std::string_view method) noexcept {
    if (method == "GET" || method == "HEAD" || method == "OPTIONS") return method_class::read;
    if (method == "TRACE" || method == "CONNECT") return method_class::forbidden;
    return method_class::write;
}

std::string_view to_string(rule_action a) noexcept {
    switch (a) {
    case rule_action::allow: return "allow";
    case rule_action::read: return "read";
    case rule_action::allow_writes_in_read_only: return "allow-writes-in-read-only";
    case rule_action::webhook: return "webhook";
    }
    return "allow";
}

std::optional<rule_action> parse_rule_action(std::string_view text) noexcept {
    if (text == "allow") return rule_action::allow;
    if (text == "read") return rule_action::read;
    if (text == "allow-writes-in-read-only") return rule_action::allow_writes_in_read_only;
    if (text == "webhook") return rule_action::webhook;
    return std::nullopt;
}

std::string_view to_string(verdict v) noexcept {
    switch (v) {
    case verdict::forward: return "forward";
    case verdict::refuse_write: return "refuse-write";
    case verdict::maintenance: return "maintenance";
    case verdict::status: return "status";
    case verdict::grant_bypass: return "grant-bypass";
    case verdict::deny_method: return "deny-method";
    }
    return "forward";
}

bool is_operator(const gate_config& g, const request_view& r) noexcept {
    if (any_contains(g.bypass_cidrs, r.peer)) return true;
    if (g.bypass_secret.empty()) return false;
    if (!r.bypass_header.empty() && constant_time_equal(r.bypass_header, g.bypass_secret)) return true;
    if (!r.cookie.empty()) {
        auto value = find_cookie(r.cookie, g.bypass_cookie);
        if (!value.empty() && g.signer.verify_cookie_value(value, r.now)) return true;
    }
    return false;
}

int match_rule(const gate_config& g, const request_view& r) noexcept {
    if (g.rules.empty()) return -1;
    std::array<char, max_rule_path> buf;
    auto len = normalize_path(r.target, buf.data(), buf.size());
    if (!len) return -1;
    std::string_view path(buf.data(), *len);
    std::string_view host = host_without_port(r.host);
    for (std::size_t i = 0; i < g.rules.size(); ++i) {
        const rule& rl = g.rules[i];
        if (!rl.host.empty() && !iequals(rl.host, host)) continue;
        if (!method_listed(rl, r.method)) continue;
        if (!r.method_override.empty() && !method_listed(rl, r.method_override)) continue;
        if (!path_matches(rl, path)) continue;
        return static_cast<int>(i);
    }
    return -1;
}

namespace {

decision decide_mode(const gate_view& v, const gate_config& g, const request_view& r) noexcept {
    const mode m = v.m;
    decision d;
    auto cls = classify_method(r.method);
    if (cls == method_class::forbidden) {
        d.what = verdict::deny_method;
        return d;
    }
    // An override can only make a request more of a write, never less: GET with
    // "X-HTTP-Method-Override: DELETE" is a write; POST overridden to GET stays one.
    if (!r.method_override.empty() && cls == method_class::read &&
        classify_method(r.method_override) != method_class::read)
        cls = method_class::write;
    if (r.upgrade && cls == method_class::read) cls = method_class::write;
    if (is_status_request(g, r)) {
        d.what = verdict::status;
        return d;
    }
    if (grants_bypass(g, r)) {
        d.what = verdict::grant_bypass;
        return d;
    }
    d.rule = match_rule(g, r);
    const rule* rl = d.rule >= 0 ? &g.rules[static_cast<std::size_t>(d.rule)] : nullptr;
    // A "read" rule turns a write method into a read everywhere, so the write fence does
    // not wait for search POSTs.
    d.write = cls == method_class::write && !(rl && rl->action == rule_action::read);
    if (m == mode::open) {
        if (v.hold_webhooks && rl && rl->action == rule_action::webhook) d.what = verdict::refuse_write;
        return d;
    }
    if (is_operator(g, r)) {
        d.bypass = true;
        return d;
    }
    if (rl) {
        switch (rl->action) {
        case rule_action::allow: return d;
        case rule_action::webhook: d.what = verdict::refuse_write; return d;
        case rule_action::read:
        case rule_action::allow_writes_in_read_only:
            d.what = m == mode::maintenance ? verdict::maintenance : verdict::forward;
            return d;
        }
    }
    if (m == mode::maintenance)
        d.what = verdict::maintenance;
    else if (d.write)
        d.what = verdict::refuse_write;
    return d;
}

}  // namespace

decision decide(const gate_view& v, const gate_config& g, const request_view& r) noexcept {
    decision d = decide_mode(v, g, r);
    // The fence is the last word: whatever let a write through above, it waits.
    if (v.fenced && d.write && d.what == verdict::forward) d.what = verdict::refuse_write;
    return d;
}

}  // namespace maintgate::policy
