#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace maintgate::policy {

// An IPv4 or IPv6 address, always held as 16 bytes: IPv4 is stored IPv4-mapped
// (::ffff:a.b.c.d) so that one comparison serves both families.
struct ip_address {
    std::array<std::uint8_t, 16> bytes{};

    // True when the address is IPv4 (IPv4-mapped).
    bool is_v4() const noexcept;
    // "192.0.2.1" or "2001:db8::1"; allocates, so for logs and config only.
    std::string to_string() const;
    friend bool operator==(const ip_address&, const ip_address&) = default;
};

// Parses a literal IPv4 or IPv6 address (no brackets, no port, no zone).
// Returns nullopt on anything else.
std::optional<ip_address> parse_ip(std::string_view text) noexcept;

// Builds an address from raw network-order bytes, as sockets give them.
ip_address ip_from_v4(std::uint32_t host_order) noexcept;
ip_address ip_from_v6(const std::array<std::uint8_t, 16>& bytes) noexcept;

// A network: an address and a prefix length counted over the 128-bit form
// (an IPv4 /24 is stored as /120).
struct cidr {
    ip_address network;  // host bits are zero
    unsigned prefix = 0;  // 0..128

    // True when addr lies in this network. Pure, allocation-free.
    bool contains(const ip_address& addr) const noexcept;
};

// Parses "10.0.0.0/8", "2001:db8::/32", or a single address ("192.0.2.7" is a /32,
// "::1" a /128). Host bits set below the prefix are an error ("10.0.0.1/8"), so a
// typo cannot silently widen or narrow the network. Returns nullopt with a reason.
struct cidr_parse_result {
    std::optional<cidr> value;
    std::string error;  // empty when value is set
};
cidr_parse_result parse_cidr(std::string_view text);

// True when any network in the list contains addr.
bool any_contains(std::span<const cidr> networks, const ip_address& addr) noexcept;

}  // namespace maintgate::policy
