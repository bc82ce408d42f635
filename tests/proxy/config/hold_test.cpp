// [hold] and [auto_read_only].
#include "proxy/config/config.hpp"

#include <catch2/catch.hpp>

#include "tests/proxy/config/config_test_support.hpp"

using namespace maintgate;
using namespace maintgate::config_test;

TEST_CASE("hold: defaults, accepted values, and each mistake has its own message", "[config]") {
    const config none = load_ok(base);
    CHECK_FALSE(none.hold.enabled);
    CHECK(none.hold.max_wait.count() == 30'000);
    CHECK(none.hold.max_held == 1000);
    CHECK(none.hold.release_rate == 100.0);
    CHECK(none.hold.body_cap == 16 * 1024);

    const std::string hold = base + "[hold]\n";
    const config set = load_ok(hold +
                               "enabled = true\nmax_wait = \"10m\"\nmax_held = 1\nmax_bytes = 0\n"
                               "release_rate = 0.5\nbody_cap = 0\n");
    CHECK(set.hold.enabled);
    CHECK(set.hold.max_wait.count() == 600'000);
    CHECK(set.hold.max_held == 1);
    CHECK(set.hold.max_bytes == 0);
    CHECK(set.hold.release_rate == 0.5);
    CHECK(set.hold.body_cap == 0);
    CHECK(load_ok(hold + "release_rate = 7\n").hold.release_rate == 7.0);

    check_single_errors({
        {hold + "max_wait = \"11m\"\n", "t.toml:6:12: hold.max_wait: must be at most 10m, got \"11m\""},
        {hold + "max_wait = \"0s\"\n", "t.toml:6:12: hold.max_wait: must be greater than 0, got \"0s\""},
        {hold + "max_held = 0\n", "t.toml:6:12: hold.max_held: 0 is out of range (1-1000000)"},
        {hold + "body_cap = 65537\n", "t.toml:6:12: hold.body_cap: 65537 is out of range (0-65536)"},
        {hold + "release_rate = 0\n",
         "t.toml:6:16: hold.release_rate: must be between 0.1 and 1000000 writes per second, got integer 0"},
        {hold + "release_rate = \"fast\"\n",
         "t.toml:6:16: hold.release_rate: expected a number of writes per second such as 100, got string "
         "\"fast\""},
    });
}

TEST_CASE("auto_read_only: defaults, the probe table, and mistakes", "[config]") {
    const config none = load_ok(base);
    CHECK_FALSE(none.auto_read_only.enabled);
    CHECK(none.auto_read_only.header == "maintgate-write-state");
    CHECK_FALSE(none.auto_read_only.probe);

    const std::string a = base + "[auto_read_only]\n";
    const config set = load_ok(a +
                               "enabled = true\nheader = \"X-App-Writes\"\nerror_threshold = 1\n"
                               "min_writes = 3\nwindow = \"5s\"\nrecover_after = \"0s\"\nttl = \"1s\"\n"
                               "[auto_read_only.probe]\npath = \"/healthz\"\ninterval = \"2s\"\n");
    const auto& c = set.auto_read_only;
    CHECK(c.enabled);
    CHECK(c.header == "x-app-writes");
    CHECK(c.error_threshold == 1.0);
    CHECK(c.min_writes == 3);
    CHECK(c.window.count() == 5'000);
    CHECK(c.recover_after.count() == 0);
    CHECK(c.ttl.count() == 1'000);
    REQUIRE(c.probe);
    CHECK(c.probe->path == "/healthz");
    CHECK(c.probe->name == "GET /healthz");
    CHECK(c.probe_interval.count() == 2'000);

    check_single_errors({
        {a + "header = \"bad name\"\n", "t.toml:6:10: auto_read_only.header: \"bad name\" is not a header name"},
        {a + "error_threshold = 0\n",
         "t.toml:6:19: auto_read_only.error_threshold: must be greater than 0 and at most 1 (a share: 0.5 is "
         "50%), got integer 0"},
        {a + "min_writes = 0\n", "t.toml:6:14: auto_read_only.min_writes: 0 is out of range (1-1000000000)"},
        {a + "[auto_read_only.probe]\nmethod = \"GET\"\n",
         "t.toml:6:1: missing required key \"path\" in [auto_read_only.probe]"},
    });
}
