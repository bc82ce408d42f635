#pragma once
// Maintenance and read-only page templates: validated when the config loads, rendered
// when the gate's state changes, never per request.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace maintgate {

// Values substituted into a template. Text values are HTML-escaped on the way in.
struct page_values {
    std::string_view mode;  // "maintenance" or "read-only"
    std::string_view reason;  // may be empty
    std::string_view until;  // human form ("2026-11-22 03:00 UTC"), may be empty
    std::string_view until_iso;  // ISO 8601, may be empty
    std::int64_t retry_after = 0;  // seconds
    std::int64_t refresh = 0;  // seconds until the page reloads itself
    std::string_view until_in;  // "in 45 min" at render time, may be empty
    std::string_view status_path;  // the public status endpoint ("/.well-known/maintgate")
};

// "in 45 min", "in 2 h 5 min", "in under a minute": how far the expected end is, as the
// pages say it (the page's script keeps it current in the visitor's browser).
std::string until_in_words(std::int64_t seconds);

struct template_error {
    std::uint32_t line = 0;  // 1-based
    std::uint32_t column = 0;  // 1-based
    std::string message;
};

// Placeholders: {{mode}} {{reason}} {{until}} {{until_iso}} {{until_in}} {{retry_after}}
// {{refresh}} {{status_path}}, and the blocks {{#reason}}...{{/reason}} and
// {{#until}}...{{/until}}, kept only when the value is non-empty, and their inverses
// {{^reason}}...{{/reason}} and {{^until}}...{{/until}}, kept only when it is empty
// (no nesting). Returns the first problem: an unknown or
// unterminated placeholder, an unclosed, stray or nested block.
std::optional<template_error> validate_template(std::string_view text);

// Renders a template that validate_template accepted.
std::string render_template(std::string_view text, const page_values& v);

// Escapes & < > " ' for HTML text and attribute values.
std::string html_escape(std::string_view text);

// The built-in templates, compiled into the binary from maintenance_pages/.
std::string_view builtin_maintenance_page() noexcept;
std::string_view builtin_read_only_page() noexcept;

}  // namespace maintgate
