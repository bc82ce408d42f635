// [timeouts].
#include "proxy/config/config.hpp"

#include <catch2/catch.hpp>

#include "tests/proxy/config/config_test_support.hpp"

using namespace maintgate;
using namespace maintgate::config_test;

TEST_CASE("timeouts: every key is a duration greater than 0", "[config]") {
    const char* keys[] = {"header",      "body_idle",       "keepalive", "send",
                          "tunnel_idle", "expect_continue", "shutdown"};
    for (const std::string key : keys) {
        const std::string column = std::to_string(key.size() + 4);
        check_single_errors({
            {base + "[timeouts]\n" + key + " = \"0ms\"\n",
             "t.toml:6:" + column + ": timeouts." + key + ": must be greater than 0, got \"0ms\""},
            {base + "[timeouts]\n" + key + " = 30\n",
             "t.toml:6:" + column + ": timeouts." + key +
                 ": expected a duration such as \"5s\" or \"250ms\", got integer 30"},
            {base + "[timeouts]\n" + key + " = \"1.5s\"\n",
             "t.toml:6:" + column + ": timeouts." + key +
                 ": \"1.5s\" is not a duration; use whole numbers with units ms, s, m, h, d, largest first, such "
                 "as \"5s\", \"250ms\" or \"1h30m\""},
        });
    }
    check_single_errors({
        {"timeouts = 5\n" + base, "t.toml:1:12: timeouts: expected a table ([timeouts]), got integer 5"},
    });
}
