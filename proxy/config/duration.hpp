#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace maintgate {

using duration = std::chrono::milliseconds;

// Parses "250ms", "5s", "10m", "1h", "2d" and sums like "1h30m". Whole numbers
// only; no sign, no spaces. Returns nullopt on anything else or on overflow.
std::optional<duration> parse_duration(std::string_view text) noexcept;

// The shortest exact form: 90000ms -> "1m30s", 250ms -> "250ms", 0 -> "0s".
std::string format_duration(duration d);

}  // namespace maintgate
