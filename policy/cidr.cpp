#include "policy/cidr.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace maintgate::policy {

namespace {

// Both families share one layout: the first 80 bits zero, then 0xffff, then IPv4.
constexpr std::array<std::uint8_t, 12> v4_mapped_prefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// The IPv4 prefix length as counted over the mapped 128-bit form.
constexpr unsigned v4_prefix_offset = 96;

// inet_pton wants a NUL-terminated string; the longest literal it accepts is an IPv6
// address with an embedded IPv4 tail, which INET6_ADDRSTRLEN covers.
std::optional<ip_address> parse_ip_impl(std::string_view text, bool& is_v6_text) noexcept {
    is_v6_text = false;
    char buf[INET6_ADDRSTRLEN];
    if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
    // An embedded NUL would make inet_pton see a shorter, valid-looking string.
    if (text.find('\0') != std::string_view::npos) return std::nullopt;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';

    ip_address out;
    if (text.find(':') == std::string_view::npos) {
        // glibc's inet_pton accepts dotted-decimal only (no octal, hex or short forms),
        // so "010.1.1.1" cannot mean something other than what an operator reads.
        in_addr v4{};
        if (inet_pton(AF_INET, buf, &v4) != 1) return std::nullopt;
        std::copy(v4_mapped_prefix.begin(), v4_mapped_prefix.end(), out.bytes.begin());
        std::memcpy(out.bytes.data() + 12, &v4, 4);
        return out;
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, buf, &v6) != 1) return std::nullopt;
    std::memcpy(out.bytes.data(), &v6, 16);
    is_v6_text = true;
    return out;
}

}  // namespace

bool ip_address::is_v4() const noexcept {
    return std::equal(v4_mapped_prefix.begin(), v4_mapped_prefix.end(), bytes.begin());
}

std::string ip_address::to_string() const {
    char buf[INET6_ADDRSTRLEN];
    const char* ok = is_v4() ? inet_ntop(AF_INET, bytes.data() + 12, buf, sizeof buf)
                             : inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
    return ok ? std::string(ok) : std::string();
}

std::optional<ip_address> parse_ip(std::string_view text) noexcept {
    bool is_v6_text = false;
    return parse_ip_impl(text, is_v6_text);
}

ip_address ip_from_v4(std::uint32_t host_order) noexcept {
    ip_address out;
    std::copy(v4_mapped_prefix.begin(), v4_mapped_prefix.end(), out.bytes.begin());
    out.bytes[12] = static_cast<std::uint8_t>(host_order >> 24);
    out.bytes[13] = static_cast<std::uint8_t>(host_order >> 16);
    out.bytes[14] = static_cast<std::uint8_t>(host_order >> 8);
    out.bytes[15] = static_cast<std::uint8_t>(host_order);
    return out;
}

ip_address ip_from_v6(const std::array<std::uint8_t, 16>& bytes) noexcept {
    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d, which is already the
    // stored form: IPv4 networks match them without a special case.
    ip_address out;
    out.bytes = bytes;
    return out;
}

bool cidr::contains(const ip_address& addr) const noexcept {
    if (prefix > 128) return false;
    const unsigned full = prefix / 8;
    for (unsigned i = 0; i < full; ++i)
        if (addr.bytes[i] != network.bytes[i]) return false;
    const unsigned rest = prefix % 8;
    if (rest == 0) return true;
    const auto mask = static_cast<std::uint8_t>(0xff00u >> rest);
    return (addr.bytes[full] & mask) == (network.bytes[full] & mask);
}

cidr_parse_result parse_cidr(std::string_view text) {
    cidr_parse_result result;
    const auto slash = text.find('/');
    const std::string_view addr_text = text.substr(0, slash);

    bool is_v6_text = false;
    const auto addr = parse_ip_impl(addr_text, is_v6_text);
    if (!addr) {
        result.error = "invalid address '" + std::string(addr_text) + "'";
        return result;
    }
    const unsigned max_len = is_v6_text ? 128 : 32;

    unsigned len = max_len;
    if (slash != std::string_view::npos) {
        const std::string_view len_text = text.substr(slash + 1);
        // Digits only: no sign, no spaces, no hex; three digits are enough for 128.
        if (len_text.empty() || len_text.size() > 3 ||
            !std::all_of(len_text.begin(), len_text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            result.error = "invalid prefix length '" + std::string(len_text) + "'";
            return result;
        }
        len = 0;
        for (char c : len_text) len = len * 10 + static_cast<unsigned>(c - '0');
        if (len > max_len) {
            result.error =
                "prefix length " + std::to_string(len) + " is larger than " + std::to_string(max_len);
            return result;
        }
    }

    cidr net;
    net.network = *addr;
    net.prefix = is_v6_text ? len : len + v4_prefix_offset;

    // Host bits set are refused rather than masked: "10.0.0.1/8" is more likely a typo
    // for "10.0.0.1/32" than a wish for all of 10/8.
    ip_address masked = net.network;
    for (unsigned bit = net.prefix; bit < 128; ++bit)
        masked.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
    if (!(masked == net.network)) {
        const unsigned shown_len = is_v6_text ? net.prefix : net.prefix - v4_prefix_offset;
        result.error = "host bits set below the prefix (the network is " + masked.to_string() + "/" +
                       std::to_string(shown_len) + ")";
        return result;
    }
    result.value = net;
    return result;
}

bool any_contains(std::span<const cidr> networks, const ip_address& addr) noexcept {
    for (const auto& net : networks)
        if (net.contains(addr)) return true;
    return false;
}

}  // namespace maintgate::policy
