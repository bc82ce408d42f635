// [limits]: ranges, sizes and the max_uri_size / max_header_size rule.
#include "proxy/config/config.hpp"

#include <catch2/catch.hpp>

#include "tests/proxy/config/config_test_support.hpp"

using namespace maintgate;
using namespace maintgate::config_test;

TEST_CASE("body sizes that are accepted", "[config]") {
    struct size_case {
        const char* toml_value;
        std::uint64_t bytes;
    };
    const size_case cases[] = {
        {"0", 0},
        {"1048576", 1'048'576},
        {"\"0\"", 0},
        {"\"512\"", 512},
        {"\"512B\"", 512},
        {"\"64k\"", 65'536},
        {"\"64K\"", 65'536},
        {"\"64kB\"", 65'536},
        {"\"64KiB\"", 65'536},
        {"\"10M\"", 10'485'760},
        {"\"10MB\"", 10'485'760},
        {"\"10MiB\"", 10'485'760},
        {"\"2G\"", 2'147'483'648},
        {"\"1T\"", 1'099'511'627'776},
        {"\"16777215T\"", 18'446'742'974'197'923'840u},
    };
    for (const auto& c : cases) {
        const config cfg = load_ok(base + "[limits]\nmax_body_size = " + c.toml_value + "\n");
        CHECK(cfg.limits.max_body_size == c.bytes);
    }
}

TEST_CASE("limits: ranges, the cross-field rule and sizes", "[config]") {
    const std::string limits = base + "[limits]\n";
    check_single_errors({
        {limits + "max_connections = 0\n",
         "t.toml:6:19: limits.max_connections: 0 is out of range (1-1000000)"},
        {limits + "max_connections = 1000001\n",
         "t.toml:6:19: limits.max_connections: 1000001 is out of range (1-1000000)"},
        {limits + "max_header_size = 1023\n",
         "t.toml:6:19: limits.max_header_size: 1023 is out of range (1024-1048576)"},
        {limits + "max_header_size = 1048577\n",
         "t.toml:6:19: limits.max_header_size: 1048577 is out of range (1024-1048576)"},
        {limits + "max_headers = 0\n", "t.toml:6:15: limits.max_headers: 0 is out of range (1-10000)"},
        {limits + "max_headers = 10001\n",
         "t.toml:6:15: limits.max_headers: 10001 is out of range (1-10000)"},
        {limits + "max_headers = 1.5\n",
         "t.toml:6:15: limits.max_headers: expected an integer, got float 1.5"},
        {limits + "max_uri_size = 15\n", "t.toml:6:16: limits.max_uri_size: 15 is out of range (16-16384)"},
        {limits + "max_header_size = 4096\nmax_uri_size = 8\n",
         "t.toml:7:16: limits.max_uri_size: 8 is out of range (16-4096)"},
        // The cross-field rule, against the default and against a configured head size.
        {limits + "max_uri_size = 16385\n",
         "t.toml:6:16: limits.max_uri_size: 16385 is larger than limits.max_header_size (16384, the default); the "
         "request-target must fit in the request head"},
        {limits + "max_uri_size = 8192\nmax_header_size = 4096\n",
         "t.toml:6:16: limits.max_uri_size: 8192 is larger than limits.max_header_size (4096); the request-target "
         "must fit in the request head"},
        // One mistake, one error: a bad max_header_size does not also fail max_uri_size.
        {limits + "max_header_size = 100\nmax_uri_size = 8192\n",
         "t.toml:6:19: limits.max_header_size: 100 is out of range (1024-1048576)"},
    });

    // Two mistakes, two errors; the URI is then held to the absolute ceiling.
    const auto result = load(limits + "max_header_size = 100\nmax_uri_size = 2000000\n");
    CHECK(messages(result) == std::vector<std::string>{
                                  "t.toml:6:19: limits.max_header_size: 100 is out of range (1024-1048576)",
                                  "t.toml:7:16: limits.max_uri_size: 2000000 is out of range (16-1048576)",
                              });
}

TEST_CASE("limits.max_body_size: what is not a size", "[config]") {
    const std::string limits = base + "[limits]\n";
    const std::string usage =
        "is not a size; use a whole number of bytes, or a string with a unit k, M, G or T, such as \"64k\" or "
        "\"10M\"";
    const char* malformed[] = {"",      "10 M", "10m",  "10g",  "1.5M", "M",   "-1",
                               "10MB ", " 10M", "10iB", "10Mi", "10kk", "0x10"};
    for (const std::string text : malformed) {
        check_single_errors({
            {limits + "max_body_size = \"" + text + "\"\n",
             "t.toml:6:17: limits.max_body_size: \"" + text + "\" " + usage},
        });
    }
    check_single_errors({
        {limits + "max_body_size = \"16777216T\"\n",
         "t.toml:6:17: limits.max_body_size: \"16777216T\" is too large"},
        {limits + "max_body_size = \"99999999999999999999\"\n",
         "t.toml:6:17: limits.max_body_size: \"99999999999999999999\" is too large"},
        {limits + "max_body_size = -1\n",
         "t.toml:6:17: limits.max_body_size: -1 is negative; use 0 for no limit, or a size in bytes"},
        {limits + "max_body_size = true\n",
         "t.toml:6:17: limits.max_body_size: expected a size such as 1048576 or \"10M\", got boolean true"},
    });
}
