#pragma once
// CRC-32C (Castagnoli), the checksum of every spool record: iSCSI's and ext4's, which
// catches the torn and bit-flipped tails a crash or a bad disk leaves.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace maintgate::spool {

// crc32c("123456789") == 0xE3069283. `crc` continues a previous result.
std::uint32_t crc32c(const void* data, std::size_t n, std::uint32_t crc) noexcept;
inline std::uint32_t crc32c(std::string_view s, std::uint32_t crc = 0) noexcept {
    return crc32c(s.data(), s.size(), crc);
}

}  // namespace maintgate::spool
