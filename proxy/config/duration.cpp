#include "proxy/config/duration.hpp"

#include <array>
#include <cstdint>
#include <limits>

namespace maintgate {

namespace {

struct duration_unit {
    std::string_view suffix;
    std::int64_t milliseconds;
};

// Largest first. Parsing demands this order and formatting emits it, so every
// duration has one canonical spelling and "30m1h" cannot hide a typo.
constexpr std::array<duration_unit, 5> units{{
    {"d", 86'400'000},
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
    {"ms", 1},
}};

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<duration> parse_duration(std::string_view text) noexcept {
    constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
    if (text.empty()) return std::nullopt;

    std::int64_t total = 0;
    std::size_t next_unit = 0;  // units before this index were used or are out of order
    std::size_t i = 0;
    while (i < text.size()) {
        // A sign, a space or a decimal point all land here: none is a digit.
        if (!is_digit(text[i])) return std::nullopt;
        std::int64_t number = 0;
        for (; i < text.size() && is_digit(text[i]); ++i) {
            const int digit = text[i] - '0';
            if (number > (max - digit) / 10) return std::nullopt;
            number = number * 10 + digit;
        }

        // The suffix is the whole run up to the next digit, so "ms" is never read as
        // "m" followed by a stray "s", and "5 s" or "5s " match no unit at all.
        std::size_t end = i;
        while (end < text.size() && !is_digit(text[end])) ++end;
        const std::string_view suffix = text.substr(i, end - i);
        i = end;

        std::size_t found = units.size();
        for (std::size_t u = next_unit; u < units.size(); ++u) {
            if (units[u].suffix == suffix) {
                found = u;
                break;
            }
        }
        if (found == units.size()) return std::nullopt;

        const std::int64_t scale = units[found].milliseconds;
        if (number > max / scale) return std::nullopt;
        const std::int64_t part = number * scale;
        if (part > max - total) return std::nullopt;
        total += part;
        next_unit = found + 1;
    }
    return duration{total};
}

std::string format_duration(duration d) {
    const std::int64_t count = d.count();
    if (count == 0) return "0s";

    std::string out;
    // Unsigned so that the most negative value still has a magnitude; a negative
    // duration is only ever printed in logs, never parsed back.
    std::uint64_t rest = static_cast<std::uint64_t>(count);
    if (count < 0) {
        out += '-';
        rest = 0 - rest;
    }
    for (const auto& unit : units) {
        const auto scale = static_cast<std::uint64_t>(unit.milliseconds);
        if (rest >= scale) {
            out += std::to_string(rest / scale);
            out += unit.suffix;
            rest %= scale;
        }
    }
    return out;
}

}  // namespace maintgate
