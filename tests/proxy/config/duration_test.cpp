#include "proxy/config/duration.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

using maintgate::duration;
using maintgate::format_duration;
using maintgate::parse_duration;

namespace {

constexpr std::int64_t second = 1'000;
constexpr std::int64_t minute = 60 * second;
constexpr std::int64_t hour = 60 * minute;
constexpr std::int64_t day = 24 * hour;
constexpr std::int64_t max_ms = std::numeric_limits<std::int64_t>::max();

struct good_case {
    const char* text;
    std::int64_t milliseconds;
};

}  // namespace

TEST_CASE("parse_duration accepts whole numbers with units, largest first", "[duration]") {
    const good_case cases[] = {
        {"0s", 0},
        {"0ms", 0},
        {"1ms", 1},
        {"250ms", 250},
        {"5s", 5 * second},
        {"10m", 10 * minute},
        {"1h", hour},
        {"2d", 2 * day},
        {"1h30m", hour + 30 * minute},
        {"1m30s", 90 * second},
        {"1s500ms", 1'500},
        {"1d2h3m4s5ms", day + 2 * hour + 3 * minute + 4 * second + 5},
        {"1d5ms", day + 5},
        {"90s", 90 * second},
        {"1500ms", 1'500},
        {"007s", 7 * second},
        {"9223372036854775807ms", max_ms},
        {"106751991167d", 106'751'991'167 * day},
    };
    for (const auto& c : cases) {
        INFO("input: \"" << c.text << "\"");
        const auto parsed = parse_duration(c.text);
        REQUIRE(parsed.has_value());
        CHECK(parsed->count() == c.milliseconds);
    }
}

TEST_CASE("parse_duration rejects everything else", "[duration]") {
    const char* cases[] = {
        "",  // empty
        "5",  // no unit
        "0",  // no unit, even for zero
        "5x",  // unknown unit
        "5S",  // units are lower case
        "5sec",  // only the short units
        "5us",  // no sub-millisecond unit
        "-5s",  // no sign
        "+5s",  // no sign
        " 5s",  // no leading space
        "5s ",  // no trailing space
        "5 s",  // no space before the unit
        "1h 30m",  // no space between parts
        "1.5s",  // whole numbers only
        ".5s",  // whole numbers only
        "s",  // a unit needs a number
        "ms",  // a unit needs a number
        "1h30",  // every number needs a unit
        "30m1h",  // decreasing order
        "1s1m",  // decreasing order
        "1m1m",  // each unit at most once
        "1ms1s",  // "ms" is the smallest unit
        "1ms1ms",  // each unit at most once
        "1hm",  // a unit needs a number
        "9223372036854775808ms",  // one past the largest count
        "99999999999999999999s",  // the number itself overflows
        "106751991168d",  // the product overflows
        "106751991167d1d",  // a repeated unit, and too large anyway
        "106751991167d23h59m59s",  // the sum overflows
    };
    for (const char* text : cases) {
        INFO("input: \"" << text << "\"");
        CHECK_FALSE(parse_duration(text).has_value());
    }
}

TEST_CASE("parse_duration does not stop at an embedded NUL", "[duration]") {
    using namespace std::string_view_literals;
    CHECK_FALSE(parse_duration("5s\0"sv).has_value());
    CHECK_FALSE(parse_duration("5\0s"sv).has_value());
}

TEST_CASE("format_duration gives the canonical form", "[duration]") {
    struct format_case {
        std::int64_t milliseconds;
        const char* text;
    };
    const format_case cases[] = {
        {0, "0s"},
        {1, "1ms"},
        {250, "250ms"},
        {999, "999ms"},
        {1'000, "1s"},
        {1'500, "1s500ms"},
        {90'000, "1m30s"},
        {60'000, "1m"},
        {3'600'000, "1h"},
        {5'400'000, "1h30m"},
        {86'400'000, "1d"},
        {90'061'001, "1d1h1m1s1ms"},
        {86'400'001, "1d1ms"},
        {max_ms, "106751991167d7h12m55s807ms"},
        {-1'500, "-1s500ms"},
        {std::numeric_limits<std::int64_t>::min(), "-106751991167d7h12m55s808ms"},
    };
    for (const auto& c : cases) {
        INFO("milliseconds: " << c.milliseconds);
        CHECK(format_duration(duration{c.milliseconds}) == c.text);
    }
}

TEST_CASE("format_duration round-trips through parse_duration", "[duration]") {
    const std::int64_t values[] = {
        0,         1,         7,          999,        1'000,      1'001,           59'999,     60'000, 61'001,
        3'599'999, 3'600'000, 86'399'999, 86'400'000, 90'061'001, 123'456'789'012, max_ms - 1, max_ms,
    };
    for (const auto ms : values) {
        INFO("milliseconds: " << ms);
        const std::string text = format_duration(duration{ms});
        const auto parsed = parse_duration(text);
        REQUIRE(parsed.has_value());
        CHECK(parsed->count() == ms);
    }

    // And the other way: a canonical spelling formats back to itself.
    const char* canonical[] = {"0s", "1ms", "5s", "10m", "1h30m", "2d", "1d2h3m4s5ms"};
    for (const char* text : canonical) {
        INFO("input: \"" << text << "\"");
        const auto parsed = parse_duration(text);
        REQUIRE(parsed.has_value());
        CHECK(format_duration(*parsed) == text);
    }
}
