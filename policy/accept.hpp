#pragma once
// Which body a gate reply carries, chosen from the client's Accept field. Pure and
// allocation-free.
#include <cstdint>
#include <string_view>

namespace maintgate::policy {

enum class body_format : std::uint8_t { html, json, text };

// The best of text/html, application/json and text/plain for this Accept value, by
// q-value; at equal q a type named outright beats one allowed only by a wildcard
// (axios's "application/json, text/plain, */*" gets JSON), then html, json, text in that
// order (a bare "*/*" gets the page). "application/*+json" counts as JSON. A missing or empty Accept gives html; an
// Accept that rules all three out (q=0 or only other types) gives text, the smallest.
body_format choose_format(std::string_view accept) noexcept;

}  // namespace maintgate::policy
