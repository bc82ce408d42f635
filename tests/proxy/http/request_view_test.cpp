#include "proxy/http/request_view.hpp"

#include <catch2/catch.hpp>

#include "tests/proxy/http/make_request.hpp"

#include <string>
#include <utility>
#include <vector>

using namespace maintgate;
using namespace maintgate::proxy;

namespace {

using test::field_list;
using test::make_request;

// One request head and the facts beside it, and what the gate must be shown.
struct row {
    const char* name;
    const char* method;
    const char* target;
    field_list fields;
    policy::mode mode = policy::mode::open;
    underscores_policy underscores = underscores_policy::drop;
    std::size_t underscore_fields = 0;
    bool has_rules = false;
    std::string_view bypass_header_name = "x-maintgate-bypass";
    // Expected.
    std::string_view host = "app.test";
    std::string_view method_override = {};
    std::string_view bypass_header = {};
    std::string_view cookie = {};
    std::int64_t now = 0;
    bool upgrade = false;
    unsigned version = 11;
};

constexpr std::int64_t clock_now = 1'700'000'000;

}  // namespace

TEST_CASE("make_request_view shows the gate what each request carries, and only what can matter",
          "[request_view]") {
    using M = policy::mode;
    using U = underscores_policy;
    const std::vector<row> rows = {
        {.name = "a plain read: method, target and Host, nothing looked up beyond them",
         .method = "GET",
         .target = "/a?b=1",
         .fields = {{"Host", "app.test"}}},
        {.name = "X-HTTP-Method-Override on a read is the override",
         .method = "GET",
         .target = "/",
         .fields = {{"Host", "app.test"}, {"X-HTTP-Method-Override", "DELETE"}},
         .method_override = "DELETE"},
        {.name = "X-HTTP-Method on a read is the override",
         .method = "GET",
         .target = "/",
         .fields = {{"Host", "app.test"}, {"X-HTTP-Method", "PUT"}},
         .method_override = "PUT"},
        {.name = "X-Method-Override on a read is the override",
         .method = "GET",
         .target = "/",
         .fields = {{"Host", "app.test"}, {"X-Method-Override", "PATCH"}},
         .method_override = "PATCH"},
        {.name = "with several override fields, the first in lookup order wins",
         .method = "GET",
         .target = "/",
         .fields = {{"Host", "app.test"},
                    {"X-Method-Override", "PATCH"},
                    {"X-HTTP-Method", "PUT"},
                    {"X-HTTP-Method-Override", "DELETE"}},
         .method_override = "DELETE"},
        {.name = "with one override name twice, its first field wins, whatever the name's case",
         .method = "GET",
         .target = "/",
         .fields = {{"Host", "app.test"},
                    {"x-http-method", "PUT"},
                    {"X-HTTP-Method", "GET"},
                    {"X-HTTP-METHOD", "PATCH"}},
         .method_override = "PUT"},
        {.name = "a write with no rules: an override cannot change anything, so it is not looked up",
         .method = "POST",
         .target = "/",
         .fields = {{"Host", "app.test"}, {"X-HTTP-Method-Override", "GET"}}},
        {.name = "a write with rules: its override may keep it from matching a rule, so it counts",
         .method = "POST",
         .target = "/",
         .fields = {{"Host", "app.test"}, {"X-HTTP-Method-Override", "GET"}},
         .has_rules = true,
         .method_override = "GET"},
        {.name =
             "underscores forwarded: X_HTTP_Method_Override reaches the app as the override, so it counts",
         .method = "GET",
         .target = "/",
         .fields = {{"Host", "app.test"}, {"X_HTTP_Method_Override", "DELETE"}},
         .underscores = U::forward,
         .underscore_fields = 1,
         .method_override = "DELETE"},
        {.name = "underscores forwarded: x_method_override counts, whatever its case",
         .method = "GET",
         .target = "/",
         .fields = {{"Host", "app.test"}, {"x_method_override", "PUT"}},
         .underscores = U::forward,
         .underscore_fields = 1,
         .method_override = "PUT"},
        {.name =
             "underscores forwarded: a write in the underscore spelling wins over a read in the dashed one",
         .method = "GET",
         .target = "/",
         .fields = {{"Host", "app.test"}, {"X-HTTP-Method-Override", "GET"}, {"X_HTTP_Method", "DELETE"}},
         .underscores = U::forward,
         .underscore_fields = 1,
         .method_override = "DELETE"},
        {.name = "underscores forwarded: a read in the underscore spelling does not undo a dashed write",
         .method = "GET",
         .target = "/",
         .fields = {{"Host", "app.test"}, {"X-HTTP-Method-Override", "DELETE"}, {"X_HTTP_Method", "GET"}},
         .underscores = U::forward,
         .underscore_fields = 1,
         .method_override = "DELETE"},
        {.name = "underscores dropped: the session erased such fields first, and none is looked up here",
         .method = "GET",
         .target = "/",
         .fields = {{"Host", "app.test"}, {"X_HTTP_Method_Override", "DELETE"}},
         .underscores = U::drop,
         .underscore_fields = 1},
        {.name = "underscores rejected: such a request never reaches the gate, and none is looked up here",
         .method = "GET",
         .target = "/",
         .fields = {{"Host", "app.test"}, {"X_HTTP_Method_Override", "DELETE"}},
         .underscores = U::reject,
         .underscore_fields = 1},
        {.name = "open mode: the bypass header, the cookie and the clock are not read",
         .method = "GET",
         .target = "/",
         .fields = {{"Host", "app.test"},
                    {"X-Maintgate-Bypass", "s3cret"},
                    {"Cookie", "maintgate_bypass=v"}}},
        {.name = "maintenance: the bypass header, the cookie and the clock are read",
         .method = "GET",
         .target = "/",
         .fields = {{"Host", "app.test"}, {"X-Maintgate-Bypass", "s3cret"}, {"Cookie", "maintgate_bypass=v"}},
         .mode = M::maintenance,
         .bypass_header = "s3cret",
         .cookie = "maintgate_bypass=v",
         .now = clock_now},
        {.name = "read-only: the bypass header is read too",
         .method = "POST",
         .target = "/",
         .fields = {{"Host", "app.test"}, {"X-Maintgate-Bypass", "s3cret"}},
         .mode = M::read_only,
         .bypass_header = "s3cret",
         .now = clock_now},
        {.name = "the bypass header is the configured one, not the default name",
         .method = "GET",
         .target = "/",
         .fields = {{"Host", "app.test"}, {"X-Maintgate-Bypass", "wrong"}, {"X-Ops-Key", "right"}},
         .mode = M::maintenance,
         .bypass_header_name = "x-ops-key",
         .bypass_header = "right",
         .now = clock_now},
        {.name = "HTTP/1.0 absolute-form without Host: the target's authority is the host",
         .method = "GET",
         .target = "http://other.test:8080/x",
         .fields = {},
         .host = "other.test:8080",
         .version = 10},
        {.name = "a WebSocket upgrade is marked as one",
         .method = "GET",
         .target = "/ws",
         .fields = {{"Host", "app.test"}, {"Connection", "Upgrade"}, {"Upgrade", "websocket"}},
         .upgrade = true},
        {.name = "an h2c upgrade is not tunnelled, so it is not an upgrade",
         .method = "GET",
         .target = "/",
         .fields = {{"Host", "app.test"}, {"Connection", "Upgrade, HTTP2-Settings"}, {"Upgrade", "h2c"}}},
    };
    const auto peer = *policy::parse_ip("192.0.2.7");
    for (const auto& r : rows) {
        SECTION(r.name) {
            const auto req = make_request(r.method, r.target, r.version, r.fields);
            view_facts f;
            f.peer = peer;
            f.mode = r.mode;
            f.now = r.mode == policy::mode::open ? 0 : clock_now;
            f.underscores = r.underscores;
            f.underscore_fields = r.underscore_fields;
            f.bypass_header = r.bypass_header_name;
            f.has_rules = r.has_rules;
            const policy::request_view v = make_request_view(req, f);
            CHECK(v.method == r.method);
            CHECK(v.target == r.target);
            CHECK(v.host == r.host);
            CHECK(v.method_override == r.method_override);
            CHECK(v.bypass_header == r.bypass_header);
            CHECK(v.cookie == r.cookie);
            CHECK(v.now == r.now);
            CHECK(v.upgrade == r.upgrade);
            CHECK(v.peer == peer);
        }
    }
}

TEST_CASE("make_request_view's views point into the request head, not into copies", "[request_view]") {
    const auto req = make_request("GET", "/x", 11, {{"Host", "app.test"}, {"X-HTTP-Method", "PUT"}});
    const auto v = make_request_view(req, view_facts{});
    CHECK(v.target.data() == req.target().data());
    CHECK(v.method_override.data() == req.find("X-HTTP-Method")->value().data());
}
