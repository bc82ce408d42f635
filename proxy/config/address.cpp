#include "proxy/config/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>

#include "proxy/config/text.hpp"

namespace maintgate::config_detail {

namespace {

// inet_pton wants a NUL-terminated string, and a TOML "\u0000" escape must not let a
// shorter prefix pass for the whole text.
bool is_ipv4_literal(std::string_view text, in_addr* out = nullptr) {
    char buf[INET_ADDRSTRLEN];
    if (text.empty() || text.size() >= sizeof buf || has_nul(text)) return false;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    in_addr addr{};
    // glibc accepts only the four-part dotted-decimal form, so "127.1" or "010.0.0.1"
    // cannot bind somewhere other than what the operator reads.
    if (inet_pton(AF_INET, buf, &addr) != 1) return false;
    if (out) *out = addr;
    return true;
}

bool is_ipv6_literal(std::string_view text, in6_addr* out = nullptr) {
    char buf[INET6_ADDRSTRLEN];
    if (text.empty() || text.size() >= sizeof buf || has_nul(text)) return false;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    in6_addr addr{};
    if (inet_pton(AF_INET6, buf, &addr) != 1) return false;
    if (out) *out = addr;
    return true;
}

}  // namespace

// Labels of letters, digits, '-' and '_' (Docker and Compose service names use '_').
bool is_host_name(std::string_view text) {
    if (text.empty() || text.size() > 253) return false;
    std::size_t label = 0;
    for (std::size_t i = 0; i <= text.size(); ++i) {
        if (i == text.size() || text[i] == '.') {
            if (label == 0 || label > 63 || text[i - 1] == '-' || text[i - label] == '-') return false;
            label = 0;
            continue;
        }
        const char c = text[i];
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        c == '-' || c == '_';
        if (!ok) return false;
        ++label;
    }
    return true;
}

bool all_digits_and_dots(std::string_view text) {
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

port_parse parse_port(std::string_view text, unsigned lowest) {
    const std::string range = " is out of range (" + std::to_string(lowest) + "-65535)";
    if (text.empty()) return {std::nullopt, "missing port after \":\""};
    if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return {std::nullopt, "port " + quote(text) + " is not a number"};
    // More than five digits cannot be in range; checking length first avoids overflow.
    if (text.size() > 5) return {std::nullopt, "port " + std::string(text) + range};
    unsigned value = 0;
    for (const char c : text) value = value * 10 + static_cast<unsigned>(c - '0');
    if (value < lowest || value > 65535) return {std::nullopt, "port " + std::string(text) + range};
    return {static_cast<std::uint16_t>(value), {}};
}

listen_address parse_listen_address(std::string_view text) {
    constexpr std::string_view shape =
        "expected \"host:port\" such as \"127.0.0.1:8080\" or \"[::1]:8080\", got ";
    listen_address out;
    std::string_view host;
    std::string_view port_text;
    char canonical[INET6_ADDRSTRLEN] = {};

    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos) {
            out.error = "missing \"]\" after the IPv6 address in " + quote(text);
            return out;
        }
        host = text.substr(1, close - 1);
        const std::string_view rest = text.substr(close + 1);
        if (rest.empty() || rest.front() != ':') {
            out.error = std::string(shape) + quote(text);
            return out;
        }
        port_text = rest.substr(1);
        in6_addr addr{};
        if (!is_ipv6_literal(host, &addr)) {
            out.error = quote(host) + " is not an IPv6 address";
            return out;
        }
        inet_ntop(AF_INET6, &addr, canonical, sizeof canonical);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            out.error = std::string(shape) + quote(text);
            return out;
        }
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) {
            out.error = "an IPv6 address needs brackets, such as \"[::1]:8080\"";
            return out;
        }
        if (host.empty()) {
            out.error = "missing host; use \"0.0.0.0\" to listen on every IPv4 address";
            return out;
        }
        in_addr addr{};
        if (!is_ipv4_literal(host, &addr)) {
            // Names are refused because one can resolve to an address nobody intended,
            // or to several, and the listener would bind whichever came first.
            out.error = quote(host) +
                        " is not an IP address; a listener takes a literal IPv4 address or a bracketed "
                        "IPv6 address (no host names), such as \"127.0.0.1:8080\" or \"[::1]:8080\"";
            return out;
        }
        inet_ntop(AF_INET, &addr, canonical, sizeof canonical);
    }

    auto port = parse_port(port_text, 0);
    if (!port.port) {
        out.error = std::move(port.error);
        return out;
    }
    out.host = std::string(host);
    out.port = *port.port;
    out.identity = std::string(canonical) + "|" + std::to_string(out.port);
    return out;
}

upstream_url parse_upstream_url(std::string_view text, std::string_view what_url) {
    upstream_url out;
    const auto scheme_end = text.find("://");
    if (scheme_end == std::string_view::npos) {
        out.error = "expected \"http://HOST[:PORT]\" or \"https://HOST[:PORT]\", got " + quote(text);
        return out;
    }
    std::string scheme(text.substr(0, scheme_end));
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (scheme == "https") {
        out.tls = true;
        out.port = 443;
    } else if (scheme != "http") {
        out.error = "scheme " + quote(scheme) +
                    " is not supported; use \"http://HOST[:PORT]\" or \"https://HOST[:PORT]\"";
        return out;
    }

    const std::string_view rest = text.substr(scheme_end + 3);
    const auto authority_end = rest.find_first_of("/?#");
    const std::string_view authority = rest.substr(0, authority_end);
    std::string_view tail =
        authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);

    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
        out.error = "user info (" + quote(authority.substr(0, at + 1)) + ") is not allowed in " +
                    std::string(what_url);
        return out;
    }
    if (!tail.empty() && tail.front() == '/') {
        const std::string_view path = tail.substr(0, tail.find_first_of("?#"));
        // The client's request-target is forwarded unchanged; a base path would need
        // rewriting that this proxy does not do, so it must not be silently dropped.
        if (path != "/") {
            out.error = "a path (" + quote(path) + ") is not supported; the URL names only the server";
            return out;
        }
        tail.remove_prefix(path.size());
    }
    if (!tail.empty()) {
        const std::string_view what = tail.front() == '?' ? "a query" : "a fragment";
        out.error = std::string(what) + " (" + quote(tail) + ") is not allowed in " + std::string(what_url);
        return out;
    }

    std::string_view host;
    std::optional<std::string_view> port_text;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            out.error = "missing \"]\" after the IPv6 address in " + quote(authority);
            return out;
        }
        host = authority.substr(1, close - 1);
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                out.error = "expected \":PORT\" after " + quote(authority.substr(0, close + 1)) + ", got " +
                            quote(after);
                return out;
            }
            port_text = after.substr(1);
        }
        if (!is_ipv6_literal(host)) {
            out.error = quote(host) + " is not an IPv6 address";
            return out;
        }
    } else {
        const auto colon = authority.find(':');
        host = authority.substr(0, colon);
        if (colon != std::string_view::npos) {
            port_text = authority.substr(colon + 1);
            if (port_text->find(':') != std::string_view::npos) {
                out.error = "an IPv6 address needs brackets, such as \"http://[::1]:3000\"";
                return out;
            }
        }
        if (host.empty()) {
            out.error = "missing host in " + quote(text);
            return out;
        }
        // A name made only of digits and dots is an attempted IPv4 address; resolving
        // "10.0.0.300" as a name would fail late and obscurely, so say so now.
        if (all_digits_and_dots(host)) {
            if (!is_ipv4_literal(host)) {
                out.error = quote(host) + " is not a valid IPv4 address";
                return out;
            }
        } else if (!is_host_name(host)) {
            out.error = quote(host) + " is not a valid host name";
            return out;
        }
    }

    if (port_text) {
        auto port = parse_port(*port_text, 1);
        if (!port.port) {
            out.error = std::move(port.error);
            return out;
        }
        out.port = *port.port;
    }
    out.host = std::string(host);
    return out;
}

}  // namespace maintgate::config_detail
