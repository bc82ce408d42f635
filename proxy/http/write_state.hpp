#pragma once
// The app's word on writes ([auto_read_only] header): "read-only" or "read-only; ttl=30"
// asks the gate to go read-only for ttl seconds (the configured ttl when none is given).
// Pure and allocation-free: the worker parses the field it strips from a response.
#include <cstdint>
#include <optional>
#include <string_view>

#include "policy/ascii.hpp"

namespace maintgate::proxy {

// The ttl in seconds the value asks for (0: the configured default), or nothing when it
// does not ask for read-only (any other value, such as "read-write", is ignored). The
// ttl is capped at a day; a malformed ttl counts as none given.
constexpr std::optional<std::int64_t> parse_write_state(std::string_view v) noexcept {
    v = policy::trim_ows(v);
    const auto semi = v.find(';');
    if (!policy::iequals(policy::trim_ows(v.substr(0, semi)), "read-only")) return std::nullopt;
    if (semi == std::string_view::npos) return 0;
    std::string_view rest = v.substr(semi + 1);
    while (!rest.empty()) {
        const auto next = rest.find(';');
        std::string_view param = policy::trim_ows(rest.substr(0, next));
        rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next + 1);
        if (param.size() < 5 || !policy::iequals(param.substr(0, 4), "ttl=")) continue;
        std::int64_t n = 0;
        for (const char c : param.substr(4)) {
            if (c < '0' || c > '9') return 0;
            n = n * 10 + (c - '0');
            if (n > 86'400) return 86'400;
        }
        return n;
    }
    return 0;
}

}  // namespace maintgate::proxy
