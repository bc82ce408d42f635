#include "policy/gate.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace maintgate::policy;

namespace {

constexpr std::string_view secret = "s3cret-operator-key";
constexpr std::int64_t now = 1'800'000'000;

ip_address ip(std::string_view text) {
    const auto a = parse_ip(text);
    INFO(std::string(text));
    REQUIRE(a.has_value());
    return *a;
}

cidr net(std::string_view text) {
    auto r = parse_cidr(text);
    INFO(std::string(text) << ": " << r.error);
    REQUIRE(r.value.has_value());
    return *r.value;
}

path_regex rx(std::string_view pattern) {
    auto r = path_regex::compile(pattern);
    INFO(std::string(pattern) << ": " << r.error);
    REQUIRE(r.value.has_value());
    return std::move(*r.value);
}

rule make_rule(rule_action a, std::string path, std::string prefix, std::vector<std::string> methods = {},
               std::string host = {}) {
    rule r;
    r.action = a;
    r.path = std::move(path);
    r.path_prefix = std::move(prefix);
    r.methods = std::move(methods);
    r.host = std::move(host);
    r.reason = "test";
    return r;
}

// Rule indexes in the shared config below.
constexpr int r_healthz = 0;  // allow, prefix /healthz
constexpr int r_search = 1;  // read, path /api/search, POST only
constexpr int r_login = 2;  // allow-writes-in-read-only, path /login, POST, host app.example.com
constexpr int r_hooks = 3;  // webhook, prefix /hooks
constexpr int r_css = 4;  // allow, regex ^/static/[a-z]+\.css$
constexpr int r_status_get = 5;  // allow, path /ping, GET and HEAD only

gate_config make_config() {
    gate_config g;
    g.rules.push_back(make_rule(rule_action::allow, "", "/healthz"));
    g.rules.push_back(make_rule(rule_action::read, "/api/search", "", {"POST"}));
    g.rules.push_back(
        make_rule(rule_action::allow_writes_in_read_only, "/login", "", {"POST"}, "app.example.com"));
    g.rules.push_back(make_rule(rule_action::webhook, "", "/hooks"));
    rule css = make_rule(rule_action::allow, "", "");
    css.regex = rx("^/static/[a-z]+\\.css$");
    g.rules.push_back(std::move(css));
    g.rules.push_back(make_rule(rule_action::allow, "/ping", "", {"GET", "HEAD"}));
    g.bypass_cidrs = {net("192.0.2.0/24"), net("2001:db8:aa::/48")};
    g.bypass_secret = std::string(secret);
    g.signer = bypass_signer(secret);
    return g;
}

const gate_config& config() {
    static const gate_config g = make_config();
    return g;
}

request_view req(std::string_view method, std::string_view target,
                 std::string_view host = "app.example.com") {
    request_view r;
    r.method = method;
    r.target = target;
    r.host = host;
    r.peer = ip("198.51.100.7");  // an ordinary user, in no bypass network
    r.now = now;
    return r;
}

struct expected {
    verdict what;
    bool write;
    bool bypass;
    int rule;
};

void check_decision(const decision& d, const expected& e) {
    CHECK(to_string(d.what) == to_string(e.what));
    CHECK(d.write == e.write);
    CHECK(d.bypass == e.bypass);
    CHECK(d.rule == e.rule);
}

constexpr mode all_modes[] = {mode::open, mode::read_only, mode::maintenance};

}  // namespace

TEST_CASE("gate: mode names and rule actions round-trip", "[gate]") {
    for (mode m : all_modes) {
        INFO(std::string(to_string(m)));
        CHECK(parse_mode(to_string(m)) == m);
    }
    CHECK(to_string(mode::read_only) == "read-only");
    for (auto bad : {"", "Open", "readonly", "read_only", "MAINTENANCE", " open"})
        CHECK_FALSE(parse_mode(bad).has_value());
    for (auto a : {rule_action::allow, rule_action::read, rule_action::allow_writes_in_read_only,
                   rule_action::webhook})
        CHECK(parse_rule_action(to_string(a)) == a);
    CHECK(to_string(rule_action::allow_writes_in_read_only) == "allow-writes-in-read-only");
    CHECK_FALSE(parse_rule_action("Allow").has_value());
}

TEST_CASE("gate: classify_method is an allow-list of reads, case-sensitive", "[gate]") {
    struct row {
        std::string_view method;
        method_class cls;
    };
    const row rows[] = {
        {"GET", method_class::read},          {"HEAD", method_class::read},
        {"OPTIONS", method_class::read},      {"POST", method_class::write},
        {"PUT", method_class::write},         {"DELETE", method_class::write},
        {"PATCH", method_class::write},       {"post", method_class::write},
        {"get", method_class::write},         {"Get", method_class::write},
        {"head", method_class::write},        {"PURGE", method_class::write},
        {"PROPFIND", method_class::write},    {"", method_class::write},
        {"GET ", method_class::write},        {"TRACE", method_class::forbidden},
        {"CONNECT", method_class::forbidden},
    };
    for (const auto& r : rows) {
        INFO("'" << std::string(r.method) << "'");
        CHECK(static_cast<int>(classify_method(r.method)) == static_cast<int>(r.cls));
    }
}

TEST_CASE("gate: decide, every mode x method class, no rule, ordinary client", "[gate]") {
    // An unmatched path: only the mode table (README.md, first table) applies.
    const std::string_view methods[] = {"GET",   "HEAD", "OPTIONS", "POST",  "PUT",   "DELETE",
                                        "PATCH", "post", "get",     "PURGE", "TRACE", "CONNECT"};
    for (mode m : all_modes) {
        for (auto method : methods) {
            INFO(to_string(m) << " " << std::string(method));
            const auto cls = classify_method(method);
            expected e{verdict::forward, cls == method_class::write, false, -1};
            if (cls == method_class::forbidden)
                e = {verdict::deny_method, false, false, -1};
            else if (m == mode::maintenance)
                e.what = verdict::maintenance;
            else if (m == mode::read_only && cls == method_class::write)
                e.what = verdict::refuse_write;
            check_decision(decide(m, config(), req(method, "/api/items/7")), e);
        }
    }
    // The same without any configuration at all.
    const gate_config empty;
    check_decision(decide(mode::read_only, empty, req("GET", "/")), {verdict::forward, false, false, -1});
    check_decision(decide(mode::read_only, empty, req("DELETE", "/")),
                   {verdict::refuse_write, true, false, -1});
    check_decision(decide(mode::maintenance, empty, req("HEAD", "/")),
                   {verdict::maintenance, false, false, -1});
    check_decision(decide(mode::open, empty, req("TRACE", "/")), {verdict::deny_method, false, false, -1});
}

TEST_CASE("gate: decide with rules, ordinary client", "[gate]") {
    struct row {
        const char* what;
        std::string_view method;
        std::string_view target;
        std::string_view host;
        expected open, read_only, maintenance;
    };
    using v = verdict;
    const row rows[] = {
        // allow: forwarded in every mode, writes included; still counted as writes.
        {"allow GET",
         "GET",
         "/healthz",
         "app.example.com",
         {v::forward, false, false, r_healthz},
         {v::forward, false, false, r_healthz},
         {v::forward, false, false, r_healthz}},
        {"allow GET sub-path + query",
         "GET",
         "/healthz/live?full=1",
         "x",
         {v::forward, false, false, r_healthz},
         {v::forward, false, false, r_healthz},
         {v::forward, false, false, r_healthz}},
        {"allow POST",
         "POST",
         "/healthz",
         "x",
         {v::forward, true, false, r_healthz},
         {v::forward, true, false, r_healthz},
         {v::forward, true, false, r_healthz}},
        {"allow lowercase post",
         "post",
         "/healthz",
         "x",
         {v::forward, true, false, r_healthz},
         {v::forward, true, false, r_healthz},
         {v::forward, true, false, r_healthz}},
        {"allow absolute-form",
         "GET",
         "http://app.example.com/healthz",
         "app.example.com",
         {v::forward, false, false, r_healthz},
         {v::forward, false, false, r_healthz},
         {v::forward, false, false, r_healthz}},
        {"allow, TRACE still denied",
         "TRACE",
         "/healthz",
         "x",
         {v::deny_method, false, false, -1},
         {v::deny_method, false, false, -1},
         {v::deny_method, false, false, -1}},
        {"allow, CONNECT still denied",
         "CONNECT",
         "/healthz",
         "x",
         {v::deny_method, false, false, -1},
         {v::deny_method, false, false, -1},
         {v::deny_method, false, false, -1}},
        {"prefix is segment-bounded",
         "GET",
         "/healthzz",
         "x",
         {v::forward, false, false, -1},
         {v::forward, false, false, -1},
         {v::maintenance, false, false, -1}},

        // read: a write method that is really a read; never a write, maintenance still shows the page.
        {"read POST",
         "POST",
         "/api/search",
         "x",
         {v::forward, false, false, r_search},
         {v::forward, false, false, r_search},
         {v::maintenance, false, false, r_search}},
        {"read POST, query ignored",
         "POST",
         "/api/search?q=x",
         "x",
         {v::forward, false, false, r_search},
         {v::forward, false, false, r_search},
         {v::maintenance, false, false, r_search}},
        {"read, method not listed (PUT)",
         "PUT",
         "/api/search",
         "x",
         {v::forward, true, false, -1},
         {v::refuse_write, true, false, -1},
         {v::maintenance, true, false, -1}},
        {"read, method list is exact (post)",
         "post",
         "/api/search",
         "x",
         {v::forward, true, false, -1},
         {v::refuse_write, true, false, -1},
         {v::maintenance, true, false, -1}},
        {"read, GET not listed",
         "GET",
         "/api/search",
         "x",
         {v::forward, false, false, -1},
         {v::forward, false, false, -1},
         {v::maintenance, false, false, -1}},
        {"read, exact path only",
         "POST",
         "/api/search/more",
         "x",
         {v::forward, true, false, -1},
         {v::refuse_write, true, false, -1},
         {v::maintenance, true, false, -1}},
        {"read, exact path: trailing slash differs",
         "POST",
         "/api/search/",
         "x",
         {v::forward, true, false, -1},
         {v::refuse_write, true, false, -1},
         {v::maintenance, true, false, -1}},
        // A dot segment matches no rule: the app may route on the raw path, where
        // "/api/write/../search" is not the search endpoint.
        {"read, dot segments refused",
         "POST",
         "/api/./x/../search",
         "x",
         {v::forward, true, false, -1},
         {v::refuse_write, true, false, -1},
         {v::maintenance, true, false, -1}},

        // allow-writes-in-read-only: host-bound.
        {"login POST",
         "POST",
         "/login",
         "app.example.com",
         {v::forward, true, false, r_login},
         {v::forward, true, false, r_login},
         {v::maintenance, true, false, r_login}},
        {"login POST, host with port",
         "POST",
         "/login",
         "app.example.com:8443",
         {v::forward, true, false, r_login},
         {v::forward, true, false, r_login},
         {v::maintenance, true, false, r_login}},
        {"login POST, host in upper case",
         "POST",
         "/login",
         "APP.Example.COM",
         {v::forward, true, false, r_login},
         {v::forward, true, false, r_login},
         {v::maintenance, true, false, r_login}},
        {"login POST, upper-case host with port",
         "POST",
         "/login",
         "App.Example.Com:80",
         {v::forward, true, false, r_login},
         {v::forward, true, false, r_login},
         {v::maintenance, true, false, r_login}},
        {"login POST, other host",
         "POST",
         "/login",
         "other.example.com",
         {v::forward, true, false, -1},
         {v::refuse_write, true, false, -1},
         {v::maintenance, true, false, -1}},
        {"login POST, host suffix attack",
         "POST",
         "/login",
         "app.example.com.evil.net",
         {v::forward, true, false, -1},
         {v::refuse_write, true, false, -1},
         {v::maintenance, true, false, -1}},
        {"login POST, host prefix attack",
         "POST",
         "/login",
         "evilapp.example.com",
         {v::forward, true, false, -1},
         {v::refuse_write, true, false, -1},
         {v::maintenance, true, false, -1}},
        {"login POST, no host",
         "POST",
         "/login",
         "",
         {v::forward, true, false, -1},
         {v::refuse_write, true, false, -1},
         {v::maintenance, true, false, -1}},
        {"login POST, IPv6 host",
         "POST",
         "/login",
         "[2001:db8::1]:443",
         {v::forward, true, false, -1},
         {v::refuse_write, true, false, -1},
         {v::maintenance, true, false, -1}},
        {"login PUT not listed",
         "PUT",
         "/login",
         "app.example.com",
         {v::forward, true, false, -1},
         {v::refuse_write, true, false, -1},
         {v::maintenance, true, false, -1}},

        // webhook: held whenever writes are held (refused, also in maintenance).
        {"webhook POST",
         "POST",
         "/hooks/github",
         "x",
         {v::forward, true, false, r_hooks},
         {v::refuse_write, true, false, r_hooks},
         {v::refuse_write, true, false, r_hooks}},
        {"webhook GET",
         "GET",
         "/hooks/github",
         "x",
         {v::forward, false, false, r_hooks},
         {v::refuse_write, false, false, r_hooks},
         {v::refuse_write, false, false, r_hooks}},
        {"webhook PURGE",
         "PURGE",
         "/hooks",
         "x",
         {v::forward, true, false, r_hooks},
         {v::refuse_write, true, false, r_hooks},
         {v::refuse_write, true, false, r_hooks}},

        // path_regex rule, searched in the normalised path.
        {"regex match",
         "GET",
         "/static/site.css",
         "x",
         {v::forward, false, false, r_css},
         {v::forward, false, false, r_css},
         {v::forward, false, false, r_css}},
        {"regex, dot segments refused",
         "GET",
         "/static/x/../site.css?v=3",
         "x",
         {v::forward, false, false, -1},
         {v::forward, false, false, -1},
         {v::maintenance, false, false, -1}},
        {"regex anchored at the end",
         "GET",
         "/static/site.css.map",
         "x",
         {v::forward, false, false, -1},
         {v::forward, false, false, -1},
         {v::maintenance, false, false, -1}},
        {"regex is case-sensitive",
         "GET",
         "/STATIC/site.css",
         "x",
         {v::forward, false, false, -1},
         {v::forward, false, false, -1},
         {v::maintenance, false, false, -1}},
        {"regex, no traversal out",
         "GET",
         "/static/../admin/a.css",
         "x",
         {v::forward, false, false, -1},
         {v::forward, false, false, -1},
         {v::maintenance, false, false, -1}},

        // an allow rule with a methods list.
        {"ping GET",
         "GET",
         "/ping",
         "x",
         {v::forward, false, false, r_status_get},
         {v::forward, false, false, r_status_get},
         {v::forward, false, false, r_status_get}},
        {"ping HEAD",
         "HEAD",
         "/ping",
         "x",
         {v::forward, false, false, r_status_get},
         {v::forward, false, false, r_status_get},
         {v::forward, false, false, r_status_get}},
        {"ping POST not listed",
         "POST",
         "/ping",
         "x",
         {v::forward, true, false, -1},
         {v::refuse_write, true, false, -1},
         {v::maintenance, true, false, -1}},
        {"ping OPTIONS not listed",
         "OPTIONS",
         "/ping",
         "x",
         {v::forward, false, false, -1},
         {v::forward, false, false, -1},
         {v::maintenance, false, false, -1}},
    };
    for (const auto& r : rows) {
        INFO(r.what << ": " << std::string(r.method) << " " << std::string(r.target)
                    << " Host: " << std::string(r.host));
        {
            INFO("mode open");
            check_decision(decide(mode::open, config(), req(r.method, r.target, r.host)), r.open);
        }
        {
            INFO("mode read-only");
            check_decision(decide(mode::read_only, config(), req(r.method, r.target, r.host)), r.read_only);
        }
        {
            INFO("mode maintenance");
            check_decision(decide(mode::maintenance, config(), req(r.method, r.target, r.host)),
                           r.maintenance);
        }
    }
}

TEST_CASE("gate: path attacks never match an allow rule", "[gate]") {
    // Each aims at the "/healthz" allow rule to reach something else; in maintenance it
    // must get the page, and a write in read-only must be refused.
    const std::string_view attacks[] = {
        "/healthz/../api/write",
        "/healthz/%2e%2e/api",
        "/healthz/%2E%2E/api",
        "/healthz%2f..%2fapi",
        "/healthz%2F..%2Fapi/write",
        "/healthz/..%2fapi",
        "/healthz\\..\\api",
        "/healthz/..;/api",
        "/healthz/%252e%252e/api",
        "/healthz/.%2e/api",
        "/healthz/.../api",
        "/%2e%2e/healthz",
        "/../healthz",
        "/healthz/%00/x",
        "/healthz/%c0%ae%c0%ae/api",
        "/healthz.evil",
        "/healthzz",
        "/Healthz",
        "http://app.example.com/healthz/../api",
        "http://app.example.com\\healthz",
        "*",
        "app.example.com:443",
        "",
        "healthz",
    };
    for (auto t : attacks) {
        INFO("'" << std::string(t) << "'");
        CHECK(match_rule(config(), req("POST", t)) == -1);
        check_decision(decide(mode::maintenance, config(), req("GET", t)),
                       {verdict::maintenance, false, false, -1});
        check_decision(decide(mode::read_only, config(), req("POST", t)),
                       {verdict::refuse_write, true, false, -1});
    }
}

TEST_CASE("gate: '//healthz' and friends against an allow rule", "[gate]") {
    // A leading "//" is a network-path reference to some URL parsers ("//healthz/api"
    // could mean host "healthz", path "/api"), so it matches no rule: held like any write.
    check_decision(decide(mode::maintenance, config(), req("GET", "//healthz")),
                   {verdict::maintenance, false, false, -1});
    check_decision(decide(mode::read_only, config(), req("POST", "//healthz/api/write")),
                   {verdict::refuse_write, true, false, -1});
    // Whatever follows the doubled slash, a traversal out of /healthz never matches.
    for (auto t : {"//healthz/../api", "//healthz//..//api", "/healthz//../../api", "//..//healthz"}) {
        INFO(t);
        CHECK(match_rule(config(), req("GET", t)) == -1);
    }
}

TEST_CASE("gate: first matching rule wins", "[gate]") {
    gate_config g;
    g.rules.push_back(make_rule(rule_action::allow, "", "/api"));
    g.rules.push_back(make_rule(rule_action::webhook, "/api/hook", ""));
    check_decision(decide(mode::read_only, g, req("POST", "/api/hook")), {verdict::forward, true, false, 0});
    check_decision(decide(mode::maintenance, g, req("POST", "/api/hook")),
                   {verdict::forward, true, false, 0});

    gate_config reversed;
    reversed.rules.push_back(make_rule(rule_action::webhook, "/api/hook", ""));
    reversed.rules.push_back(make_rule(rule_action::allow, "", "/api"));
    check_decision(decide(mode::read_only, reversed, req("POST", "/api/hook")),
                   {verdict::refuse_write, true, false, 0});
    check_decision(decide(mode::read_only, reversed, req("POST", "/api/other")),
                   {verdict::forward, true, false, 1});

    // A rule skipped by its method or host list lets a later one decide.
    gate_config filtered;
    filtered.rules.push_back(make_rule(rule_action::allow, "", "/api", {"GET"}));
    filtered.rules.push_back(make_rule(rule_action::allow, "", "/api", {}, "admin.example.com"));
    filtered.rules.push_back(make_rule(rule_action::read, "", "/api"));
    check_decision(decide(mode::maintenance, filtered, req("GET", "/api/x")),
                   {verdict::forward, false, false, 0});
    check_decision(decide(mode::maintenance, filtered, req("POST", "/api/x", "Admin.Example.com:443")),
                   {verdict::forward, true, false, 1});
    check_decision(decide(mode::read_only, filtered, req("POST", "/api/x")),
                   {verdict::forward, false, false, 2});
    check_decision(decide(mode::maintenance, filtered, req("POST", "/api/x")),
                   {verdict::maintenance, false, false, 2});
}

TEST_CASE("gate: operator bypass", "[gate][bypass]") {
    const auto& g = config();
    const std::string valid_cookie =
        std::string(g.bypass_cookie) + "=" + g.signer.make_cookie_value(now + 3600);
    const std::string edge_cookie = "maintgate_bypass=" + g.signer.make_cookie_value(now + 1);
    const std::string expired_cookie = "maintgate_bypass=" + g.signer.make_cookie_value(now);
    const std::string old_cookie = "maintgate_bypass=" + g.signer.make_cookie_value(now - 60);
    const std::string forged_cookie =
        "maintgate_bypass=" + bypass_signer("other-secret").make_cookie_value(now + 3600);
    std::string truncated_cookie = valid_cookie;
    truncated_cookie.pop_back();
    std::string tampered_cookie = valid_cookie;
    tampered_cookie.back() = tampered_cookie.back() == '0' ? '1' : '0';
    const std::string among_others = "theme=dark; " + valid_cookie + "; session=abc";
    const std::string similar_name = "x" + valid_cookie;
    const std::string secret_s(secret);
    const std::string secret_longer = secret_s + "x";
    const std::string secret_shorter = secret_s.substr(0, secret_s.size() - 1);

    struct row {
        const char* what;
        std::string_view peer;
        std::string_view header;
        std::string_view cookie;
        bool op;
    };
    const row rows[] = {
        {"v4 inside", "192.0.2.55", "", "", true},
        {"v4 inside, network address", "192.0.2.0", "", "", true},
        {"v4 inside, last address", "192.0.2.255", "", "", true},
        {"v4 inside, IPv4-mapped", "::ffff:192.0.2.9", "", "", true},
        {"v4 outside, next network", "192.0.3.1", "", "", false},
        {"v4 outside, previous network", "192.0.1.255", "", "", false},
        {"v6 inside", "2001:db8:aa::5", "", "", true},
        {"v6 inside, top of /48", "2001:db8:aa:ffff:ffff:ffff:ffff:ffff", "", "", true},
        {"v6 outside", "2001:db8:ab::1", "", "", false},
        {"v6 loopback outside", "::1", "", "", false},
        {"header right", "198.51.100.7", secret, "", true},
        {"header wrong", "198.51.100.7", "not-the-secret", "", false},
        {"header longer", "198.51.100.7", secret_longer, "", false},
        {"header shorter", "198.51.100.7", secret_shorter, "", false},
        {"header empty", "198.51.100.7", "", "", false},
        {"cookie valid", "198.51.100.7", "", valid_cookie, true},
        {"cookie valid, 1 s left", "198.51.100.7", "", edge_cookie, true},
        {"cookie valid among others", "198.51.100.7", "", among_others, true},
        {"cookie expiring now", "198.51.100.7", "", expired_cookie, false},
        {"cookie expired", "198.51.100.7", "", old_cookie, false},
        {"cookie forged (other secret)", "198.51.100.7", "", forged_cookie, false},
        {"cookie truncated", "198.51.100.7", "", truncated_cookie, false},
        {"cookie tampered", "198.51.100.7", "", tampered_cookie, false},
        {"cookie similar name", "198.51.100.7", "", similar_name, false},
        {"cookie holding the raw secret", "198.51.100.7", "", "maintgate_bypass=s3cret-operator-key", false},
        {"cookie empty value", "198.51.100.7", "", "maintgate_bypass=", false},
        {"wrong header, valid cookie", "198.51.100.7", "nope", valid_cookie, true},
    };
    for (const auto& r : rows) {
        INFO(r.what);
        request_view rv = req("POST", "/api/items");
        rv.peer = ip(r.peer);
        rv.bypass_header = r.header;
        rv.cookie = r.cookie;
        CHECK(is_operator(g, rv) == r.op);
        // Open: forwarded anyway, so never marked as a bypass.
        check_decision(decide(mode::open, g, rv), {verdict::forward, true, false, -1});
        if (r.op) {
            check_decision(decide(mode::read_only, g, rv), {verdict::forward, true, true, -1});
            check_decision(decide(mode::maintenance, g, rv), {verdict::forward, true, true, -1});
        } else {
            check_decision(decide(mode::read_only, g, rv), {verdict::refuse_write, true, false, -1});
            check_decision(decide(mode::maintenance, g, rv), {verdict::maintenance, true, false, -1});
        }
        // Reads too, in maintenance.
        rv.method = "GET";
        check_decision(decide(mode::maintenance, g, rv),
                       r.op ? expected{verdict::forward, false, true, -1}
                            : expected{verdict::maintenance, false, false, -1});
        // TRACE is denied even to operators.
        rv.method = "TRACE";
        check_decision(decide(mode::maintenance, g, rv), {verdict::deny_method, false, false, -1});
    }
}

TEST_CASE("gate: operators pass held webhooks and keep the rule index", "[gate][bypass]") {
    request_view rv = req("POST", "/hooks/github");
    rv.peer = ip("192.0.2.10");
    check_decision(decide(mode::read_only, config(), rv), {verdict::forward, true, true, r_hooks});
    check_decision(decide(mode::maintenance, config(), rv), {verdict::forward, true, true, r_hooks});
    // A read rule still clears the write flag for an operator.
    rv.target = "/api/search";
    check_decision(decide(mode::maintenance, config(), rv), {verdict::forward, false, true, r_search});
}

TEST_CASE("gate: without a secret, neither header nor cookie is a bypass", "[gate][bypass]") {
    gate_config g = config();
    g.bypass_secret.clear();
    g.signer = bypass_signer{};
    g.bypass_cidrs.clear();
    const std::string cookie = "maintgate_bypass=" + bypass_signer("").make_cookie_value(now + 3600);
    const std::string cookie2 = "maintgate_bypass=" + bypass_signer(secret).make_cookie_value(now + 3600);
    struct row {
        std::string_view header;
        std::string_view cookie;
    };
    const row rows[] = {{"", ""},     {"x", ""},     {secret, ""},
                        {"", cookie}, {"", cookie2}, {"", "maintgate_bypass="}};
    for (const auto& r : rows) {
        INFO("header '" << std::string(r.header) << "' cookie '" << std::string(r.cookie) << "'");
        request_view rv = req("POST", "/api/items");
        rv.bypass_header = r.header;
        rv.cookie = r.cookie;
        CHECK_FALSE(is_operator(g, rv));
        check_decision(decide(mode::read_only, g, rv), {verdict::refuse_write, true, false, -1});
    }
    // And the secret URL grants nothing.
    for (auto t : {"/.maintgate/bypass/", "/.maintgate/bypass/x", "/.maintgate/bypass"}) {
        INFO(t);
        check_decision(decide(mode::maintenance, g, req("GET", t)), {verdict::maintenance, false, false, -1});
    }
}

TEST_CASE("gate: the status endpoint", "[gate][status]") {
    struct row {
        std::string_view method;
        std::string_view target;
        bool status;
    };
    const row rows[] = {
        {"GET", "/.well-known/maintgate", true},           {"HEAD", "/.well-known/maintgate", true},
        {"GET", "/.well-known/maintgate?verbose=1", true}, {"GET", "/.well-known/maintgate?", true},
        {"POST", "/.well-known/maintgate", false},         {"PUT", "/.well-known/maintgate", false},
        {"OPTIONS", "/.well-known/maintgate", false},      {"get", "/.well-known/maintgate", false},
        {"GET", "/.well-known/maintgate/", false},         {"GET", "/.well-known/maintgatex", false},
        {"GET", "/.well-known/maintgate/x", false},        {"GET", "/.well-known", false},
        {"GET", "/.WELL-KNOWN/MAINTGATE", false},          {"GET", "/x/.well-known/maintgate", false},
    };
    for (mode m : all_modes) {
        for (const auto& r : rows) {
            INFO(to_string(m) << " " << std::string(r.method) << " " << std::string(r.target));
            const auto d = decide(m, config(), req(r.method, r.target));
            if (r.status) {
                check_decision(d, {verdict::status, false, false, -1});
            } else {
                CHECK(d.what != verdict::status);
            }
        }
    }
    // TRACE is denied before anything else.
    check_decision(decide(mode::open, config(), req("TRACE", "/.well-known/maintgate")),
                   {verdict::deny_method, false, false, -1});
    // No status path configured: nothing is the status endpoint.
    gate_config g = config();
    g.status_path.clear();
    CHECK(decide(mode::maintenance, g, req("GET", "/.well-known/maintgate")).what == verdict::maintenance);
    CHECK(decide(mode::maintenance, g, req("GET", "")).what == verdict::maintenance);
}

TEST_CASE("gate: the secret URL grants the bypass cookie", "[gate][bypass]") {
    struct row {
        std::string_view method;
        std::string_view target;
        bool grants;
    };
    const row rows[] = {
        {"GET", "/.maintgate/bypass/s3cret-operator-key", true},
        {"GET", "/.maintgate/bypass/s3cret-operator-key?next=/", true},
        {"HEAD", "/.maintgate/bypass/s3cret-operator-key", false},
        {"POST", "/.maintgate/bypass/s3cret-operator-key", false},
        {"get", "/.maintgate/bypass/s3cret-operator-key", false},
        {"GET", "/.maintgate/bypass/wrong", false},
        {"GET", "/.maintgate/bypass/s3cret-operator-ke", false},
        {"GET", "/.maintgate/bypass/s3cret-operator-keyX", false},
        {"GET", "/.maintgate/bypass/s3cret-operator-key/", false},
        {"GET", "/.maintgate/bypass//s3cret-operator-key", false},
        {"GET", "/.maintgate/bypassX/s3cret-operator-key", false},
        {"GET", "/.maintgate/bypass", false},
        {"GET", "/.maintgate/bypass/", false},
        {"GET", "/.maintgate/bypass?s3cret-operator-key", false},
        {"GET", "/x/.maintgate/bypass/s3cret-operator-key", false},
        {"GET", "/.maintgate/Bypass/s3cret-operator-key", false},
        {"GET", "/.maintgate/bypass/S3CRET-OPERATOR-KEY", false},
    };
    for (mode m : all_modes) {
        for (const auto& r : rows) {
            INFO(to_string(m) << " " << std::string(r.method) << " " << std::string(r.target));
            const auto d = decide(m, config(), req(r.method, r.target));
            if (r.grants) {
                check_decision(d, {verdict::grant_bypass, false, false, -1});
            } else {
                CHECK(d.what != verdict::grant_bypass);
                // Not an operator: the mode decides.
                if (m == mode::maintenance) CHECK(d.what == verdict::maintenance);
                if (m == mode::open) CHECK(d.what == verdict::forward);
            }
        }
    }
}

TEST_CASE("gate: stages map to modes and round-trip", "[gate][stage]") {
    struct row {
        stage s;
        std::string_view name;
        mode m;
    };
    const row rows[] = {
        {stage::maintenance, "maintenance", mode::maintenance},
        {stage::operators, "operators", mode::maintenance},
        {stage::read_only, "read-only", mode::read_only},
        {stage::writes, "writes", mode::open},
        {stage::open, "open", mode::open},
    };
    for (const auto& r : rows) {
        INFO(std::string(r.name));
        CHECK(to_string(r.s) == r.name);
        CHECK(parse_stage(r.name) == r.s);
        CHECK(mode_of(r.s) == r.m);
    }
    // set mode lands on the stage of the same name.
    for (mode m : all_modes) CHECK(to_string(stage_of(m)) == to_string(m));
    for (auto bad : {"", "Operators", "read_only", "write", " open"})
        CHECK_FALSE(parse_stage(bad).has_value());
}

TEST_CASE("gate: the writes stage forwards writes but still holds webhooks", "[gate][stage]") {
    const auto& g = config();
    const gate_view writes{mode::open, true, false};
    check_decision(decide(writes, g, req("POST", "/api/items")), {verdict::forward, true, false, -1});
    check_decision(decide(writes, g, req("POST", "/hooks/stripe")),
                   {verdict::refuse_write, true, false, r_hooks});
    check_decision(decide(writes, g, req("GET", "/hooks/stripe")),
                   {verdict::refuse_write, false, false, r_hooks});
    check_decision(decide(writes, g, req("GET", "/")), {verdict::forward, false, false, -1});
    // Fully open: the same webhook goes through.
    check_decision(decide(gate_view{mode::open, false, false}, g, req("POST", "/hooks/stripe")),
                   {verdict::forward, true, false, r_hooks});
}

TEST_CASE("gate: the write fence holds every write, exceptions and operators included", "[gate][fence]") {
    const auto& g = config();
    auto op = req("POST", "/api/items");
    op.peer = ip("192.0.2.9");  // in a bypass network
    struct row {
        const char* what;
        mode m;
        request_view r;
        expected fenced;
    };
    const row rows[] = {
        {"plain write, read-only",
         mode::read_only,
         req("POST", "/api/items"),
         {verdict::refuse_write, true, false, -1}},
        {"operator write, read-only", mode::read_only, op, {verdict::refuse_write, true, true, -1}},
        {"operator write, maintenance", mode::maintenance, op, {verdict::refuse_write, true, true, -1}},
        {"login exception, read-only",
         mode::read_only,
         req("POST", "/login"),
         {verdict::refuse_write, true, false, r_login}},
        {"allow rule write",
         mode::read_only,
         req("POST", "/healthz"),
         {verdict::refuse_write, true, false, r_healthz}},
        // A read rule declares the POST a read: it passes the fence.
        {"read rule POST",
         mode::read_only,
         req("POST", "/api/search"),
         {verdict::forward, false, false, r_search}},
        {"plain read", mode::read_only, req("GET", "/"), {verdict::forward, false, false, -1}},
        {"operator read, maintenance",
         mode::maintenance,
         [&] {
             auto r = req("GET", "/");
             r.peer = op.peer;
             return r;
         }(),
         {verdict::forward, false, true, -1}},
        // The fence never turns a page into a refusal or a refusal into a forward.
        {"write, maintenance",
         mode::maintenance,
         req("POST", "/api/items"),
         {verdict::maintenance, true, false, -1}},
        {"fenced even if open", mode::open, req("PUT", "/x"), {verdict::refuse_write, true, false, -1}},
    };
    for (const auto& r : rows) {
        INFO(r.what);
        check_decision(decide(gate_view{r.m, false, true}, g, r.r), r.fenced);
    }
}

TEST_CASE("gate: a method override naming a write makes the request a write", "[gate][override]") {
    const auto& g = config();
    auto with = [](request_view r, std::string_view o) {
        r.method_override = o;
        return r;
    };
    struct row {
        const char* what;
        request_view r;
        expected open, read_only;
    };
    const row rows[] = {
        {"GET overridden to DELETE",
         with(req("GET", "/items/1"), "DELETE"),
         {verdict::forward, true, false, -1},
         {verdict::refuse_write, true, false, -1}},
        {"GET overridden to an unknown method",
         with(req("GET", "/items/1"), "PURGE"),
         {verdict::forward, true, false, -1},
         {verdict::refuse_write, true, false, -1}},
        {"GET overridden to lower-case get",
         with(req("GET", "/items/1"), "get"),
         {verdict::forward, true, false, -1},
         {verdict::refuse_write, true, false, -1}},
        {"GET overridden to GET stays a read",
         with(req("GET", "/items/1"), "GET"),
         {verdict::forward, false, false, -1},
         {verdict::forward, false, false, -1}},
        {"POST overridden to GET stays a write",
         with(req("POST", "/items/1"), "GET"),
         {verdict::forward, true, false, -1},
         {verdict::refuse_write, true, false, -1}},
        // A rule matches only if it lists the override too.
        {"GET-only allow rule, overridden to DELETE",
         with(req("GET", "/ping"), "DELETE"),
         {verdict::forward, true, false, -1},
         {verdict::refuse_write, true, false, -1}},
        {"POST-only read rule, overridden to DELETE",
         with(req("POST", "/api/search"), "DELETE"),
         {verdict::forward, true, false, -1},
         {verdict::refuse_write, true, false, -1}},
        {"POST-only read rule, overridden to POST",
         with(req("POST", "/api/search"), "POST"),
         {verdict::forward, false, false, r_search},
         {verdict::forward, false, false, r_search}},
        {"any-method allow rule still allows",
         with(req("GET", "/healthz"), "DELETE"),
         {verdict::forward, true, false, r_healthz},
         {verdict::forward, true, false, r_healthz}},
    };
    for (const auto& r : rows) {
        INFO(r.what);
        check_decision(decide(mode::open, g, r.r), r.open);
        check_decision(decide(mode::read_only, g, r.r), r.read_only);
    }
}

TEST_CASE("gate: an upgrade is a write unless a read rule says otherwise", "[gate][upgrade]") {
    gate_config g = make_config();
    g.rules.push_back(make_rule(rule_action::read, "/live", "", {"GET"}));
    const int r_live = static_cast<int>(g.rules.size()) - 1;
    auto up = [](request_view r) {
        r.upgrade = true;
        return r;
    };
    check_decision(decide(mode::open, g, up(req("GET", "/chat"))), {verdict::forward, true, false, -1});
    check_decision(decide(mode::read_only, g, up(req("GET", "/chat"))),
                   {verdict::refuse_write, true, false, -1});
    check_decision(decide(mode::maintenance, g, up(req("GET", "/chat"))),
                   {verdict::maintenance, true, false, -1});
    // The same GET without Upgrade is a read.
    check_decision(decide(mode::read_only, g, req("GET", "/chat")), {verdict::forward, false, false, -1});
    // A channel declared read-only passes read-only mode and the fence.
    check_decision(decide(mode::read_only, g, up(req("GET", "/live"))),
                   {verdict::forward, false, false, r_live});
    check_decision(decide(gate_view{mode::read_only, false, true}, g, up(req("GET", "/live"))),
                   {verdict::forward, false, false, r_live});
    // Operators may open one in read-only mode, but not through the fence.
    auto op = up(req("GET", "/chat"));
    op.peer = ip("192.0.2.9");
    check_decision(decide(mode::read_only, g, op), {verdict::forward, true, true, -1});
    check_decision(decide(gate_view{mode::read_only, false, true}, g, op),
                   {verdict::refuse_write, true, true, -1});
}
