#include "proxy/config/config.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <span>
#include <sstream>
#include <system_error>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>

#include <toml++/toml.h>

#include "policy/ascii.hpp"
#include "proxy/http/pages.hpp"

namespace maintgate {

namespace {

constexpr std::string_view embedded_default = R"toml(# maintgate's built-in configuration, used by `maintgate run` when no -c is given.
# Every key not set here keeps its default; maintgate.example.toml lists them all.

# Loopback only: serving other machines should be a decision written in a real config.
[[listener]]
address = "127.0.0.1:8080"

# The demo app.
[upstream]
url = "http://127.0.0.1:3000"

# So `maintgate ctl` can drive the demo. Under /tmp because the demo runs unprivileged;
# a real config puts it in a folder only maintgate and its operators can reach.
[admin]
socket = "/tmp/maintgate-admin.sock"
)toml";

// ---------------------------------------------------------------------------------
// Text helpers for messages.

// Values are echoed inside double quotes; escaping keeps a stray control character or
// quote in the config from garbling the terminal or the message, and a cap keeps one
// pasted blob from burying the other errors.
std::string quote(std::string_view text)
{
    constexpr std::size_t max_shown = 80;
    std::string out = "\"";
    std::size_t shown = std::min(text.size(), max_shown);
    // Cut on a character boundary, not inside a UTF-8 sequence.
    while (shown > 0 && shown < text.size() && (static_cast<unsigned char>(text[shown]) & 0xc0) == 0x80)
        --shown;
    for (std::size_t i = 0; i < shown; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7f) {
            constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xf];
        } else {
            out += static_cast<char>(c);
        }
    }
    if (shown < text.size())
        out += "...";
    out += '"';
    return out;
}

std::string_view type_name(const toml::node& node)
{
    switch (node.type()) {
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    case toml::node_type::array: return "array";
    case toml::node_type::table: return "table";
    case toml::node_type::none: break;
    }
    return "nothing";
}

// "integer 5", "string \"5s\"": the value is shown because the type alone rarely tells
// an operator which line went wrong in a long file.
std::string describe(const toml::node& node)
{
    std::ostringstream out;
    out << type_name(node);
    node.visit([&out](const auto& value) {
        using T = std::remove_cvref_t<decltype(value)>;
        if constexpr (std::is_same_v<T, toml::value<std::string>>)
            out << ' ' << quote(value.get());
        else if constexpr (!std::is_same_v<T, toml::table> && !std::is_same_v<T, toml::array>)
            out << ' ' << value;
    });
    return std::move(out).str();
}

// Optimal string alignment distance: a swapped pair of letters ("tiemout") counts as
// one typo, as people make them.
std::size_t edit_distance(std::string_view a, std::string_view b)
{
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i)
        d[i][0] = i;
    for (std::size_t j = 0; j <= b.size(); ++j)
        d[0][j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[a.size()][b.size()];
}

std::string path_join(std::string_view parent, std::string_view key)
{
    std::string out(parent);
    if (!out.empty())
        out += '.';
    out += key;
    return out;
}

// ---------------------------------------------------------------------------------
// Address syntax shared by listeners and the upstream URL.

bool has_nul(std::string_view text)
{
    return text.find('\0') != std::string_view::npos;
}

// inet_pton wants a NUL-terminated string, and a TOML "\u0000" escape must not let a
// shorter prefix pass for the whole text.
bool is_ipv4_literal(std::string_view text, in_addr* out = nullptr)
{
    char buf[INET_ADDRSTRLEN];
    if (text.empty() || text.size() >= sizeof buf || has_nul(text))
        return false;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    in_addr addr{};
    // glibc accepts only the four-part dotted-decimal form, so "127.1" or "010.0.0.1"
    // cannot bind somewhere other than what the operator reads.
    if (inet_pton(AF_INET, buf, &addr) != 1)
        return false;
    if (out)
        *out = addr;
    return true;
}

bool is_ipv6_literal(std::string_view text, in6_addr* out = nullptr)
{
    char buf[INET6_ADDRSTRLEN];
    if (text.empty() || text.size() >= sizeof buf || has_nul(text))
        return false;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    in6_addr addr{};
    if (inet_pton(AF_INET6, buf, &addr) != 1)
        return false;
    if (out)
        *out = addr;
    return true;
}

// Labels of letters, digits, '-' and '_' (Docker and Compose service names use '_').
bool is_host_name(std::string_view text)
{
    if (text.empty() || text.size() > 253)
        return false;
    std::size_t label = 0;
    for (std::size_t i = 0; i <= text.size(); ++i) {
        if (i == text.size() || text[i] == '.') {
            if (label == 0 || label > 63 || text[i - 1] == '-' || text[i - label] == '-')
                return false;
            label = 0;
            continue;
        }
        const char c = text[i];
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                        || c == '-' || c == '_';
        if (!ok)
            return false;
        ++label;
    }
    return true;
}

bool all_digits_and_dots(std::string_view text)
{
    return !text.empty()
           && std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

struct port_parse {
    std::optional<std::uint16_t> port;
    std::string error;
};

port_parse parse_port(std::string_view text, unsigned lowest)
{
    const std::string range = " is out of range (" + std::to_string(lowest) + "-65535)";
    if (text.empty())
        return {std::nullopt, "missing port after \":\""};
    if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return {std::nullopt, "port " + quote(text) + " is not a number"};
    // More than five digits cannot be in range; checking length first avoids overflow.
    if (text.size() > 5)
        return {std::nullopt, "port " + std::string(text) + range};
    unsigned value = 0;
    for (const char c : text)
        value = value * 10 + static_cast<unsigned>(c - '0');
    if (value < lowest || value > 65535)
        return {std::nullopt, "port " + std::string(text) + range};
    return {static_cast<std::uint16_t>(value), {}};
}

struct listen_address {
    std::string host;
    std::uint16_t port = 0;
    std::string identity;  // canonical "address|port", to find duplicates however written
    std::string error;
};

listen_address parse_listen_address(std::string_view text)
{
    constexpr std::string_view shape = "expected \"host:port\" such as \"127.0.0.1:8080\" or \"[::1]:8080\", got ";
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
            out.error = quote(host)
                        + " is not an IP address; a listener takes a literal IPv4 address or a bracketed "
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

struct upstream_url {
    std::string host;
    std::uint16_t port = 80;
    bool tls = false;
    std::string error;
};

upstream_url parse_upstream_url(std::string_view text, std::string_view what_url = "the upstream URL")
{
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
        out.error = "scheme " + quote(scheme) + " is not supported; use \"http://HOST[:PORT]\" or \"https://HOST[:PORT]\"";
        return out;
    }

    const std::string_view rest = text.substr(scheme_end + 3);
    const auto authority_end = rest.find_first_of("/?#");
    const std::string_view authority = rest.substr(0, authority_end);
    std::string_view tail = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);

    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
        out.error = "user info (" + quote(authority.substr(0, at + 1)) + ") is not allowed in " + std::string(what_url);
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
                out.error = "expected \":PORT\" after " + quote(authority.substr(0, close + 1)) + ", got "
                            + quote(after);
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

// ---------------------------------------------------------------------------------
// Sizes: 1048576, "512", "64k", "10M", "2G", "1T", "10MiB", "64kB".

enum class size_status { ok, malformed, too_large };

size_status parse_size(std::string_view text, std::uint64_t& out)
{
    constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    std::size_t i = 0;
    std::uint64_t number = 0;
    bool too_large = false;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
        const auto digit = static_cast<std::uint64_t>(text[i] - '0');
        if (number > (max - digit) / 10)
            too_large = true;
        else
            number = number * 10 + digit;
    }
    if (i == 0)
        return size_status::malformed;

    std::uint64_t scale = 1;
    std::string_view suffix = text.substr(i);
    if (!suffix.empty()) {
        switch (suffix.front()) {
        case 'k':
        case 'K': scale = std::uint64_t{1} << 10; break;
        case 'M': scale = std::uint64_t{1} << 20; break;
        case 'G': scale = std::uint64_t{1} << 30; break;
        case 'T': scale = std::uint64_t{1} << 40; break;
        default: break;
        }
        if (scale != 1)
            suffix.remove_prefix(1);
    }
    // "B" alone is accepted after a bare number too: "512B" cannot mean anything else.
    const bool suffix_ok = suffix.empty() || suffix == "B" || (scale != 1 && suffix == "iB");
    if (!suffix_ok)
        return size_status::malformed;
    if (too_large || number > max / scale)
        return size_status::too_large;
    out = number * scale;
    return size_status::ok;
}

unsigned default_workers()
{
    // hardware_concurrency() may report 0 when it cannot tell.
    return std::clamp(std::thread::hardware_concurrency(), 1u, 256u);
}

// ---------------------------------------------------------------------------------
// The loader: walks the document once, fills a config, and records every problem.

enum class key_kind { value, table, table_array };

struct known_key {
    std::string_view name;
    key_kind kind;
};

constexpr known_key root_keys[] = {
    {"workers", key_kind::value},
    {"listener", key_kind::table_array},
    {"upstream", key_kind::table},
    {"timeouts", key_kind::table},
    {"limits", key_kind::table},
    {"forwarding", key_kind::table},
    {"log", key_kind::table},
    {"gate", key_kind::table},
    {"rule", key_kind::table_array},
    {"admin", key_kind::table},
    {"health_check", key_kind::table},
    {"smoke_check", key_kind::table_array},
    {"reopen", key_kind::table},
};
constexpr known_key listener_keys[] = {
    {"address", key_kind::value},
    {"tls_cert", key_kind::value},
    {"tls_key", key_kind::value},
    {"sni", key_kind::table_array},
    {"tls_ciphers", key_kind::value},
    {"tls_ciphersuites", key_kind::value},
    {"tls_min_version", key_kind::value},
    {"hsts", key_kind::value},
    {"redirect_https", key_kind::value},
    {"redirect_except", key_kind::value},
};
constexpr known_key sni_keys[] = {
    {"tls_cert", key_kind::value},
    {"tls_key", key_kind::value},
    {"server_names", key_kind::value},
};
constexpr std::string_view tls_versions[] = {"1.0", "1.1", "1.2", "1.3"};
constexpr known_key upstream_keys[] = {
    {"url", key_kind::value},
    {"host_header", key_kind::value},
    {"connect_timeout", key_kind::value},
    {"response_timeout", key_kind::value},
    {"idle_timeout", key_kind::value},
    {"max_idle", key_kind::value},
    {"tls_verify", key_kind::value},
    {"tls_ca_file", key_kind::value},
    {"tls_server_name", key_kind::value},
};
constexpr known_key timeouts_keys[] = {
    {"header", key_kind::value},
    {"body_idle", key_kind::value},
    {"keepalive", key_kind::value},
    {"send", key_kind::value},
    {"tunnel_idle", key_kind::value},
    {"expect_continue", key_kind::value},
    {"shutdown", key_kind::value},
};
constexpr known_key limits_keys[] = {
    {"max_connections", key_kind::value},
    {"max_header_size", key_kind::value},
    {"max_headers", key_kind::value},
    {"max_uri_size", key_kind::value},
    {"max_body_size", key_kind::value},
};
constexpr known_key forwarding_keys[] = {
    {"trusted_proxies", key_kind::value},
    {"via", key_kind::value},
    {"underscores_in_headers", key_kind::value},
};
constexpr known_key log_keys[] = {
    {"error", key_kind::value},
    {"level", key_kind::value},
    {"access", key_kind::value},
    {"access_format", key_kind::value},
};

constexpr known_key gate_keys[] = {
    {"initial_mode", key_kind::value},
    {"corrupt_state_mode", key_kind::value},
    {"state_file", key_kind::value},
    {"audit_log", key_kind::value},
    {"retry_after", key_kind::value},
    {"upstream_down_page", key_kind::value},
    {"pages_dir", key_kind::value},
    {"bypass_cidrs", key_kind::value},
    {"bypass_secret", key_kind::value},
    {"bypass_header", key_kind::value},
    {"bypass_path", key_kind::value},
    {"bypass_cookie_ttl", key_kind::value},
    {"status_path", key_kind::value},
};
constexpr known_key rule_keys[] = {
    {"path", key_kind::value},
    {"path_prefix", key_kind::value},
    {"path_regex", key_kind::value},
    {"methods", key_kind::value},
    {"host", key_kind::value},
    {"action", key_kind::value},
    {"reason", key_kind::value},
};
constexpr known_key admin_keys[] = {
    {"socket", key_kind::value},
    {"socket_mode", key_kind::value},
    {"socket_owner", key_kind::value},
    {"socket_group", key_kind::value},
    {"metrics", key_kind::value},
};
constexpr known_key health_check_keys[] = {
    {"method", key_kind::value},
    {"path", key_kind::value},
    {"host", key_kind::value},
    {"expect_status", key_kind::value},
    {"body_contains", key_kind::value},
    {"timeout", key_kind::value},
    {"interval", key_kind::value},
    {"headers", key_kind::value},
    {"body", key_kind::value},
};
// A smoke check runs only before a reopen step, so it has no interval; it has a name
// because there can be several.
constexpr known_key smoke_check_keys[] = {
    {"name", key_kind::value},
    {"method", key_kind::value},
    {"path", key_kind::value},
    {"host", key_kind::value},
    {"expect_status", key_kind::value},
    {"body_contains", key_kind::value},
    {"timeout", key_kind::value},
    {"headers", key_kind::value},
    {"body", key_kind::value},
};
constexpr known_key reopen_keys[] = {
    {"watch", key_kind::value},
    {"max_error_rate", key_kind::value},
    {"min_requests", key_kind::value},
    {"freeze_timeout", key_kind::value},
};
constexpr std::string_view mode_names[] = {"open", "read-only", "maintenance"};
constexpr std::string_view rule_actions[] = {"allow", "read", "allow-writes-in-read-only", "webhook"};

constexpr std::string_view log_levels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};

// An SNI name: a DNS name, or a wildcard for one label ("*.example.com"), as a
// certificate's SANs spell them.
bool is_server_name(std::string_view text)
{
    if (text.starts_with("*."))
        text.remove_prefix(2);
    return is_host_name(text) && !all_digits_and_dots(text);
}

// A path a plain listener keeps serving instead of redirecting: the path part of the
// request-target, so no query, fragment, spaces or control bytes.
std::string redirect_path_problem(std::string_view text)
{
    if (text.empty() || text.front() != '/')
        return "must start with \"/\"";
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c >= 0x7f)
            return "must be visible ASCII without spaces";
        if (c == '?' || c == '#')
            return "must not contain '?' or '#': it is compared with the path alone";
    }
    return {};
}

// "max-age=N" and optional directives ("; includeSubDomains; preload"), as RFC 6797 has it.
std::string hsts_problem(std::string_view text)
{
    constexpr std::string_view prefix = "max-age=";
    if (text.size() < prefix.size() || !policy::iequals(text.substr(0, prefix.size()), prefix))
        return "must start with \"max-age=\" (seconds), such as \"max-age=31536000\"";
    std::size_t i = prefix.size();
    const std::size_t digits = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9')
        ++i;
    if (i == digits || i - digits > 10)
        return "max-age must be a number of seconds, such as \"max-age=31536000\"";
    for (; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if ((c < 0x20 && c != '\t') || c >= 0x7f)
            return "must be visible ASCII (it is sent as a header value)";
    }
    return {};
}

// A table being read, with the dotted path that names its keys in messages
// ("upstream", "listener[1]", "" for the document root).
struct scope {
    const toml::table& table;
    std::string path;

    std::string name(std::string_view key) const { return path_join(path, key); }
};

class loader {
public:
    explicit loader(std::string file) : file_(std::move(file))
    {
        // Relative paths in the config are relative to its own folder, so the same file
        // means the same paths whichever directory maintgate or `maintgate ctl` starts in.
        // A source without a slash (a bare file name, "<embedded default>") is already in
        // the current directory, where relative paths stay as written.
        if (const auto slash = file_.rfind('/'); slash != std::string::npos)
            folder_ = file_.substr(0, slash + 1);
    }

    void load(const toml::table& root, config& cfg);

    std::vector<config_error> take_errors()
    {
        // std::map order is alphabetical, not the file's; a stable sort by position
        // restores document order and keeps same-place errors in the order checked.
        // Errors without a position concern the document as a whole and go last.
        auto key = [](const config_error& e) {
            const std::uint32_t line = e.line == 0 ? std::numeric_limits<std::uint32_t>::max() : e.line;
            return std::pair{line, e.column};
        };
        std::stable_sort(errors_.begin(), errors_.end(),
                         [&key](const config_error& a, const config_error& b) { return key(a) < key(b); });
        return std::move(errors_);
    }

private:
    void fail(const toml::source_region& where, std::string message)
    {
        errors_.push_back({file_, where.begin.line, where.begin.column, std::move(message)});
    }
    void fail(const toml::node& where, std::string message) { fail(where.source(), std::move(message)); }
    void fail_document(std::string message) { errors_.push_back({file_, 0, 0, std::move(message)}); }

    void check_keys(const scope& s, std::span<const known_key> known, std::string_view where);
    const toml::table* table(const toml::table& root, std::string_view key);

    std::optional<std::int64_t> integer(const scope& s, std::string_view key, std::int64_t lowest,
                                        std::int64_t highest);
    std::optional<duration> positive_duration(const scope& s, std::string_view key);
    std::optional<duration> duration_value(const scope& s, std::string_view key, bool zero_allowed);
    std::optional<std::string> path_value(const scope& s, std::string_view key, std::string_view expected,
                                          bool folder);
    const std::string* string_value(const scope& s, std::string_view key, std::string_view expected);
    std::optional<bool> boolean(const scope& s, std::string_view key);
    std::optional<std::string_view> one_of(const scope& s, std::string_view key,
                                           std::span<const std::string_view> allowed);

    void load_listeners(const toml::table& root, std::vector<listener_config>& out);
    void load_listener_tls(const scope& s, listener_config& l);
    void load_listener_redirect(const scope& s, listener_config& l);
    std::optional<tls_certificate> load_certificate(const scope& s, bool names_allowed);
    std::string position(const toml::node& node) const;
    void load_upstream(const toml::table& root, upstream_config& out);
    void load_timeouts(const toml::table& root, timeouts_config& out);
    void load_limits(const toml::table& root, limits_config& out);
    void load_forwarding(const toml::table& root, forwarding_config& out);
    void load_log(const toml::table& root, log_config& out);
    void load_gate(const toml::table& root, gate_settings& out);
    void load_rules(const toml::table& root, std::vector<policy::rule>& out);
    void load_admin(const toml::table& root, const std::vector<listener_config>& listeners, admin_config& out);
    void load_checks(const toml::table& root, reopen_config& out);
    check_request load_check(const scope& s, std::string_view where);
    void load_reopen(const toml::table& root, reopen_config& out);
    void check_distinct_files(const toml::table& root, const config& cfg);
    void load_cidrs(const toml::node& node, const std::string& path, std::vector<policy::cidr>& out);
    std::string load_page(const toml::node* where, const std::string& dir, std::string_view name,
                          std::string_view builtin);

    std::string file_;
    std::string folder_;  // the config file's folder with a trailing '/', or empty
    std::vector<config_error> errors_;
};

void loader::check_keys(const scope& s, std::span<const known_key> known, std::string_view where)
{
    for (const auto& [key, node] : s.table) {
        const std::string_view name = key.str();
        const auto match = std::find_if(known.begin(), known.end(), [&](const known_key& k) { return k.name == name; });
        if (match != known.end())
            continue;

        // Suggest the nearest known key: most unknown keys are typos of a real one.
        std::string hint;
        const known_key* nearest = nullptr;
        std::size_t best = std::numeric_limits<std::size_t>::max();
        for (const auto& k : known) {
            const std::size_t d = edit_distance(name, k.name);
            if (d < best) {
                best = d;
                nearest = &k;
            }
        }
        const std::size_t tolerance = name.size() <= 4 ? 1 : 2;
        if (nearest && best <= tolerance) {
            const std::string nearest_path = path_join(s.path, nearest->name);
            switch (nearest->kind) {
            case key_kind::value: hint = "; did you mean " + quote(nearest->name) + "?"; break;
            case key_kind::table: hint = "; did you mean [" + nearest_path + "]?"; break;
            case key_kind::table_array: hint = "; did you mean [[" + nearest_path + "]]?"; break;
            }
        }

        // Name the thing the way it was written: a [header] reads as a table, not a key.
        const std::string table_path = path_join(s.path, name);
        if (const auto* t = node.as_table(); t && !t->is_inline()) {
            fail(node, "unknown table [" + table_path + "]" + hint);
            continue;
        }
        if (const auto* a = node.as_array(); a && !a->empty()) {
            const auto* first = (*a)[0].as_table();
            if (first && !first->is_inline()) {
                fail(node, "unknown table [[" + table_path + "]]" + hint);
                continue;
            }
        }
        fail(key.source(), "unknown key " + quote(name) + " " + std::string(where) + hint);
    }
}

const toml::table* loader::table(const toml::table& root, std::string_view key)
{
    const toml::node* node = root.get(key);
    if (!node)
        return nullptr;
    if (const auto* t = node->as_table())
        return t;
    fail(*node, std::string(key) + ": expected a table ([" + std::string(key) + "]), got " + describe(*node));
    return nullptr;
}

std::optional<std::int64_t> loader::integer(const scope& s, std::string_view key, std::int64_t lowest,
                                            std::int64_t highest)
{
    const toml::node* node = s.table.get(key);
    if (!node)
        return std::nullopt;
    const auto* value = node->as_integer();
    if (!value) {
        fail(*node, s.name(key) + ": expected an integer, got " + describe(*node));
        return std::nullopt;
    }
    const std::int64_t v = value->get();
    if (v < lowest || v > highest) {
        fail(*node, s.name(key) + ": " + std::to_string(v) + " is out of range (" + std::to_string(lowest) + "-"
                        + std::to_string(highest) + ")");
        return std::nullopt;
    }
    return v;
}

std::optional<duration> loader::positive_duration(const scope& s, std::string_view key)
{
    return duration_value(s, key, false);
}

std::optional<duration> loader::duration_value(const scope& s, std::string_view key, bool zero_allowed)
{
    const toml::node* node = s.table.get(key);
    if (!node)
        return std::nullopt;
    const auto* value = node->as_string();
    if (!value) {
        fail(*node, s.name(key) + ": expected a duration such as \"5s\" or \"250ms\", got " + describe(*node));
        return std::nullopt;
    }
    const std::string& text = value->get();
    const auto parsed = parse_duration(text);
    if (!parsed) {
        const bool bare_number
            = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (bare_number) {
            fail(*node, s.name(key) + ": " + quote(text) + " has no unit; write \"" + text + "s\" for seconds or \""
                            + text + "ms\" for milliseconds");
        } else {
            fail(*node, s.name(key) + ": " + quote(text)
                            + " is not a duration; use whole numbers with units ms, s, m, h, d, largest first, "
                              "such as \"5s\", \"250ms\" or \"1h30m\"");
        }
        return std::nullopt;
    }
    // Zero would mean "expire at once" to a timer, never "no timeout"; only keys that
    // document "0s = off" accept it.
    if (parsed->count() == 0 && !zero_allowed) {
        fail(*node, s.name(key) + ": must be greater than 0, got " + quote(text));
        return std::nullopt;
    }
    return parsed;
}

std::optional<std::string> loader::path_value(const scope& s, std::string_view key, std::string_view expected,
                                             bool folder)
{
    const std::string* text = string_value(s, key, expected);
    if (!text)
        return std::nullopt;
    const toml::node& node = *s.table.get(key);
    // open() stops at a NUL, so "a\u0000b" would quietly name the file "a".
    if (has_nul(*text)) {
        fail(node, s.name(key) + ": " + quote(*text) + " contains a NUL character");
        return std::nullopt;
    }
    if (text->empty())
        return std::string{};
    if (!folder && text->back() == '/') {
        fail(node, s.name(key) + ": " + quote(*text) + " names a folder; give a file name");
        return std::nullopt;
    }
    if (text->front() == '/' || folder_.empty())
        return *text;
    return folder_ + *text;
}

const std::string* loader::string_value(const scope& s, std::string_view key, std::string_view expected)
{
    const toml::node* node = s.table.get(key);
    if (!node)
        return nullptr;
    if (const auto* value = node->as_string())
        return &value->get();
    fail(*node, s.name(key) + ": expected " + std::string(expected) + ", got " + describe(*node));
    return nullptr;
}

std::optional<bool> loader::boolean(const scope& s, std::string_view key)
{
    const toml::node* node = s.table.get(key);
    if (!node)
        return std::nullopt;
    if (const auto* value = node->as_boolean())
        return value->get();
    fail(*node, s.name(key) + ": expected true or false, got " + describe(*node));
    return std::nullopt;
}

std::optional<std::string_view> loader::one_of(const scope& s, std::string_view key,
                                               std::span<const std::string_view> allowed)
{
    std::string choices;
    for (std::size_t i = 0; i < allowed.size(); ++i) {
        if (i != 0)
            choices += i + 1 == allowed.size() ? " or " : ", ";
        choices += quote(allowed[i]);
    }
    const std::string* text = string_value(s, key, "one of " + choices);
    if (!text)
        return std::nullopt;
    const auto match = std::find(allowed.begin(), allowed.end(), *text);
    if (match == allowed.end()) {
        fail(*s.table.get(key), s.name(key) + ": " + quote(*text) + " is not one of " + choices);
        return std::nullopt;
    }
    return *match;
}

void loader::load(const toml::table& root, config& cfg)
{
    const scope top{root, ""};
    check_keys(top, root_keys, "at the top level");

    cfg.workers = default_workers();
    if (const auto workers = integer(top, "workers", 1, 256))
        cfg.workers = static_cast<unsigned>(*workers);

    load_listeners(root, cfg.listeners);
    load_upstream(root, cfg.upstream);
    load_timeouts(root, cfg.timeouts);
    load_limits(root, cfg.limits);
    load_forwarding(root, cfg.forwarding);
    load_log(root, cfg.log);
    load_gate(root, cfg.gate);
    load_rules(root, cfg.gate.policy.rules);
    load_admin(root, cfg.listeners, cfg.admin);
    load_checks(root, cfg.reopen);
    load_reopen(root, cfg.reopen);
    check_distinct_files(root, cfg);
}

void loader::load_listeners(const toml::table& root, std::vector<listener_config>& out)
{
    constexpr std::string_view required = "at least one [[listener]] is required";
    const toml::node* node = root.get("listener");
    if (!node) {
        fail_document(std::string(required));
        return;
    }
    const auto* array = node->as_array();
    if (!array) {
        fail(*node, "listener: expected an array of tables ([[listener]]), got " + describe(*node));
        return;
    }
    if (array->empty()) {
        fail(*node, std::string(required));
        return;
    }

    // Identity -> index of the first listener that used it.
    std::vector<std::pair<std::string, std::size_t>> seen;
    std::vector<const toml::node*> redirect_to_own_port;
    bool any_https = false;
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = (*array)[i];
        const std::string path = "listener[" + std::to_string(i) + "]";
        const auto* t = element.as_table();
        if (!t) {
            fail(element, path + ": expected a table ([[listener]]), got " + describe(element));
            continue;
        }
        const scope s{*t, path};
        check_keys(s, listener_keys, "in " + path);

        listener_config l;
        // Judged by the keys present, so one mistake in tls_cert does not also make every
        // other TLS key an error.
        const bool https = t->get("tls_cert") || t->get("tls_key");
        load_listener_tls(s, l);
        load_listener_redirect(s, l);
        if (l.redirect_https && l.redirect_to.empty())
            redirect_to_own_port.push_back(t->get("redirect_https"));
        any_https = any_https || https;

        if (!t->get("address")) {
            fail(*t, "missing required key \"address\" in " + path);
            continue;
        }
        const std::string* address = string_value(s, "address", "a string such as \"127.0.0.1:8080\"");
        if (!address)
            continue;
        auto parsed = parse_listen_address(*address);
        const toml::node& address_node = *t->get("address");
        if (!parsed.error.empty()) {
            fail(address_node, s.name("address") + ": " + parsed.error);
            continue;
        }
        // Port 0 is exempt: each such listener gets its own kernel-chosen port.
        if (parsed.port != 0) {
            const auto earlier = std::find_if(seen.begin(), seen.end(),
                                              [&](const auto& entry) { return entry.first == parsed.identity; });
            if (earlier != seen.end()) {
                fail(address_node, s.name("address") + ": " + quote(*address) + " is already used by listener["
                                       + std::to_string(earlier->second) + "]");
                continue;
            }
            seen.emplace_back(parsed.identity, i);
        }
        l.address = *address;
        l.host = std::move(parsed.host);
        l.port = parsed.port;
        out.push_back(std::move(l));
    }
    // `redirect_https = true` sends clients to this server's own HTTPS port.
    if (!any_https) {
        for (const toml::node* n : redirect_to_own_port)
            fail(*n, "redirect_https: true needs an HTTPS listener (one with tls_cert) in this file; otherwise give "
                     "the URL, such as \"https://example.com\"");
    }
}

std::string loader::position(const toml::node& node) const
{
    const auto& at = node.source().begin;
    return file_ + ":" + std::to_string(at.line) + ":" + std::to_string(at.column);
}

std::optional<tls_certificate> loader::load_certificate(const scope& s, bool names_allowed)
{
    tls_certificate c;
    bool ok = true;
    for (auto [key, target] : {std::pair{"tls_cert", &c.cert}, std::pair{"tls_key", &c.key}}) {
        const toml::node* node = s.table.get(key);
        if (!node) {
            fail(s.table, "missing required key \"" + std::string(key) + "\" in " + s.path);
            ok = false;
            continue;
        }
        auto path = path_value(s, key, "a PEM file path", false);
        if (!path) {
            ok = false;
        } else if (path->empty()) {
            fail(*node, s.name(key) + ": must name a PEM file");
            ok = false;
        } else {
            *target = std::move(*path);
        }
    }
    if (const toml::node* node = s.table.get("server_names"); node && names_allowed) {
        const auto* array = node->as_array();
        if (!array || array->empty()) {
            fail(*node, s.name("server_names") + ": expected an array of names such as [\"example.com\", "
                                                 "\"*.example.com\"], got " + describe(*node));
            ok = false;
        } else {
            for (std::size_t i = 0; i < array->size(); ++i) {
                const toml::node& e = (*array)[i];
                const std::string epath = s.name("server_names") + "[" + std::to_string(i) + "]";
                const auto* text = e.as_string();
                if (!text || !is_server_name(text->get())) {
                    fail(e, epath + ": expected a DNS name such as \"example.com\" or \"*.example.com\", got "
                                + describe(e));
                    ok = false;
                    continue;
                }
                std::string name = text->get();
                std::transform(name.begin(), name.end(), name.begin(),
                               [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
                c.server_names.push_back(std::move(name));
            }
        }
    }
    if (const toml::node* node = s.table.get("tls_cert"))
        c.where = position(*node);
    if (!ok)
        return std::nullopt;
    return c;
}

void loader::load_listener_tls(const scope& s, listener_config& l)
{
    const toml::table& t = s.table;
    const toml::node* cert = t.get("tls_cert");
    const toml::node* key = t.get("tls_key");
    if (cert && !key) {
        fail(*cert, s.name("tls_cert") + ": set tls_key too (the private key of this certificate)");
    } else if (key && !cert) {
        fail(*key, s.name("tls_key") + ": set tls_cert too (the certificate chain this key belongs to)");
    } else if (cert && key) {
        if (auto c = load_certificate(s, false))
            l.tls = std::move(*c);
    }
    if (!cert && !key) {
        for (const char* k : {"sni", "tls_ciphers", "tls_ciphersuites", "tls_min_version", "hsts"}) {
            if (const toml::node* n = t.get(k))
                fail(*n, s.name(k) + ": only an HTTPS listener takes this; give it tls_cert and tls_key");
        }
        return;
    }

    if (const toml::node* node = t.get("sni")) {
        const auto* array = node->as_array();
        if (!array) {
            fail(*node, s.name("sni") + ": expected [[" + s.name("sni") + "]] tables, got " + describe(*node));
        } else {
            for (std::size_t i = 0; i < array->size(); ++i) {
                const toml::node& e = (*array)[i];
                const std::string epath = s.name("sni") + "[" + std::to_string(i) + "]";
                const auto* et = e.as_table();
                if (!et) {
                    fail(e, epath + ": expected a table with tls_cert and tls_key, got " + describe(e));
                    continue;
                }
                const scope es{*et, epath};
                check_keys(es, sni_keys, "in " + epath);
                if (auto c = load_certificate(es, true))
                    l.sni.push_back(std::move(*c));
            }
        }
    }
    // OpenSSL judges the lists when the contexts are built; here only what could never be one.
    const auto cipher_text = [](std::string_view text) {
        return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("-_:+!@=.,").find(c) != std::string_view::npos;
        });
    };
    for (auto [k, target] : {std::pair{"tls_ciphers", &l.tls_ciphers}, std::pair{"tls_ciphersuites", &l.tls_ciphersuites}}) {
        if (const std::string* v = string_value(s, k, "an OpenSSL cipher list such as \"ECDHE-RSA-AES128-GCM-SHA256\"")) {
            if (!cipher_text(*v))
                fail(*t.get(k), s.name(k) + ": " + quote(*v) + " is not an OpenSSL cipher list (names joined by \":\")");
            else
                *target = *v;
        }
    }
    if (const auto v = one_of(s, "tls_min_version", tls_versions)) {
        l.tls_min_version = 0x0301 + static_cast<int>(std::find(std::begin(tls_versions), std::end(tls_versions), *v)
                                                       - std::begin(tls_versions));
    }
    if (const std::string* v = string_value(s, "hsts", "a Strict-Transport-Security value such as \"max-age=31536000\"")) {
        if (auto problem = hsts_problem(*v); !problem.empty())
            fail(*t.get("hsts"), s.name("hsts") + ": " + quote(*v) + " " + problem);
        else if (!v->empty())
            l.hsts_field = "Strict-Transport-Security: " + *v + "\r\n";
    }
}

void loader::load_listener_redirect(const scope& s, listener_config& l)
{
    const toml::table& t = s.table;
    const bool https = t.get("tls_cert") || t.get("tls_key");
    bool redirect_ok = true;
    if (const toml::node* node = t.get("redirect_https")) {
        if (https) {
            fail(*node, s.name("redirect_https") + ": an HTTPS listener cannot redirect to HTTPS; set it on a plain "
                                                   "listener");
            redirect_ok = false;
        } else if (const auto* b = node->as_boolean()) {
            l.redirect_https = b->get();
        } else if (const auto* text = node->as_string()) {
            const std::string& url = text->get();
            auto parsed = parse_upstream_url(url, "the redirect URL");
            if (url.size() < 8 || !policy::iequals(std::string_view(url).substr(0, 8), "https://")) {
                fail(*node, s.name("redirect_https") + ": " + quote(url) + " is not an https:// URL; use true, or "
                                                       "a URL such as \"https://example.com\"");
                redirect_ok = false;
            } else if (!parsed.error.empty()) {
                fail(*node, s.name("redirect_https") + ": " + parsed.error);
                redirect_ok = false;
            } else {
                l.redirect_https = true;
                // The request's own path and query follow the authority.
                std::string_view authority = std::string_view(url).substr(8);
                authority = authority.substr(0, authority.find('/'));
                l.redirect_to = "https://" + std::string(authority);
            }
        } else {
            fail(*node, s.name("redirect_https") + ": expected true or a URL such as \"https://example.com\", got "
                            + describe(*node));
            redirect_ok = false;
        }
    }
    const toml::node* node = t.get("redirect_except");
    if (!node)
        return;
    if (!l.redirect_https) {
        if (redirect_ok)
            fail(*node, s.name("redirect_except") + ": only a listener with redirect_https takes this");
        return;
    }
    const auto* array = node->as_array();
    if (!array) {
        fail(*node, s.name("redirect_except") + ": expected an array of paths such as [\"/healthz\"], got "
                        + describe(*node));
        return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& e = (*array)[i];
        const std::string epath = s.name("redirect_except") + "[" + std::to_string(i) + "]";
        const auto* text = e.as_string();
        if (!text) {
            fail(e, epath + ": expected a path such as \"/healthz\", got " + describe(e));
            continue;
        }
        if (auto problem = redirect_path_problem(text->get()); !problem.empty())
            fail(e, epath + ": " + quote(text->get()) + " " + problem);
        else
            l.redirect_except.push_back(text->get());
    }
}

void loader::load_upstream(const toml::table& root, upstream_config& out)
{
    if (!root.get("upstream")) {
        fail_document("missing required table [upstream] (url = \"http://HOST:PORT\" of the app to forward to)");
        return;
    }
    const toml::table* t = table(root, "upstream");
    if (!t)
        return;
    const scope s{*t, "upstream"};
    check_keys(s, upstream_keys, "in [upstream]");

    if (!t->get("url")) {
        fail(*t, "missing required key \"url\" in [upstream]");
    } else if (const std::string* url = string_value(s, "url", "a string such as \"http://127.0.0.1:3000\"")) {
        auto parsed = parse_upstream_url(*url);
        if (!parsed.error.empty()) {
            fail(*t->get("url"), "upstream.url: " + parsed.error);
        } else {
            out.url = *url;
            out.host = std::move(parsed.host);
            out.port = parsed.port;
            out.tls = parsed.tls;
            out.tls_where = position(*t->get("url"));
        }
    }

    // Judged by the URL's text, so a mistake elsewhere in it does not also make these errors.
    const toml::node* url_node = t->get("url");
    const bool https = url_node && url_node->is_string()
                       && policy::istarts_with(url_node->as_string()->get(), "https://");
    if (!https) {
        for (const char* k : {"tls_verify", "tls_ca_file", "tls_server_name"}) {
            if (const toml::node* n = t->get(k))
                fail(*n, s.name(k) + ": only an https:// upstream takes this");
        }
    } else {
        if (const auto v = boolean(s, "tls_verify"))
            out.tls_verify = *v;
        if (auto f = path_value(s, "tls_ca_file", "a PEM file path", false))
            out.tls_ca_file = std::move(*f);
        if (const std::string* name = string_value(s, "tls_server_name", "a host name such as \"app.internal\"")) {
            if (!name->empty() && !is_host_name(*name))
                fail(*t->get("tls_server_name"), "upstream.tls_server_name: " + quote(*name) + " is not a valid host name");
            else
                out.tls_server_name = *name;
        }
        if (!out.tls_verify && !out.tls_ca_file.empty())
            fail(*t->get("tls_ca_file"), "upstream.tls_ca_file: set, but tls_verify = false ignores it; remove one");
    }

    if (const std::string* host = string_value(s, "host_header", "a string such as \"app.example.com\"")) {
        // The value goes verbatim into a request head: a space, CR or LF would let the
        // config split or smuggle headers.
        const bool ok = std::all_of(host->begin(), host->end(), [](char c) { return c > 0x20 && c < 0x7f; });
        if (ok)
            out.host_header = *host;
        else
            fail(*t->get("host_header"), "upstream.host_header: " + quote(*host)
                                             + " is not a valid Host header value (no spaces, control or "
                                               "non-ASCII characters)");
    }
    if (const auto d = positive_duration(s, "connect_timeout"))
        out.connect_timeout = *d;
    if (const auto d = positive_duration(s, "response_timeout"))
        out.response_timeout = *d;
    if (const auto d = positive_duration(s, "idle_timeout"))
        out.idle_timeout = *d;
    if (const auto n = integer(s, "max_idle", 0, 100'000))
        out.max_idle = static_cast<std::size_t>(*n);
}

void loader::load_timeouts(const toml::table& root, timeouts_config& out)
{
    const toml::table* t = table(root, "timeouts");
    if (!t)
        return;
    const scope s{*t, "timeouts"};
    check_keys(s, timeouts_keys, "in [timeouts]");

    const std::pair<std::string_view, duration*> fields[] = {
        {"header", &out.header},
        {"body_idle", &out.body_idle},
        {"keepalive", &out.keepalive},
        {"send", &out.send},
        {"tunnel_idle", &out.tunnel_idle},
        {"expect_continue", &out.expect_continue},
        {"shutdown", &out.shutdown},
    };
    for (const auto& [key, field] : fields) {
        if (const auto d = positive_duration(s, key))
            *field = *d;
    }
}

void loader::load_limits(const toml::table& root, limits_config& out)
{
    const toml::table* t = table(root, "limits");
    if (!t)
        return;
    const scope s{*t, "limits"};
    check_keys(s, limits_keys, "in [limits]");

    if (const auto n = integer(s, "max_connections", 1, 1'000'000))
        out.max_connections = static_cast<std::size_t>(*n);

    bool header_size_valid = true;
    if (const auto n = integer(s, "max_header_size", 1024, 1'048'576))
        out.max_header_size = static_cast<std::size_t>(*n);
    else if (t->get("max_header_size"))
        header_size_valid = false;

    if (const auto n = integer(s, "max_headers", 1, 10'000))
        out.max_headers = static_cast<std::size_t>(*n);

    // The request-target is part of the head, so a URI limit above the head limit
    // could never be reached. Against an invalid max_header_size (already reported)
    // only the absolute bounds are checked, to avoid a second error for one mistake.
    const std::int64_t uri_ceiling = header_size_valid ? static_cast<std::int64_t>(out.max_header_size) : 1'048'576;
    if (const auto n = integer(s, "max_uri_size", std::numeric_limits<std::int64_t>::min(),
                               std::numeric_limits<std::int64_t>::max())) {
        const toml::node& node = *t->get("max_uri_size");
        if (*n < 16 || (*n > uri_ceiling && !header_size_valid)) {
            fail(node, "limits.max_uri_size: " + std::to_string(*n) + " is out of range (16-"
                           + std::to_string(uri_ceiling) + ")");
        } else if (*n > uri_ceiling) {
            const std::string header_size = std::to_string(out.max_header_size)
                                            + (t->get("max_header_size") ? "" : ", the default");
            fail(node, "limits.max_uri_size: " + std::to_string(*n) + " is larger than limits.max_header_size ("
                           + header_size + "); the request-target must fit in the request head");
        } else {
            out.max_uri_size = static_cast<std::size_t>(*n);
        }
    }

    if (const toml::node* node = t->get("max_body_size")) {
        constexpr std::string_view usage
            = "use a whole number of bytes, or a string with a unit k, M, G or T, such as \"64k\" or \"10M\"";
        if (const auto* n = node->as_integer()) {
            if (n->get() < 0)
                fail(*node, "limits.max_body_size: " + std::to_string(n->get())
                                + " is negative; use 0 for no limit, or a size in bytes");
            else
                out.max_body_size = static_cast<std::uint64_t>(n->get());
        } else if (const auto* text = node->as_string()) {
            std::uint64_t bytes = 0;
            switch (parse_size(text->get(), bytes)) {
            case size_status::ok: out.max_body_size = bytes; break;
            case size_status::malformed:
                fail(*node, "limits.max_body_size: " + quote(text->get()) + " is not a size; " + std::string(usage));
                break;
            case size_status::too_large:
                fail(*node, "limits.max_body_size: " + quote(text->get()) + " is too large");
                break;
            }
        } else {
            fail(*node, "limits.max_body_size: expected a size such as 1048576 or \"10M\", got " + describe(*node));
        }
    }
}

void loader::load_forwarding(const toml::table& root, forwarding_config& out)
{
    const toml::table* t = table(root, "forwarding");
    if (!t)
        return;
    const scope s{*t, "forwarding"};
    check_keys(s, forwarding_keys, "in [forwarding]");

    if (const toml::node* node = t->get("trusted_proxies"))
        load_cidrs(*node, "forwarding.trusted_proxies", out.trusted_proxies);
    if (const auto via = boolean(s, "via"))
        out.via = *via;

    constexpr std::string_view underscore_choices[] = {"drop", "reject", "forward"};
    if (const auto choice = one_of(s, "underscores_in_headers", underscore_choices)) {
        out.underscores_in_headers = *choice == "reject"    ? underscores_policy::reject
                                     : *choice == "forward" ? underscores_policy::forward
                                                            : underscores_policy::drop;
    }
}

void loader::load_log(const toml::table& root, log_config& out)
{
    const toml::table* t = table(root, "log");
    if (!t)
        return;
    const scope s{*t, "log"};
    check_keys(s, log_keys, "in [log]");

    if (const std::string* error = string_value(s, "error", "a string (\"stderr\" or a file path)")) {
        if (error->empty())
            fail(*t->get("error"), "log.error: must be \"stderr\" or a file path, got \"\"");
        else
            out.error = *error;
    }
    if (const auto level = one_of(s, "level", log_levels))
        out.level = std::string(*level);
    if (const std::string* access = string_value(s, "access", "a string (\"\" for none, \"stdout\", \"stderr\" or a file path)"))
        out.access = *access;

    constexpr std::string_view formats[] = {"combined", "json"};
    if (const auto format = one_of(s, "access_format", formats))
        out.format = *format == "json" ? access_format::json : access_format::combined;
}


void loader::load_cidrs(const toml::node& node, const std::string& path, std::vector<policy::cidr>& out)
{
    const auto* array = node.as_array();
    if (!array) {
        fail(node, path + ": expected an array of strings such as [\"10.0.0.0/8\"], got " + describe(node));
        return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = (*array)[i];
        const std::string element_path = path + "[" + std::to_string(i) + "]";
        const auto* text = element.as_string();
        if (!text) {
            fail(element, element_path + ": expected a string such as \"10.0.0.0/8\", got " + describe(element));
            continue;
        }
        auto parsed = policy::parse_cidr(text->get());
        if (parsed.value)
            out.push_back(*parsed.value);
        else
            fail(element, element_path + ": " + parsed.error);
    }
}

namespace {

bool is_tchar(char c)
{
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view text)
{
    return !text.empty() && std::all_of(text.begin(), text.end(), is_tchar);
}

// A local path the gate answers itself: absolute, no query, no dot segments, visible ASCII.
std::string check_local_path(std::string_view text)
{
    if (text.empty() || text.front() != '/')
        return "must start with \"/\"";
    for (char c : text) {
        if (c <= ' ' || c == 0x7f || static_cast<unsigned char>(c) >= 0x80)
            return "must be visible ASCII without spaces";
        if (c == '?' || c == '#' || c == '%' || c == '\\')
            return "must not contain '?', '#', '%' or '\\'";
    }
    if (text.find("//") != std::string_view::npos || text.find("/./") != std::string_view::npos
        || text.find("/../") != std::string_view::npos || text.ends_with("/.") || text.ends_with("/.."))
        return "must be a normalised path (no \"//\", \".\" or \"..\" segments)";
    return {};
}

}  // namespace

std::string loader::load_page(const toml::node* where, const std::string& dir, std::string_view name,
                              std::string_view builtin)
{
    std::string text;
    std::string source = "built-in " + std::string(name);
    if (!dir.empty()) {
        source = dir + "/" + std::string(name);
        std::FILE* f = std::fopen(source.c_str(), "rb");
        if (!f) {
            const std::string reason = std::generic_category().message(errno);
            if (where)
                fail(*where, "gate.pages_dir: cannot read " + quote(source) + ": " + reason);
            return {};
        }
        char buf[16 * 1024];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
            text.append(buf, n);
        const bool failed = std::ferror(f);
        std::fclose(f);
        if (failed) {
            if (where)
                fail(*where, "gate.pages_dir: cannot read " + quote(source));
            return {};
        }
        if (text.size() > 1024 * 1024) {
            if (where)
                fail(*where, "gate.pages_dir: " + quote(source) + " is larger than 1 MiB");
            return {};
        }
    } else {
        text = std::string(builtin);
    }
    if (auto problem = validate_template(text)) {
        // The template is its own file: report the error there, as an editor would.
        errors_.push_back({source, problem->line, problem->column, problem->message});
        return {};
    }
    return text;
}

void loader::load_gate(const toml::table& root, gate_settings& out)
{
    const toml::table* t = table(root, "gate");
    static const toml::table empty;
    const scope s{t ? *t : empty, "gate"};
    if (t)
        check_keys(s, gate_keys, "in [gate]");

    if (const auto m = one_of(s, "initial_mode", mode_names))
        out.initial_mode = *policy::parse_mode(*m);
    if (const auto m = one_of(s, "corrupt_state_mode", mode_names)) {
        if (*m == "open")
            fail(*s.table.get("corrupt_state_mode"),
                 "gate.corrupt_state_mode: \"open\" is not allowed: an unreadable state file must never reopen "
                 "the app; use \"read-only\" or \"maintenance\"");
        else
            out.corrupt_state_mode = *policy::parse_mode(*m);
    }
    if (auto f = path_value(s, "state_file", "a file path", false))
        out.state_file = std::move(*f);
    if (auto f = path_value(s, "audit_log", "a file path", false))
        out.audit_log = std::move(*f);
    if (const auto d = positive_duration(s, "retry_after"))
        out.retry_after = *d;
    if (const auto b = boolean(s, "upstream_down_page"))
        out.upstream_down_page = *b;
    if (auto dir = path_value(s, "pages_dir", "a directory path", true))
        out.pages_dir = std::move(*dir);
    const toml::node* pages_node = s.table.get("pages_dir");
    out.maintenance_page = load_page(pages_node, out.pages_dir, "maintenance.html", builtin_maintenance_page());
    out.read_only_page = load_page(pages_node, out.pages_dir, "read_only.html", builtin_read_only_page());

    auto& p = out.policy;
    if (const toml::node* node = s.table.get("bypass_cidrs"))
        load_cidrs(*node, "gate.bypass_cidrs", p.bypass_cidrs);
    if (const std::string* secret = string_value(s, "bypass_secret", "a string of at least 16 characters")) {
        const toml::node& node = *s.table.get("bypass_secret");
        // The secret travels in a URL path and a header: it must survive both unescaped,
        // and be long enough that guessing it is hopeless.
        const bool url_safe = std::all_of(secret->begin(), secret->end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '~';
        });
        // An empty secret means no secret bypass, as when the key is absent.
        if (!secret->empty() && secret->size() < 16)
            fail(node, "gate.bypass_secret: must be at least 16 characters (it is " + std::to_string(secret->size())
                           + "); try `openssl rand -hex 24`");
        else if (!url_safe)
            fail(node, "gate.bypass_secret: use only letters, digits, '-', '_', '.' and '~' (it appears in a URL)");
        else if (!secret->empty()) {
            p.bypass_secret = *secret;
            p.signer = policy::bypass_signer(*secret);
        }
    }
    if (const std::string* h = string_value(s, "bypass_header", "a header name")) {
        if (!is_token(*h))
            fail(*s.table.get("bypass_header"), "gate.bypass_header: " + quote(*h) + " is not a valid header name");
        else {
            p.bypass_header = *h;
            std::transform(p.bypass_header.begin(), p.bypass_header.end(), p.bypass_header.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        }
    }
    for (auto [key, target] : {std::pair{"bypass_path", &p.bypass_path}, std::pair{"status_path", &p.status_path}}) {
        if (const std::string* v = string_value(s, key, "a path such as \"/.well-known/maintgate\"")) {
            if (auto problem = check_local_path(*v); !problem.empty())
                fail(*s.table.get(key), s.name(key) + ": " + quote(*v) + " " + problem);
            else
                *target = *v;
        }
    }
    if (const auto d = positive_duration(s, "bypass_cookie_ttl"))
        p.bypass_cookie_ttl = std::chrono::duration_cast<std::chrono::seconds>(*d);
}

void loader::load_rules(const toml::table& root, std::vector<policy::rule>& out)
{
    const toml::node* node = root.get("rule");
    if (!node)
        return;
    const auto* array = node->as_array();
    if (!array) {
        fail(*node, "rule: expected [[rule]] tables, got " + describe(*node));
        return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = (*array)[i];
        const std::string path = "rule[" + std::to_string(i) + "]";
        const auto* t = element.as_table();
        if (!t) {
            fail(element, path + ": expected a table, got " + describe(element));
            continue;
        }
        const scope s{*t, path};
        check_keys(s, rule_keys, "in [[rule]]");
        policy::rule r;
        bool ok = true;

        if (const auto a = one_of(s, "action", rule_actions))
            r.action = *policy::parse_rule_action(*a);
        else {
            if (!t->get("action"))
                fail(*t, path + ": \"action\" is required (allow, read, allow-writes-in-read-only or webhook)");
            ok = false;
        }
        if (const std::string* reason = string_value(s, "reason", "a string saying why the exception exists")) {
            if (reason->empty()) {
                fail(*t->get("reason"), path + ".reason: must not be empty: say why this exception exists");
                ok = false;
            } else {
                r.reason = *reason;
            }
        } else {
            if (!t->get("reason"))
                fail(*t, path + ": \"reason\" is required: say why this exception exists");
            ok = false;
        }

        int matchers = 0;
        if (const std::string* v = string_value(s, "path", "a path such as \"/login\"")) {
            ++matchers;
            if (v->empty() || v->front() != '/')
                fail(*t->get("path"), path + ".path: " + quote(*v) + " must start with \"/\"");
            else
                r.path = *v;
        }
        if (const std::string* v = string_value(s, "path_prefix", "a path such as \"/healthz\"")) {
            ++matchers;
            if (v->empty() || v->front() != '/')
                fail(*t->get("path_prefix"), path + ".path_prefix: " + quote(*v) + " must start with \"/\"");
            else
                r.path_prefix = *v;
        }
        if (const std::string* v = string_value(s, "path_regex", "a regular expression such as \"^/api/v[0-9]+/search$\"")) {
            ++matchers;
            auto compiled = policy::path_regex::compile(*v);
            if (compiled.value) {
                r.regex = std::move(*compiled.value);
            } else {
                // Point at the offending character inside the quoted string.
                const toml::node& n = *t->get("path_regex");
                toml::source_region at = n.source();
                at.begin.column += static_cast<toml::source_index>(1 + compiled.offset);
                fail(at, path + ".path_regex: " + compiled.error);
                ok = false;
            }
        }
        if (matchers == 0 && !t->get("host")) {
            fail(*t, path + ": give at least one of path, path_prefix, path_regex or host");
            ok = false;
        }
        if (const toml::node* m = t->get("methods")) {
            if (const auto* methods = m->as_array()) {
                for (std::size_t j = 0; j < methods->size(); ++j) {
                    const toml::node& e = (*methods)[j];
                    const auto* text = e.as_string();
                    const std::string mpath = path + ".methods[" + std::to_string(j) + "]";
                    if (!text || !is_token(text->get())) {
                        fail(e, mpath + ": expected a method name such as \"POST\", got " + describe(e));
                        ok = false;
                    } else if (std::any_of(text->get().begin(), text->get().end(),
                                           [](unsigned char c) { return std::islower(c); })) {
                        // Methods are case-sensitive; "post" would never match a real POST.
                        fail(e, mpath + ": " + quote(text->get()) + " is not upper-case; methods are case-sensitive");
                        ok = false;
                    } else {
                        r.methods.push_back(text->get());
                    }
                }
            } else {
                fail(*m, path + ".methods: expected an array such as [\"POST\"], got " + describe(*m));
                ok = false;
            }
        }
        if (const std::string* h = string_value(s, "host", "a host name such as \"app.example.com\"")) {
            r.host = *h;
            std::transform(r.host.begin(), r.host.end(), r.host.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        }
        if (ok)
            out.push_back(std::move(r));
    }
}

namespace {

// A user or group as the server will look it up: a numeric id, or a name of the characters
// useradd accepts. It is not resolved here: `maintgate check` may run on a machine where
// the account does not exist, and the server reports a missing one when it starts.
bool is_account(std::string_view text)
{
    if (text.empty())
        return false;
    if (std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        // (uid_t)-1 means "leave unchanged" to chown(), so it cannot name an account.
        if (text.size() > 10)
            return false;
        return std::stoull(std::string(text)) < 4'294'967'295ULL;
    }
    if (text.size() > 32)
        return false;
    const auto name_char = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'
               || c == '.';
    };
    const std::string_view body = text.back() == '$' ? text.substr(0, text.size() - 1) : text;
    return !body.empty() && body.front() != '-' && std::all_of(body.begin(), body.end(), name_char);
}

enum class mode_status { ok, malformed, too_large };

// "0600", "600", "0o600": three or four octal digits, permission bits only.
mode_status parse_socket_mode(std::string_view text, std::uint32_t& out)
{
    if (text.starts_with("0o"))
        text.remove_prefix(2);
    if (text.empty() || text.size() > 4
        || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '7'; }))
        return mode_status::malformed;
    std::uint32_t value = 0;
    for (const char c : text)
        value = value * 8 + static_cast<std::uint32_t>(c - '0');
    if (value > 0777)
        return mode_status::too_large;
    out = value;
    return mode_status::ok;
}

// The target of a check is sent on the request line exactly as written, so a space or a
// control byte would split that line.
std::string check_target_problem(std::string_view text)
{
    if (text.empty() || text.front() != '/')
        return "must start with \"/\"";
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c >= 0x7f)
            return "must be visible ASCII without spaces (percent-encode the rest)";
        if (c == '#')
            return "must not contain \"#\": a fragment is never sent to a server";
    }
    return {};
}

// CR, LF and NUL would let a value split the request into two; the other control bytes
// are refused by most servers anyway. A tab is legal inside a field value.
bool has_control(std::string_view text)
{
    return std::any_of(text.begin(), text.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return (c < 0x20 && c != '\t') || c == 0x7f;
    });
}

bool is_visible_ascii(std::string_view text)
{
    return std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// sun_path holds 108 bytes, one of them the terminating NUL.
constexpr std::size_t max_socket_path = 107;

}  // namespace

void loader::load_admin(const toml::table& root, const std::vector<listener_config>& listeners, admin_config& out)
{
    const toml::table* t = table(root, "admin");
    if (!t)
        return;
    const scope s{*t, "admin"};
    check_keys(s, admin_keys, "in [admin]");

    if (auto path = path_value(s, "socket", "a Unix socket path such as \"/run/maintgate/admin.sock\"", false)) {
        if (path->size() > max_socket_path)
            fail(*t->get("socket"), "admin.socket: " + quote(*path) + " is " + std::to_string(path->size())
                                        + " bytes long; a Unix socket path can be at most "
                                        + std::to_string(max_socket_path) + " bytes");
        else
            out.socket = std::move(*path);
    }

    if (const toml::node* node = t->get("socket_mode")) {
        constexpr std::string_view usage = "write it as an octal string such as \"0600\" or \"0660\"";
        std::optional<std::uint32_t> mode;
        std::string shown;
        if (const auto* text = node->as_string()) {
            std::uint32_t value = 0;
            shown = quote(text->get());
            switch (parse_socket_mode(text->get(), value)) {
            case mode_status::ok: mode = value; break;
            case mode_status::malformed:
                fail(*node, "admin.socket_mode: " + shown + " is not an octal mode; " + std::string(usage));
                break;
            case mode_status::too_large:
                fail(*node, "admin.socket_mode: " + shown
                                + " sets special bits (setuid, setgid, sticky), which mean nothing on a socket; "
                                  "use permission bits only, such as \"0600\"");
                break;
            }
        } else if (const auto* n = node->as_integer();
                   n && (n->flags() & toml::value_flags::format_as_octal) != toml::value_flags::none) {
            // TOML's own octal literal (0o600) is unambiguous; a decimal 600 is not.
            char text[16];
            std::snprintf(text, sizeof text, "0o%llo", static_cast<unsigned long long>(n->get()));
            shown = text;
            if (n->get() > 0777)
                fail(*node, "admin.socket_mode: " + shown
                                + " sets special bits (setuid, setgid, sticky), which mean nothing on a socket; "
                                  "use permission bits only, such as \"0600\"");
            else
                mode = static_cast<std::uint32_t>(n->get());
        } else {
            fail(*node, "admin.socket_mode: expected an octal mode, got " + describe(*node) + "; " + std::string(usage));
        }
        // Connecting to a Unix socket needs write permission on it: a world-writable
        // socket lets every local user change the gate's mode.
        if (mode && (*mode & 0002) != 0)
            fail(*node, "admin.socket_mode: " + shown
                            + " lets every local user connect and change the mode; use \"0600\", or \"0660\" with "
                              "socket_group");
        else if (mode)
            out.socket_mode = *mode;
    }

    for (auto [key, target, what] : {std::tuple{"socket_owner", &out.socket_owner, "user name or numeric uid"},
                                     std::tuple{"socket_group", &out.socket_group, "group name or numeric gid"}}) {
        if (const std::string* v = string_value(s, key, std::string("a ") + what)) {
            if (!v->empty() && !is_account(*v))
                fail(*t->get(key), s.name(key) + ": " + quote(*v) + " is not a " + what);
            else
                *target = *v;
        }
    }

    if (const std::string* metrics = string_value(s, "metrics", "a string such as \"127.0.0.1:9180\"")) {
        const toml::node& node = *t->get("metrics");
        auto parsed = parse_listen_address(*metrics);
        // Port 0 is exempt, as between listeners: the kernel picks a fresh port for each.
        const auto taken = std::find_if(listeners.begin(), listeners.end(), [&](const listener_config& l) {
            return parsed.port != 0 && parse_listen_address(l.address).identity == parsed.identity;
        });
        if (metrics->empty()) {
            // No metrics listener, as when the key is absent.
        } else if (!parsed.error.empty()) {
            fail(node, "admin.metrics: " + parsed.error);
        } else if (taken != listeners.end()) {
            fail(node, "admin.metrics: " + quote(*metrics) + " is already used by listener["
                           + std::to_string(taken - listeners.begin()) + "]");
        } else {
            out.metrics = *metrics;
            out.metrics_host = std::move(parsed.host);
            out.metrics_port = parsed.port;
        }
    }
}

check_request loader::load_check(const scope& s, std::string_view where)
{
    check_request c;
    if (const std::string* m = string_value(s, "method", "a method name such as \"GET\"")) {
        const toml::node& node = *s.table.get("method");
        if (!is_token(*m))
            fail(node, s.name("method") + ": " + quote(*m) + " is not a method name");
        else if (std::any_of(m->begin(), m->end(), [](char ch) { return ch >= 'a' && ch <= 'z'; }))
            fail(node, s.name("method") + ": " + quote(*m) + " is not upper-case; methods are case-sensitive");
        else if (*m == "CONNECT")
            fail(node, s.name("method") + ": \"CONNECT\" opens a tunnel and cannot be a check; use a method such as "
                                          "\"GET\"");
        else
            c.method = *m;
    }

    if (!s.table.get("path")) {
        fail(s.table, "missing required key \"path\" in " + std::string(where));
    } else if (const std::string* p = string_value(s, "path", "a path such as \"/healthz\"")) {
        if (auto problem = check_target_problem(*p); !problem.empty())
            fail(*s.table.get("path"), s.name("path") + ": " + quote(*p) + " " + problem);
        else
            c.path = *p;
    }

    if (const std::string* h = string_value(s, "host", "a string such as \"app.example.com\"")) {
        if (is_visible_ascii(*h))
            c.host = *h;
        else
            fail(*s.table.get("host"), s.name("host") + ": " + quote(*h)
                                           + " is not a valid Host header value (no spaces, control or non-ASCII "
                                             "characters)");
    }
    if (const auto n = integer(s, "expect_status", 100, 599))
        c.expect_status = static_cast<unsigned>(*n);
    if (const std::string* b = string_value(s, "body_contains", "a string to find in the response body")) {
        // The answer to HEAD never has a body, so the check could never pass.
        if (!b->empty() && c.method == "HEAD")
            fail(*s.table.get("body_contains"),
                 s.name("body_contains") + ": a response to HEAD has no body; use \"GET\" to check the content");
        else
            c.body_contains = *b;
    }
    if (const auto d = positive_duration(s, "timeout"))
        c.timeout = *d;
    if (const std::string* b = string_value(s, "body", "a string (the request body)"))
        c.body = *b;

    if (const toml::node* node = s.table.get("headers")) {
        const std::string hpath = s.name("headers");
        if (const auto* headers = node->as_table()) {
            for (const auto& [key, value] : *headers) {
                const std::string_view name = key.str();
                const std::string field = hpath + "." + quote(name);
                if (!is_token(name)) {
                    fail(key.source(), field + ": not a valid header name");
                    continue;
                }
                if (policy::iequals(name, "host")) {
                    fail(key.source(), field + ": set the Host field with " + s.name("host"));
                    continue;
                }
                // The probe frames the request and closes the connection itself; a
                // configured value would contradict what it sends.
                if (policy::iequals(name, "content-length") || policy::iequals(name, "transfer-encoding")
                    || policy::iequals(name, "connection")) {
                    fail(key.source(), field + ": set by the check itself and cannot be configured");
                    continue;
                }
                const auto* text = value.as_string();
                if (!text) {
                    fail(value, field + ": expected a string, got " + describe(value));
                    continue;
                }
                if (has_control(text->get())) {
                    fail(value, field + ": " + quote(text->get())
                                    + " contains a control character (CR, LF or NUL would split the request)");
                    continue;
                }
                c.headers.emplace_back(std::string(name), text->get());
            }
        } else {
            fail(*node, hpath + ": expected a table such as { \"X-Check\" = \"1\" }, got " + describe(*node));
        }
    }

    if (const std::string* n = string_value(s, "name", "a string naming the check")) {
        // The name is printed in reports and logs: one line, no escape sequences.
        if (has_control(*n) || n->find('\t') != std::string::npos)
            fail(*s.table.get("name"), s.name("name") + ": " + quote(*n) + " contains a control character");
        else
            c.name = *n;
    }
    if (c.name.empty())
        c.name = c.method + " " + c.path;
    return c;
}

void loader::load_checks(const toml::table& root, reopen_config& out)
{
    if (const toml::table* t = table(root, "health_check")) {
        const scope s{*t, "health_check"};
        check_keys(s, health_check_keys, "in [health_check]");
        out.health = load_check(s, "[health_check]");
        // "0s" is documented as "no background check": the check still gates each step.
        if (const auto d = duration_value(s, "interval", true))
            out.health_interval = *d;
    }

    const toml::node* node = root.get("smoke_check");
    if (!node)
        return;
    const auto* array = node->as_array();
    if (!array) {
        fail(*node, "smoke_check: expected [[smoke_check]] tables, got " + describe(*node));
        return;
    }
    // Explicit name -> index, so two checks never share a line in a report.
    std::vector<std::pair<std::string, std::size_t>> named;
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = (*array)[i];
        const std::string path = "smoke_check[" + std::to_string(i) + "]";
        const auto* t = element.as_table();
        if (!t) {
            fail(element, path + ": expected a table ([[smoke_check]]), got " + describe(element));
            continue;
        }
        const scope s{*t, path};
        check_keys(s, smoke_check_keys, "in " + path);
        check_request c = load_check(s, path);
        if (const toml::node* name = t->get("name"); name && name->is_string() && !name->as_string()->get().empty()) {
            const auto earlier = std::find_if(named.begin(), named.end(),
                                              [&](const auto& entry) { return entry.first == c.name; });
            if (earlier != named.end())
                fail(*name, path + ".name: " + quote(c.name) + " is already used by smoke_check["
                                + std::to_string(earlier->second) + "]");
            else
                named.emplace_back(c.name, i);
        }
        out.smoke.push_back(std::move(c));
    }
}

void loader::load_reopen(const toml::table& root, reopen_config& out)
{
    const toml::table* t = table(root, "reopen");
    if (!t)
        return;
    const scope s{*t, "reopen"};
    check_keys(s, reopen_keys, "in [reopen]");

    if (const auto d = duration_value(s, "watch", true))
        out.watch = *d;

    if (const toml::node* node = t->get("max_error_rate")) {
        // An integer is accepted too: "max_error_rate = 1" is a natural way to write it.
        std::optional<double> rate;
        if (const auto* f = node->as_floating_point())
            rate = f->get();
        else if (const auto* n = node->as_integer())
            rate = static_cast<double>(n->get());
        if (!rate) {
            fail(*node, "reopen.max_error_rate: expected a number such as 0.05 (5%), got " + describe(*node));
        } else if (!(*rate > 0.0 && *rate <= 1.0)) {  // written so that nan fails too
            fail(*node, "reopen.max_error_rate: must be greater than 0 and at most 1 (a share: 0.05 is 5%), got "
                            + describe(*node));
        } else {
            out.max_error_rate = *rate;
        }
    }

    if (const auto n = integer(s, "min_requests", 1, 1'000'000'000))
        out.min_requests = static_cast<std::uint64_t>(*n);

    if (const auto d = positive_duration(s, "freeze_timeout")) {
        // Users' writes are refused while a freeze waits; an hour is already a long outage.
        if (*d > std::chrono::hours(1))
            fail(*t->get("freeze_timeout"), "reopen.freeze_timeout: must be at most 1h, got "
                                                + quote(t->get("freeze_timeout")->as_string()->get()));
        else
            out.freeze_timeout = *d;
    }
}

void loader::check_distinct_files(const toml::table& root, const config& cfg)
{
    // Each is written by a different part of the server, in a different format: sharing
    // a path would corrupt one with the other (or, for the socket, replace a file).
    const auto at = [&root](std::string_view path) { return root.at_path(path).node(); };
    const auto& g = cfg.gate;
    if (!g.audit_log.empty() && g.audit_log == g.state_file) {
        if (const toml::node* node = at("gate.audit_log"))
            fail(*node, "gate.audit_log: " + quote(g.audit_log) + " is also gate.state_file; each needs its own file");
    }
    const std::string& socket = cfg.admin.socket;
    if (!socket.empty() && (socket == g.state_file || socket == g.audit_log)) {
        if (const toml::node* node = at("admin.socket"))
            fail(*node, "admin.socket: " + quote(socket) + " is also "
                            + (socket == g.state_file ? "gate.state_file" : "gate.audit_log")
                            + "; the socket needs a path of its own");
    }
}
}  // namespace

std::string config_error::to_string() const
{
    std::string out = file;
    if (line != 0) {
        out += ':';
        out += std::to_string(line);
        if (column != 0) {
            out += ':';
            out += std::to_string(column);
        }
    }
    out += ": ";
    out += message;
    return out;
}

load_result load_config_string(std::string_view text, const std::string& source_name)
{
    load_result result;
    // Loading must never throw: `maintgate check` reports, and reload keeps the old
    // config running, so even an allocation failure becomes an ordinary error.
    try {
        toml::table root;
        try {
            root = toml::parse(text, std::string_view(source_name));
        } catch (const toml::parse_error& e) {
            const auto& begin = e.source().begin;
            result.errors.push_back({source_name, begin.line, begin.column, std::string(e.description())});
            return result;
        }

        config cfg;
        cfg.source = source_name;
        loader l(source_name);
        l.load(root, cfg);
        result.errors = l.take_errors();
        if (result.errors.empty())
            result.cfg = std::move(cfg);
    } catch (const std::exception& e) {
        result.cfg.reset();
        result.errors.push_back({source_name, 0, 0, std::string("cannot load config: ") + e.what()});
    }
    return result;
}

load_result load_config_file(const std::string& path)
{
    try {
        // stdio rather than ifstream: errno after a failed fopen/fread is reliable, and
        // "Permission denied" beats "cannot read" for someone fixing it at 2am.
        struct closer {
            void operator()(std::FILE* f) const noexcept { std::fclose(f); }
        };
        std::unique_ptr<std::FILE, closer> file(std::fopen(path.c_str(), "rb"));
        auto failure = [&path](int error) {
            load_result result;
            result.errors.push_back(
                {path, 0, 0, "cannot read config file: " + std::generic_category().message(error)});
            return result;
        };
        if (!file)
            return failure(errno);

        std::string text;
        char buf[16 * 1024];
        for (;;) {
            const std::size_t n = std::fread(buf, 1, sizeof buf, file.get());
            text.append(buf, n);
            if (n < sizeof buf) {
                // A directory opens fine on Linux and fails here with EISDIR.
                if (std::ferror(file.get()))
                    return failure(errno);
                break;
            }
        }
        return load_config_string(text, path);
    } catch (const std::exception& e) {
        load_result result;
        result.errors.push_back({path, 0, 0, std::string("cannot read config file: ") + e.what()});
        return result;
    }
}

std::string_view default_config_text() noexcept
{
    return embedded_default;
}

}  // namespace maintgate
