#include "proxy/http/pages.hpp"

#include <array>

namespace maintgate {
namespace {

constexpr std::array<std::string_view, 8> placeholders = {
    "mode", "reason", "until", "until_iso", "retry_after", "refresh", "until_in", "status_path"};
constexpr std::array<std::string_view, 2> blocks = {"reason", "until"};

bool is_one_of(std::string_view name, auto const& list) {
    for (auto n : list)
        if (n == name) return true;
    return false;
}

template_error error_at(std::string_view text, std::size_t offset, std::string message) {
    template_error e;
    e.line = 1;
    e.column = 1;
    for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++e.line;
            e.column = 1;
        } else {
            ++e.column;
        }
    }
    e.message = std::move(message);
    return e;
}

// Walks the template calling on_text(view) and on_tag(name, offset) in order.
template <class Text, class Tag>
std::optional<template_error> walk(std::string_view text, Text on_text, Tag on_tag) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto open = text.find("{{", pos);
        if (open == std::string_view::npos) {
            on_text(text.substr(pos));
            break;
        }
        on_text(text.substr(pos, open - pos));
        auto close = text.find("}}", open + 2);
        if (close == std::string_view::npos)
            return error_at(text, open, "unterminated placeholder: \"{{\" without \"}}\"");
        on_tag(text.substr(open + 2, close - open - 2), open);
        pos = close + 2;
    }
    return std::nullopt;
}

}  // namespace

std::string html_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string until_in_words(std::int64_t seconds) {
    // Rounded up: "in 45 min" until 44 minutes are left, never an end that seems passed.
    const std::int64_t minutes = (seconds + 59) / 60;
    if (seconds <= 0) return {};
    if (minutes <= 1) return "in under a minute";
    if (minutes < 90) return "in " + std::to_string(minutes) + " min";
    const std::int64_t h = minutes / 60, m = minutes % 60;
    return "in " + std::to_string(h) + " h" + (m ? " " + std::to_string(m) + " min" : std::string());
}

std::optional<template_error> validate_template(std::string_view text) {
    std::optional<template_error> problem;
    std::string_view open_block;
    std::size_t open_at = 0;
    auto result = walk(
        text, [](std::string_view) {},
        [&](std::string_view tag, std::size_t at) {
            if (problem) return;
            if (!tag.empty() && (tag[0] == '#' || tag[0] == '^' || tag[0] == '/')) {
                auto name = tag.substr(1);
                if (!is_one_of(name, blocks)) {
                    problem = error_at(text, at,
                                       "unknown block {{" + std::string(tag) +
                                           "}}; blocks are {{#reason}} and {{#until}} (or {{^...}})");
                } else if (tag[0] != '/') {
                    if (!open_block.empty())
                        problem = error_at(text, at,
                                           "blocks cannot be nested: {{" + std::string(tag) +
                                               "}} inside {{#" + std::string(open_block) + "}}");
                    open_block = name;
                    open_at = at;
                } else if (open_block != name) {
                    problem = error_at(text, at, "{{" + std::string(tag) + "}} closes no open block");
                } else {
                    open_block = {};
                }
            } else if (!is_one_of(tag, placeholders)) {
                problem =
                    error_at(text, at,
                             "unknown placeholder {{" + std::string(tag) +
                                 "}}; known: mode, reason, until, until_iso, until_in, retry_after, refresh, "
                                 "status_path");
            }
        });
    if (result) return result;
    if (problem) return problem;
    if (!open_block.empty())
        return error_at(text, open_at, "{{#" + std::string(open_block) + "}} is never closed");
    return std::nullopt;
}

std::string render_template(std::string_view text, const page_values& v) {
    std::string out;
    out.reserve(text.size() + 256);
    bool skipping = false;
    auto value_of = [&](std::string_view name) -> std::string {
        if (name == "mode") return html_escape(v.mode);
        if (name == "reason") return html_escape(v.reason);
        if (name == "until") return html_escape(v.until);
        if (name == "until_iso") return html_escape(v.until_iso);
        if (name == "retry_after") return std::to_string(v.retry_after);
        if (name == "refresh") return std::to_string(v.refresh);
        if (name == "until_in") return html_escape(v.until_in);
        if (name == "status_path") return html_escape(v.status_path);
        return {};
    };
    walk(
        text,
        [&](std::string_view t) {
            if (!skipping) out.append(t);
        },
        [&](std::string_view tag, std::size_t) {
            if (tag.size() > 1 && (tag[0] == '#' || tag[0] == '^')) {
                auto name = tag.substr(1);
                const bool empty = (name == "reason" ? v.reason : v.until).empty();
                skipping = tag[0] == '#' ? empty : !empty;
            } else if (tag.size() > 1 && tag[0] == '/') {
                skipping = false;
            } else if (!skipping) {
                out += value_of(tag);
            }
        });
    return out;
}

}  // namespace maintgate
