// [forwarding].
#include "proxy/config/config.hpp"

#include <catch2/catch.hpp>

#include "tests/proxy/config/config_test_support.hpp"

using namespace maintgate;
using namespace maintgate::config_test;

TEST_CASE("forwarding: trusted proxies and via", "[config]") {
    const std::string forwarding = base + "[forwarding]\n";
    // The CIDR parser owns its wording; the config adds the key path and position.
    const std::string cidr_error = policy::parse_cidr("10.0.0.1/8").error;
    REQUIRE_FALSE(cidr_error.empty());
    check_single_errors({
        {forwarding + "trusted_proxies = [\"10.0.0.0/8\", \"10.0.0.1/8\"]\n",
         "t.toml:6:34: forwarding.trusted_proxies[1]: " + cidr_error},
        {forwarding + "trusted_proxies = [\n  \"10.0.0.0/8\",\n  \"10.0.0.1/8\",\n]\n",
         "t.toml:8:3: forwarding.trusted_proxies[1]: " + cidr_error},
        {forwarding + "trusted_proxies = [5]\n",
         "t.toml:6:20: forwarding.trusted_proxies[0]: expected a string such as \"10.0.0.0/8\", got integer 5"},
        {forwarding + "trusted_proxies = \"10.0.0.0/8\"\n",
         "t.toml:6:19: forwarding.trusted_proxies: expected an array of strings such as [\"10.0.0.0/8\"], got string "
         "\"10.0.0.0/8\""},
        {forwarding + "via = \"yes\"\n",
         "t.toml:6:7: forwarding.via: expected true or false, got string \"yes\""},
        {forwarding + "via = 1\n", "t.toml:6:7: forwarding.via: expected true or false, got integer 1"},
    });
}

TEST_CASE("forwarding.underscores_in_headers: each value, and each mistake", "[config]") {
    const std::string forwarding = base + "[forwarding]\n";
    const struct {
        const char* text;
        underscores_policy expected;
    } accepted[] = {
        {"drop", underscores_policy::drop},
        {"reject", underscores_policy::reject},
        {"forward", underscores_policy::forward},
    };
    for (const auto& a : accepted) {
        INFO("value: " << a.text);
        const config cfg = load_ok(forwarding + "underscores_in_headers = \"" + a.text + "\"\n");
        CHECK(cfg.forwarding.underscores_in_headers == a.expected);
    }
    // Left out, the safe choice: nginx's default, and what CGI-style apps need.
    CHECK(load_ok(forwarding + "via = true\n").forwarding.underscores_in_headers == underscores_policy::drop);

    const std::string choices = "\"drop\", \"reject\" or \"forward\"";
    check_single_errors({
        // nginx's own spelling of the setting is a boolean; neither it nor a near miss
        // is guessed at.
        {forwarding + "underscores_in_headers = \"on\"\n",
         "t.toml:6:26: forwarding.underscores_in_headers: \"on\" is not one of " + choices},
        {forwarding + "underscores_in_headers = \"Drop\"\n",
         "t.toml:6:26: forwarding.underscores_in_headers: \"Drop\" is not one of " + choices},
        {forwarding + "underscores_in_headers = \"\"\n",
         "t.toml:6:26: forwarding.underscores_in_headers: \"\" is not one of " + choices},
        {forwarding + "underscores_in_headers = true\n",
         "t.toml:6:26: forwarding.underscores_in_headers: expected one of " + choices + ", got boolean true"},
        {forwarding + "via = false\nunderscores_in_headers = [\"drop\"]\n",
         "t.toml:7:26: forwarding.underscores_in_headers: expected one of " + choices + ", got array"},
        // A typo of the key gets a suggestion rather than silently keeping the default.
        {forwarding + "underscore_in_headers = \"forward\"\n",
         "t.toml:6:1: unknown key \"underscore_in_headers\" in [forwarding]; did you mean "
         "\"underscores_in_headers\"?"},
        // It belongs to [forwarding], not [limits].
        {base + "[limits]\nunderscores_in_headers = \"drop\"\n",
         "t.toml:6:1: unknown key \"underscores_in_headers\" in [limits]"},
    });
}
