#pragma once
// Address syntax shared by listeners, the metrics listener, redirects and the upstream URL.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace maintgate::config_detail {

// Labels of letters, digits, '-' and '_' (Docker and Compose service names use '_').
bool is_host_name(std::string_view text);
bool all_digits_and_dots(std::string_view text);

struct port_parse {
    std::optional<std::uint16_t> port;
    std::string error;
};
port_parse parse_port(std::string_view text, unsigned lowest);

struct listen_address {
    std::string host;
    std::uint16_t port = 0;
    std::string identity;  // canonical "address|port", to find duplicates however written
    std::string error;
};
// "127.0.0.1:8080", "[::1]:8080": literal addresses only.
listen_address parse_listen_address(std::string_view text);

struct upstream_url {
    std::string host;
    std::uint16_t port = 80;
    bool tls = false;
    std::string error;
};
// "http://HOST[:PORT]" or "https://HOST[:PORT]", nothing after the authority but "/".
upstream_url parse_upstream_url(std::string_view text, std::string_view what_url = "the upstream URL");

}  // namespace maintgate::config_detail
