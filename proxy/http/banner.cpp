#include "proxy/http/banner.hpp"

#include "policy/ascii.hpp"
#include "proxy/admin/state_file.hpp"
#include "proxy/config/config.hpp"
#include "proxy/http/pages.hpp"

namespace maintgate {
namespace {

using policy::iequals;
using policy::trim_ows;

// Calls fn on each comma-separated element of a list value, trimmed.
template <class Fn>
bool any_element(std::string_view list, char sep, Fn&& fn) noexcept {
    while (!list.empty()) {
        const auto at = list.find(sep);
        const std::string_view item = trim_ows(list.substr(0, at));
        if (fn(item)) return true;
        if (at == std::string_view::npos) break;
        list.remove_prefix(at + 1);
    }
    return false;
}

// A structured-field string: quoted, with '"' and '\' escaped; other bytes outside
// visible ASCII become '?', as a string item cannot carry them.
std::string sf_string(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    out += '"';
    return out;
}

}  // namespace

std::string_view to_string(banner_skip s) noexcept {
    switch (s) {
    case banner_skip::dismissed: return "dismissed";
    case banner_skip::route: return "route";
    case banner_skip::status: return "status";
    case banner_skip::not_html: return "not_html";
    case banner_skip::no_transform: return "no_transform";
    case banner_skip::encoded: return "encoded";
    case banner_skip::no_body_tag: return "no_body_tag";
    }
    return "?";
}

bool is_navigation(const banner_request& r) noexcept {
    // Browsers send Sec-Fetch-Dest on every request; where it is present it is the
    // whole answer (an <img> or fetch() asking for text/html is no page to bannerise).
    if (r.has_sec_fetch_dest) return iequals(trim_ows(r.sec_fetch_dest), "document");
    return any_element(r.accept, ',', [](std::string_view item) {
        const std::string_view type = trim_ows(item.substr(0, item.find(';')));
        return iequals(type, "text/html");
    });
}

bool has_dismissal(std::string_view cookie, std::string_view name) noexcept {
    if (name.empty()) return false;
    return any_element(cookie, ';', [name](std::string_view pair) {
        const auto eq = pair.find('=');
        if (eq == std::string_view::npos) return false;
        return trim_ows(pair.substr(0, eq)) == name && trim_ows(pair.substr(eq + 1)) == "dismissed";
    });
}

banner_decision plan_banner(const banner_request& r, const banner_config& cfg, std::string_view cookie_name,
                            bool route_off) noexcept {
    if (!cfg.enabled) return {};
    if (!is_navigation(r)) return {banner_plan::api, std::nullopt};
    if (route_off) return {banner_plan::skipped, banner_skip::route};
    for (const auto& prefix : cfg.exclude_prefixes)
        if (r.path.starts_with(prefix)) return {banner_plan::skipped, banner_skip::route};
    if (has_dismissal(r.cookie, cookie_name)) return {banner_plan::skipped, banner_skip::dismissed};
    return {banner_plan::page, std::nullopt};
}

bool names_no_transform(std::string_view cache_control) noexcept {
    return any_element(cache_control, ',', [](std::string_view d) { return iequals(d, "no-transform"); });
}

bool is_identity_encoding(std::string_view content_encoding) noexcept {
    return !any_element(content_encoding, ',',
                        [](std::string_view c) { return !c.empty() && !iequals(c, "identity"); });
}

bool is_html(std::string_view content_type) noexcept {
    return iequals(trim_ows(content_type.substr(0, content_type.find(';'))), "text/html");
}

std::optional<banner_skip> check_response(const banner_response& r) noexcept {
    // 206 is a piece of the page: a banner in it would corrupt the whole once joined.
    if (r.status < 200 || r.status >= 300 || r.status == 206 || !r.has_body) return banner_skip::status;
    if (!is_html(r.content_type)) return banner_skip::not_html;
    if (r.no_transform) return banner_skip::no_transform;
    if (r.encoded) return banner_skip::encoded;
    return std::nullopt;
}

std::shared_ptr<const banner_render> render_banner(std::shared_ptr<const window_notice> notice) {
    auto out = std::make_shared<banner_render>();
    const window_notice& n = *notice;
    // The cookie's name carries the id; a cookie name is a token, so anything else in
    // the id becomes '_'.
    out->cookie_name = "maintgate_banner_";
    for (char c : n.id) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '_' || c == '.';
        out->cookie_name += ok ? c : '_';
    }
    // A window started by hand has no start until it starts: the field then has no start.
    const std::string starts = n.starts ? format_iso8601(*n.starts) : std::string();
    const std::string ends = format_iso8601(n.ends);
    out->window_field = "Maintgate-Window: id=" + sf_string(n.id) + (n.starts ? "; start=" + sf_string(starts) : "") +
                        "; end=" + sf_string(ends) + "; phase=" + sf_string(n.phase) + "\r\n";

    // The heading says where the window is; the times are UTC in the HTML and the
    // visitor's local time once banner.js has run (as the maintenance page does).
    const bool under_way = n.phase != "announced";
    const std::string title = n.phase == "verifying" ? "Maintenance is finishing"
                              : under_way             ? "Maintenance in progress"
                                                      : "Scheduled maintenance";
    std::string& f = out->fragment;
    f += "<link rel=\"stylesheet\" href=\"";
    f += banner_css_path;
    f += "\"><div id=\"maintgate-banner\" class=\"maintgate-banner\" role=\"status\" data-cookie=\"";
    f += html_escape(out->cookie_name);
    f += "\" data-end=\"" + html_escape(ends) + "\"><p><strong>" + title + ":</strong> ";
    if (!under_way && n.starts)
        f += "from <time datetime=\"" + html_escape(starts) + "\" data-local>" + html_escape(format_human(*n.starts)) +
             "</time> ";
    else if (!under_way)
        f += "starting soon, ";
    f += "until about <time datetime=\"" + html_escape(ends) + "\" data-local>" + html_escape(format_human(n.ends)) +
         "</time>.";
    if (!n.message.empty()) f += " <span class=\"maintgate-message\">" + html_escape(n.message) + "</span>";
    f += "</p><button type=\"button\" class=\"maintgate-dismiss\" aria-label=\"Dismiss\" hidden>&times;</button>"
         "</div><script src=\"";
    f += banner_js_path;
    f += "\" defer></script>";
    out->notice = std::move(notice);
    return out;
}

}  // namespace maintgate
