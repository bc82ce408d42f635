#pragma once
// Operator bypass secrets: the header comparison and the signed, expiring cookie that
// the secret URL sets (as Laravel's `php artisan down --secret` does). Pure; links
// OpenSSL's hash only. Verifying allocates nothing.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace maintgate::policy {

// Compares in time that depends only on the lengths, never on where the bytes differ,
// so a client cannot find a secret byte by byte by timing refusals.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

// The value of cookie `name` in a Cookie header ("a=1; b=2"), or empty when absent.
std::string_view find_cookie(std::string_view cookie_header, std::string_view name) noexcept;

// HMAC-SHA256 keyed by the bypass secret, with the key's inner and outer pads hashed
// once at config load so that each verification is two short hashes on the stack.
class bypass_signer {
public:
    bypass_signer() = default;
    explicit bypass_signer(std::string_view secret) noexcept;

    // The cookie value for a bypass valid until `expiry` (unix seconds):
    // "<expiry>.<64 hex digits>". Allocates; used only when granting a bypass.
    std::string make_cookie_value(std::int64_t expiry) const;

    // True when value was made by make_cookie_value with this secret and its expiry is
    // after now. Forged, truncated, altered or expired values give false.
    bool verify_cookie_value(std::string_view value, std::int64_t now) const noexcept;

private:
    void mac(std::string_view message, unsigned char out[SHA256_DIGEST_LENGTH]) const noexcept;

    SHA256_CTX inner_{};
    SHA256_CTX outer_{};
    bool keyed_ = false;
};

}  // namespace maintgate::policy
