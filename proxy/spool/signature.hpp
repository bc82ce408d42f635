#pragma once
// Webhook signatures, checked before an event is stored: an unsigned or forged request
// is answered 401 and never written. Three schemes, each as its sender publishes it:
// - github: X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>;
// - stripe: Stripe-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "t.body")>[,v1=...];
// - standard-webhooks (Svix and others): webhook-id, webhook-timestamp and
//   webhook-signature: "v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>" (several,
//   space-separated), the key being the base64 after "whsec_" in the secret.
// Digests are compared in constant time (CRYPTO_memcmp); the timestamped schemes refuse
// a timestamp further than `tolerance` from now either way (replays of old requests).
// Pure apart from OpenSSL's HMAC; never throws beyond std::bad_alloc.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/spool/spool_types.hpp"

namespace maintgate::spool {

// "github", "stripe", "standard-webhooks" (and "none").
std::string_view to_string(signature_scheme s) noexcept;
std::optional<signature_scheme> parse_signature_scheme(std::string_view text) noexcept;

// A request's field by lower-case name, or empty when absent.
using field_lookup = std::function<std::string_view(std::string_view name)>;

struct signature_result {
    bool ok = false;
    const char* why = "";  // fixed text for the log when !ok
};

signature_result verify_signature(signature_scheme scheme, std::string_view secret, const field_lookup& field,
                                  std::string_view body, std::int64_t now_s, duration tolerance);

// The signature header a sender sets for body under each scheme: what the tests (and a
// client of the bench) send. standard-webhooks needs id and timestamp; stripe timestamp.
std::string sign_for_test(signature_scheme scheme, std::string_view secret, std::string_view body,
                          std::string_view id, std::int64_t timestamp);

// Lower-case hex and standard base64 of HMAC-SHA256(key, data), for the above.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);
std::string hmac_sha256_base64(std::string_view key, std::string_view data);

}  // namespace maintgate::spool
