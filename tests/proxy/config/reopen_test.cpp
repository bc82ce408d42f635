// [reopen].
#include "proxy/config/config.hpp"

#include <catch2/catch.hpp>

#include "tests/proxy/config/config_test_support.hpp"

using namespace maintgate;
using namespace maintgate::config_test;

TEST_CASE("reopen: the values that are accepted, and each mistake has its own message", "[config]") {
    const std::string reopen = base + "[reopen]\n";
    const config off =
        load_ok(reopen + "watch = \"0s\"\nmax_error_rate = 1\nmin_requests = 1\nfreeze_timeout = \"1ms\"\n");
    CHECK(off.reopen.watch.count() == 0);
    CHECK(off.reopen.max_error_rate == 1.0);
    CHECK(off.reopen.min_requests == 1);
    CHECK(off.reopen.freeze_timeout.count() == 1);
    CHECK(load_ok(reopen + "max_error_rate = 0.001\n").reopen.max_error_rate == 0.001);

    const std::string range = "must be greater than 0 and at most 1 (a share: 0.05 is 5%), got ";
    check_single_errors({
        {reopen + "watch = \"5\"\n",
         "t.toml:6:9: reopen.watch: \"5\" has no unit; write \"5s\" for seconds or \"5ms\" for milliseconds"},
        {reopen + "watch = 300\n",
         "t.toml:6:9: reopen.watch: expected a duration such as \"5s\" or \"250ms\", got integer 300"},
        {reopen + "max_error_rate = 0\n", "t.toml:6:18: reopen.max_error_rate: " + range + "integer 0"},
        {reopen + "max_error_rate = 0.0\n", "t.toml:6:18: reopen.max_error_rate: " + range + "float 0.0"},
        {reopen + "max_error_rate = -0.5\n", "t.toml:6:18: reopen.max_error_rate: " + range + "float -0.5"},
        {reopen + "max_error_rate = 1.5\n", "t.toml:6:18: reopen.max_error_rate: " + range + "float 1.5"},
        {reopen + "max_error_rate = 5\n", "t.toml:6:18: reopen.max_error_rate: " + range + "integer 5"},
        {reopen + "max_error_rate = nan\n", "t.toml:6:18: reopen.max_error_rate: " + range + "float nan"},
        {reopen + "max_error_rate = \"5%\"\n",
         "t.toml:6:18: reopen.max_error_rate: expected a number such as 0.05 (5%), got string \"5%\""},
        {reopen + "min_requests = 0\n", "t.toml:6:16: reopen.min_requests: 0 is out of range (1-1000000000)"},
        {reopen + "min_requests = 1.5\n",
         "t.toml:6:16: reopen.min_requests: expected an integer, got float 1.5"},
        {reopen + "freeze_timeout = \"0s\"\n",
         "t.toml:6:18: reopen.freeze_timeout: must be greater than 0, got \"0s\""},
        {reopen + "freeze_timeout = \"1h1ms\"\n",
         "t.toml:6:18: reopen.freeze_timeout: must be at most 1h, got \"1h1ms\""},
        {"reopen = true\n" + base, "t.toml:1:10: reopen: expected a table ([reopen]), got boolean true"},
    });
}
