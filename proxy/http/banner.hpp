#pragma once
// The maintenance window's announcement on the data path: which responses carry the
// banner, which carry the Maintgate-Window header instead, and the banner itself,
// rendered once per window notice (never per request). Pure functions over field values:
// no Asio, no Beast; the session (decide.cpp, relay_response.cpp) feeds them what it
// parsed, and banner_inject.hpp does the streaming insertion.
//
// The selection, in the order the session applies it:
//   request (decide, while a notice is present and [banner] is enabled): a navigation is
//     Sec-Fetch-Dest: document, or, without Sec-Fetch-Dest, an Accept naming text/html;
//     anything else is an API client and gets the Maintgate-Window header. A navigation
//     that carries the window's dismissal cookie, or whose route is opted out
//     ([banner] exclude_prefixes, a [[rule]] with banner = false), gets neither. The
//     others are asked of the upstream with Accept-Encoding: identity.
//   response (relay_response): 2xx but not 206, a body, Content-Type text/html, no
//     Cache-Control: no-transform, Content-Encoding absent or identity.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "policy/gate.hpp"
#include "proxy/admin/window_notice.hpp"

namespace maintgate {

struct banner_config;

// Why a navigation's response went out without the banner; the metrics' reason label.
enum class banner_skip : std::uint8_t {
    dismissed,  // the visitor closed this window's banner (its cookie)
    route,  // the route is opted out
    status,  // not 2xx, or 206
    not_html,  // Content-Type is not text/html
    no_transform,  // Cache-Control: no-transform
    encoded,  // the upstream compressed it anyway
    no_body_tag,  // no <body> within the injector's bound
};
inline constexpr std::size_t banner_skip_count = static_cast<std::size_t>(banner_skip::no_body_tag) + 1;
std::string_view to_string(banner_skip s) noexcept;

// What the request side decided.
enum class banner_plan : std::uint8_t {
    none,  // no notice, banner off, or a HEAD: the response goes as it came
    api,  // not a navigation: the Maintgate-Window header
    page,  // a navigation: the banner, if the response allows it
    skipped,  // a navigation that gets nothing (dismissed, route opted out)
};

struct banner_request {
    bool has_sec_fetch_dest = false;
    std::string_view sec_fetch_dest;
    std::string_view accept;
    std::string_view cookie;  // the Cookie field, or empty
    std::string_view path;  // the request's path without the query
};

struct banner_decision {
    banner_plan plan = banner_plan::none;
    std::optional<banner_skip> skip;  // with plan == skipped
};

// True for Sec-Fetch-Dest: document, or without it, an Accept that names text/html.
bool is_navigation(const banner_request& r) noexcept;

// True when cookie (a Cookie field value) holds the pair name=dismissed.
bool has_dismissal(std::string_view cookie, std::string_view name) noexcept;

// The request side of the selection. route_off: a [[rule]] with banner = false matched.
banner_decision plan_banner(const banner_request& r, const banner_config& cfg, std::string_view cookie_name,
                            bool route_off) noexcept;

// The response side: nullopt when the banner may go in.
struct banner_response {
    unsigned status = 0;
    bool has_body = true;
    std::string_view content_type;
    bool no_transform = false;  // any Cache-Control field names no-transform
    bool encoded = false;  // any Content-Encoding other than identity
};
std::optional<banner_skip> check_response(const banner_response& r) noexcept;

// Field value helpers for the response side, one field value at a time.
bool names_no_transform(std::string_view cache_control) noexcept;
bool is_identity_encoding(std::string_view content_encoding) noexcept;
bool is_html(std::string_view content_type) noexcept;

// The banner for one window notice, rendered once when the notice is published.
struct banner_render {
    std::shared_ptr<const window_notice> notice;  // kept alive with what points into it
    std::string fragment;  // the HTML that goes after <body ...>
    std::string window_field;  // "Maintgate-Window: id=...; start=...; end=...; phase=...\r\n"
    std::string cookie_name;  // "maintgate_banner_<id>"
};
std::shared_ptr<const banner_render> render_banner(std::shared_ptr<const window_notice> notice);

// The same-origin assets the fragment links, and the one path prefix they share.
inline constexpr std::string_view banner_css_path = "/.maintgate/banner.css";
inline constexpr std::string_view banner_js_path = "/.maintgate/banner.js";

// The built-in assets, compiled into the binary from maintenance_pages/.
std::string_view builtin_banner_css() noexcept;
std::string_view builtin_banner_js() noexcept;

}  // namespace maintgate
