#include "policy/bypass.hpp"

#include <charconv>
#include <cstring>

#include "policy/ascii.hpp"

namespace maintgate::policy {
namespace {

constexpr std::string_view mac_context = "maintgate-bypass:";
constexpr char hex_digits[] = "0123456789abcdef";

// "maintgate-bypass:<expiry>" into buf; returns its length.
std::size_t signed_message(std::int64_t expiry, char* buf, std::size_t cap) noexcept {
    std::memcpy(buf, mac_context.data(), mac_context.size());
    auto [end, ec] = std::to_chars(buf + mac_context.size(), buf + cap, expiry);
    return ec == std::errc{} ? static_cast<std::size_t>(end - buf) : 0;
}

}  // namespace

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

std::string_view find_cookie(std::string_view header, std::string_view name) noexcept {
    while (!header.empty()) {
        auto semi = header.find(';');
        auto pair = header.substr(0, semi);
        header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
        pair = trim_ows(pair);
        auto eq = pair.find('=');
        if (eq == std::string_view::npos) continue;
        if (pair.substr(0, eq) == name) return pair.substr(eq + 1);
    }
    return {};
}

bypass_signer::bypass_signer(std::string_view secret) noexcept {
    unsigned char key[SHA256_CBLOCK] = {};
    if (secret.size() > SHA256_CBLOCK) {
        SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), key);
    } else {
        std::memcpy(key, secret.data(), secret.size());
    }
    unsigned char pad[SHA256_CBLOCK];
    for (std::size_t i = 0; i < sizeof pad; ++i) pad[i] = key[i] ^ 0x36;
    SHA256_Init(&inner_);
    SHA256_Update(&inner_, pad, sizeof pad);
    for (std::size_t i = 0; i < sizeof pad; ++i) pad[i] = key[i] ^ 0x5c;
    SHA256_Init(&outer_);
    SHA256_Update(&outer_, pad, sizeof pad);
    keyed_ = true;
}

void bypass_signer::mac(std::string_view message, unsigned char out[SHA256_DIGEST_LENGTH]) const noexcept {
    SHA256_CTX ctx = inner_;
    unsigned char inner_hash[SHA256_DIGEST_LENGTH];
    SHA256_Update(&ctx, message.data(), message.size());
    SHA256_Final(inner_hash, &ctx);
    ctx = outer_;
    SHA256_Update(&ctx, inner_hash, sizeof inner_hash);
    SHA256_Final(out, &ctx);
}

std::string bypass_signer::make_cookie_value(std::int64_t expiry) const {
    char msg[64];
    std::size_t len = signed_message(expiry, msg, sizeof msg);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    mac(std::string_view(msg, len), digest);
    std::string out(msg + mac_context.size(), len - mac_context.size());
    out += '.';
    for (unsigned char c : digest) {
        out += hex_digits[c >> 4];
        out += hex_digits[c & 15];
    }
    return out;
}

bool bypass_signer::verify_cookie_value(std::string_view value, std::int64_t now) const noexcept {
    if (!keyed_) return false;
    auto dot = value.find('.');
    if (dot == std::string_view::npos || dot == 0 || dot > 19) return false;
    auto expiry_text = value.substr(0, dot);
    auto hex = value.substr(dot + 1);
    if (hex.size() != 2 * SHA256_DIGEST_LENGTH) return false;
    std::int64_t expiry = 0;
    auto [end, ec] = std::from_chars(expiry_text.data(), expiry_text.data() + expiry_text.size(), expiry);
    if (ec != std::errc{} || end != expiry_text.data() + expiry_text.size() || expiry_text[0] == '-')
        return false;
    char msg[64];
    std::size_t len = signed_message(expiry, msg, sizeof msg);
    // Re-render the expiry: "0012" and "12" must not both verify.
    if (std::string_view(msg + mac_context.size(), len - mac_context.size()) != expiry_text) return false;
    unsigned char digest[SHA256_DIGEST_LENGTH];
    mac(std::string_view(msg, len), digest);
    char expected[2 * SHA256_DIGEST_LENGTH];
    for (std::size_t i = 0; i < SHA256_DIGEST_LENGTH; ++i) {
        expected[2 * i] = hex_digits[digest[i] >> 4];
        expected[2 * i + 1] = hex_digits[digest[i] & 15];
    }
    bool mac_ok = constant_time_equal(std::string_view(expected, sizeof expected), hex);
    return mac_ok && expiry > now;
}

}  // namespace maintgate::policy
