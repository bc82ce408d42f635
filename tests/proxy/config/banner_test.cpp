// [banner], and banner = false on [[rule]].
#include "proxy/config/config.hpp"

#include <catch2/catch.hpp>

#include "proxy/http/banner.hpp"
#include "tests/proxy/config/config_test_support.hpp"

using namespace maintgate;
using namespace maintgate::config_test;

TEST_CASE("banner: defaults, and the built-in assets loaded with the pages", "[config]") {
    const config cfg = load_ok(base);
    CHECK(cfg.banner.enabled);
    CHECK(cfg.banner.exclude_prefixes.empty());
    CHECK(cfg.banner.route_off.rules.empty());
    CHECK(cfg.banner.css == builtin_banner_css());
    CHECK(cfg.banner.js == builtin_banner_js());
}

TEST_CASE("banner: enabled and exclude_prefixes", "[config]") {
    const config cfg = load_ok(base + "[banner]\nenabled = false\nexclude_prefixes = [\"/embed/\", \"/kiosk\"]\n");
    CHECK_FALSE(cfg.banner.enabled);
    CHECK(cfg.banner.exclude_prefixes == std::vector<std::string>{"/embed/", "/kiosk"});
}

TEST_CASE("banner: each mistake, with its position", "[config]") {
    const std::string banner = base + "[banner]\n";
    check_single_errors({
        {banner + "enabled = \"yes\"\n", "t.toml:6:11: banner.enabled: expected true or false, got string \"yes\""},
        {banner + "exclude_prefixes = \"/embed/\"\n",
         "t.toml:6:20: banner.exclude_prefixes: expected an array of paths such as [\"/embed/\"], got string "
         "\"/embed/\""},
        {banner + "exclude_prefixes = [\"/a\", 5]\n",
         "t.toml:6:27: banner.exclude_prefixes[1]: expected a path such as \"/embed/\", got integer 5"},
        {banner + "exclude_prefixes = [\"embed/\"]\n",
         "t.toml:6:21: banner.exclude_prefixes[0]: \"embed/\" must start with \"/\""},
        {banner + "enabeld = true\n", "t.toml:6:1: unknown key \"enabeld\" in [banner]; did you mean \"enabled\"?"},
        {base + "[[rule]]\npath = \"/x\"\naction = \"allow\"\nbanner = \"no\"\nreason = \"r\"\n",
         "t.toml:8:10: rule[0].banner: expected true or false, got string \"no\""},
    });
}

TEST_CASE("banner: a rule with banner = false opts its routes out; without an action the gate never sees it",
          "[config]") {
    const config cfg = load_ok(base +
                               "[[rule]]\npath_prefix = \"/embed\"\nbanner = false\nreason = \"widgets stay as they are\"\n"
                               "[[rule]]\npath = \"/healthz\"\naction = \"allow\"\nbanner = false\nreason = \"probes\"\n"
                               "[[rule]]\npath = \"/login\"\naction = \"allow-writes-in-read-only\"\nreason = \"login\"\n");
    REQUIRE(cfg.banner.route_off.rules.size() == 2);
    CHECK(cfg.banner.route_off.rules[0].path_prefix == "/embed");
    CHECK(cfg.banner.route_off.rules[1].path == "/healthz");
    REQUIRE(cfg.gate.policy.rules.size() == 2);
    CHECK(cfg.gate.policy.rules[0].path == "/healthz");
    CHECK(cfg.gate.policy.rules[1].path == "/login");
    // banner = true is no exception: the action is required as before.
    const auto r = load(base + "[[rule]]\npath = \"/x\"\nbanner = true\nreason = \"r\"\n");
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].to_string().find("\"action\" is required") != std::string::npos);
}
