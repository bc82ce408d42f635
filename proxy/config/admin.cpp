// [admin]: the admin socket (the only way to change the mode at run time) and the
// optional metrics listener.
#include "proxy/config/loader.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>

#include "proxy/config/address.hpp"
#include "proxy/config/text.hpp"

namespace maintgate::config_detail {

namespace {

// A user or group as the server will look it up: a numeric id, or a name of the characters
// useradd accepts. It is not resolved here: `maintgate check` may run on a machine where
// the account does not exist, and the server reports a missing one when it starts.
bool is_account(std::string_view text) {
    if (text.empty()) return false;
    if (std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        // (uid_t)-1 means "leave unchanged" to chown(), so it cannot name an account.
        if (text.size() > 10) return false;
        return std::stoull(std::string(text)) < 4'294'967'295ULL;
    }
    if (text.size() > 32) return false;
    const auto name_char = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
               c == '-' || c == '.';
    };
    const std::string_view body = text.back() == '$' ? text.substr(0, text.size() - 1) : text;
    return !body.empty() && body.front() != '-' && std::all_of(body.begin(), body.end(), name_char);
}

enum class mode_status { ok, malformed, too_large };

// "0600", "600", "0o600": three or four octal digits, permission bits only.
mode_status parse_socket_mode(std::string_view text, std::uint32_t& out) {
    if (text.starts_with("0o")) text.remove_prefix(2);
    if (text.empty() || text.size() > 4 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '7'; }))
        return mode_status::malformed;
    std::uint32_t value = 0;
    for (const char c : text) value = value * 8 + static_cast<std::uint32_t>(c - '0');
    if (value > 0777) return mode_status::too_large;
    out = value;
    return mode_status::ok;
}

// sun_path holds 108 bytes, one of them the terminating NUL.
constexpr std::size_t max_socket_path = 107;

struct admin_draft {
    admin_config& out;
    const std::vector<listener_config>& listeners;  // read before [admin]: metrics must not share a port
};

void read_socket(loader& l, const scope& s, std::string_view key, admin_draft& d) {
    if (auto path = l.path_value(s, key, "a Unix socket path such as \"/run/maintgate/admin.sock\"", false)) {
        if (path->size() > max_socket_path)
            l.fail(*s.table.get(key), s.name(key) + ": " + quote(*path) + " is " +
                                          std::to_string(path->size()) +
                                          " bytes long; a Unix socket path can be at most " +
                                          std::to_string(max_socket_path) + " bytes");
        else
            d.out.socket = std::move(*path);
    }
}

void read_socket_mode(loader& l, const scope& s, std::string_view key, admin_draft& d) {
    const toml::node* node = s.table.get(key);
    if (!node) return;
    const std::string name = s.name(key);
    {
        constexpr std::string_view usage = "write it as an octal string such as \"0600\" or \"0660\"";
        std::optional<std::uint32_t> mode;
        std::string shown;
        if (const auto* text = node->as_string()) {
            std::uint32_t value = 0;
            shown = quote(text->get());
            switch (parse_socket_mode(text->get(), value)) {
            case mode_status::ok: mode = value; break;
            case mode_status::malformed:
                l.fail(*node, name + ": " + shown + " is not an octal mode; " + std::string(usage));
                break;
            case mode_status::too_large:
                l.fail(*node,
                       name + ": " + shown +
                           " sets special bits (setuid, setgid, sticky), which mean nothing on a socket; "
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
                l.fail(*node,
                       name + ": " + shown +
                           " sets special bits (setuid, setgid, sticky), which mean nothing on a socket; "
                           "use permission bits only, such as \"0600\"");
            else
                mode = static_cast<std::uint32_t>(n->get());
        } else {
            l.fail(*node,
                   name + ": expected an octal mode, got " + describe(*node) + "; " + std::string(usage));
        }
        // Connecting to a Unix socket needs write permission on it: a world-writable
        // socket lets every local user change the gate's mode.
        if (mode && (*mode & 0002) != 0)
            l.fail(*node,
                   name + ": " + shown +
                       " lets every local user connect and change the mode; use \"0600\", or \"0660\" with "
                       "socket_group");
        else if (mode)
            d.out.socket_mode = *mode;
    }
}

// socket_owner and socket_group.
template <auto Member>
void read_account(loader& l, const scope& s, std::string_view key, std::string_view what, admin_draft& d) {
    if (const std::string* v = l.string_value(s, key, "a " + std::string(what))) {
        if (!v->empty() && !is_account(*v))
            l.fail(*s.table.get(key), s.name(key) + ": " + quote(*v) + " is not a " + std::string(what));
        else
            d.out.*Member = *v;
    }
}

void read_socket_owner(loader& l, const scope& s, std::string_view key, admin_draft& d) {
    read_account<&admin_config::socket_owner>(l, s, key, "user name or numeric uid", d);
}

void read_socket_group(loader& l, const scope& s, std::string_view key, admin_draft& d) {
    read_account<&admin_config::socket_group>(l, s, key, "group name or numeric gid", d);
}

void read_metrics(loader& l, const scope& s, std::string_view key, admin_draft& d) {
    if (const std::string* metrics = l.string_value(s, key, "a string such as \"127.0.0.1:9180\"")) {
        const toml::node& node = *s.table.get(key);
        auto parsed = parse_listen_address(*metrics);
        // Port 0 is exempt, as between listeners: the kernel picks a fresh port for each.
        const auto taken =
            std::find_if(d.listeners.begin(), d.listeners.end(), [&](const listener_config& other) {
                return parsed.port != 0 && parse_listen_address(other.address).identity == parsed.identity;
            });
        if (metrics->empty()) {
            // No metrics listener, as when the key is absent.
        } else if (!parsed.error.empty()) {
            l.fail(node, s.name(key) + ": " + parsed.error);
        } else if (taken != d.listeners.end()) {
            l.fail(node, s.name(key) + ": " + quote(*metrics) + " is already used by listener[" +
                             std::to_string(taken - d.listeners.begin()) + "]");
        } else {
            d.out.metrics = *metrics;
            d.out.metrics_host = std::move(parsed.host);
            d.out.metrics_port = parsed.port;
        }
    }
}

constexpr field<admin_draft> admin_fields[] = {
    {"socket", read_socket},
    {"socket_mode", read_socket_mode},
    {"socket_owner", read_socket_owner},
    {"socket_group", read_socket_group},
    {"metrics", read_metrics},
};

}  // namespace

void load_admin(loader& l, const scope& top, std::string_view key, config& cfg) {
    if (const auto s = l.section(top, key)) {
        admin_draft d{cfg.admin, cfg.listeners};
        l.read_fields(*s, admin_fields, "in [" + s->path + "]", d);
    }
}

}  // namespace maintgate::config_detail
