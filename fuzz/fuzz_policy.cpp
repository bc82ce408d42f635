// libFuzzer target: the gate's decision on attacker-controlled requests, with path
// normalisation and regex rules, and the regex compiler on arbitrary patterns.
//
// Input: text lines separated by '\n' (a missing line is empty):
//   1. flags: the first byte's low bits pick the mode (0 open, 1 read-only, 2 maintenance),
//      bit 2 holds webhooks, bit 3 raises the write fence
//   2. method    3. request-target    4. Host    5. bypass header value    6. Cookie
//   7. peer address ("192.0.2.9", "::1"; anything else is 203.0.113.1)
//   8. a path_regex pattern added as the last rule (an allow rule) when it compiles
// See fuzz/corpus/policy for examples.
//
// Besides "no crash, no sanitizer report", the properties the gate promises:
// - TRACE and CONNECT are always denied; behind the fence no write is forwarded;
// - in read-only mode a write is forwarded only for an operator or an allow /
//   allow-writes-in-read-only rule; in maintenance nothing but an operator, an allow
//   rule, the status endpoint or the bypass URL gets past the page;
// - a matched rule really matches the normalised path; normalize_path's output starts
//   with '/', is never longer than its input, holds no dot segment and no "//", and a
//   target with a ".." segment matches no rule.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "policy/gate.hpp"
#include "policy/path.hpp"

using namespace maintgate::policy;

namespace {

[[noreturn]] void broken(const char* property) {
    std::fprintf(stderr, "fuzz_policy: property broken: %s\n", property);
    std::abort();
}

void check(bool ok, const char* property) {
    if (!ok) broken(property);
}

rule make_rule(rule_action a, std::string path, std::string prefix, std::string regex = {},
               std::vector<std::string> methods = {}, std::string host = {}) {
    rule r;
    r.action = a;
    r.path = std::move(path);
    r.path_prefix = std::move(prefix);
    if (!regex.empty()) {
        auto c = path_regex::compile(regex);
        if (!c.value) broken("a fixed rule's regex does not compile");
        r.regex = std::move(*c.value);
    }
    r.methods = std::move(methods);
    r.host = std::move(host);
    r.reason = "fuzz";
    return r;
}

// One rule of each kind, the shapes attackers aim at.
gate_config make_config() {
    gate_config g;
    g.rules.push_back(make_rule(rule_action::allow, "", "/health"));
    g.rules.push_back(make_rule(rule_action::read, "/api/search", "", {}, {"POST"}));
    g.rules.push_back(
        make_rule(rule_action::allow_writes_in_read_only, "/login", "", {}, {"POST"}, "app.example.com"));
    g.rules.push_back(make_rule(rule_action::webhook, "", "/hooks/"));
    g.rules.push_back(make_rule(rule_action::allow, "", "", "^/static/[a-z0-9_-]+\\.(css|js)$"));
    g.rules.push_back(make_rule(rule_action::read, "", "/graphql", "^/graphql/?$", {"POST"}));
    g.bypass_cidrs = {*parse_cidr("192.0.2.0/24").value, *parse_cidr("2001:db8:aa::/48").value};
    g.bypass_secret = "fuzz-secret-0123456789abcdef";
    g.signer = bypass_signer(g.bypass_secret);
    return g;
}

std::string_view next_line(std::string_view& rest) {
    const auto nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    return line;
}

bool has_dot_dot_segment(std::string_view path) {
    for (std::size_t i = 0; i + 1 < path.size(); ++i) {
        if (path[i] != '.' || path[i + 1] != '.') continue;
        const bool starts = i > 0 && path[i - 1] == '/';
        const bool ends = i + 2 == path.size() || path[i + 2] == '/';
        if (starts && ends) return true;
    }
    return false;
}

void check_normalised(std::string_view target) {
    std::array<char, 8192> buf;
    const auto n = normalize_path(target, buf.data(), buf.size());
    if (!n) return;
    const std::string_view path(buf.data(), *n);
    check(!path.empty() && path.front() == '/', "a normalised path does not start with '/'");
    check(*n <= std::max<std::size_t>(target.size(), 1), "a normalised path grew");
    check(path.find("//") == std::string_view::npos, "a normalised path holds \"//\"");
    check(path.find("/./") == std::string_view::npos && !path.ends_with("/."),
          "a normalised path holds a '.' segment");
    check(!has_dot_dot_segment(path), "a normalised path holds a \"..\" segment");
    // Only a raw target with no '%' can be compared byte for byte: decoding changes it.
    if (target.find('%') == std::string_view::npos && target.find('\\') == std::string_view::npos &&
        target.front() == '/') {
        const std::string_view raw = target.substr(0, target.find_first_of("?#"));
        check(!has_dot_dot_segment(raw), "a target with a \"..\" segment was normalised");
    }
    // Normalising twice changes nothing, when the result holds nothing that decoding or
    // the query delimiter would read differently the second time.
    if (path.find_first_of("%?#\\ ") == std::string_view::npos) {
        std::array<char, 8192> again;
        const auto m = normalize_path(path, again.data(), again.size());
        check(m && std::string_view(again.data(), *m) == path, "normalize_path is not idempotent");
    }
}

bool rule_matches(const rule& r, std::string_view target) {
    std::array<char, 8192> buf;
    const auto n = normalize_path(target, buf.data(), buf.size());
    if (!n) return false;
    const std::string_view path(buf.data(), *n);
    if (!r.path.empty() && path != r.path) return false;
    if (!r.path_prefix.empty() && !path_has_prefix(path, r.path_prefix)) return false;
    return !r.regex || r.regex->search(path);
}

void check_decision(const gate_view& v, const gate_config& g, const request_view& r) {
    const decision d = decide(v, g, r);
    const method_class cls = classify_method(r.method);
    if (cls == method_class::forbidden)
        check(d.what == verdict::deny_method, "TRACE or CONNECT was not denied");
    if (v.fenced) check(!(d.write && d.what == verdict::forward), "a write passed the fence");
    const rule* matched = nullptr;
    if (d.rule >= 0) {
        check(static_cast<std::size_t>(d.rule) < g.rules.size(), "rule index out of range");
        matched = &g.rules[static_cast<std::size_t>(d.rule)];
        check(rule_matches(*matched, r.target), "the matched rule does not match the path");
    }
    if (d.what != verdict::forward || d.bypass) return;
    if (v.m != mode::open) check(!is_operator(g, r), "an operator was forwarded without the bypass flag");
    if (v.m == mode::read_only && d.write)
        check(matched && (matched->action == rule_action::allow ||
                          matched->action == rule_action::allow_writes_in_read_only),
              "a write was forwarded in read-only mode without an exception");
    if (v.m == mode::maintenance)
        check(matched && matched->action == rule_action::allow,
              "a request was forwarded in maintenance without an allow rule");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    static const gate_config fixed = make_config();

    std::string_view rest(reinterpret_cast<const char*>(bytes), size);
    const std::string_view flags = next_line(rest);
    request_view r;
    r.method = next_line(rest);
    r.target = next_line(rest);
    r.host = next_line(rest);
    r.bypass_header = next_line(rest);
    r.cookie = next_line(rest);
    const auto peer = parse_ip(next_line(rest));
    r.peer = peer ? *peer : *parse_ip("203.0.113.1");
    r.now = 1'800'000'000;
    const std::string_view pattern = rest.substr(0, rest.find('\n'));

    const unsigned f = flags.empty() ? 0u : static_cast<unsigned char>(flags[0]);
    gate_view v;
    v.m = static_cast<mode>((f & 3) % 3);
    v.hold_webhooks = (f & 4) != 0;
    v.fenced = (f & 8) != 0;

    if (!r.target.empty()) check_normalised(r.target);
    check_decision(v, fixed, r);

    // The regex compiler and matcher on arbitrary patterns: compile may refuse, never
    // crash; search on the raw target and on the normalised path.
    if (!pattern.empty()) {
        auto compiled = path_regex::compile(pattern);
        if (compiled.value) {
            check(compiled.value->program_size() <= path_regex::max_program_size,
                  "a compiled program exceeds max_program_size");
            (void)compiled.value->search(r.target);
            gate_config with_regex = fixed;
            rule extra;
            extra.action = rule_action::allow;
            extra.regex = std::move(*compiled.value);
            extra.reason = "fuzz";
            with_regex.rules.push_back(std::move(extra));
            check_decision(v, with_regex, r);
        } else {
            check(!compiled.error.empty() && compiled.offset <= pattern.size(),
                  "a refused pattern has no error or an offset past its end");
        }
    }
    return 0;
}
