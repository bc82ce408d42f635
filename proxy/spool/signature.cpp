#include "proxy/spool/signature.hpp"

#include <array>
#include <charconv>
#include <cstdlib>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace maintgate::spool {
namespace {

using digest = std::array<unsigned char, 32>;

digest hmac(std::string_view key, std::string_view data) {
    digest out{};
    unsigned len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
    return out;
}

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Hex text into a digest; false unless it is exactly 64 hex digits.
bool from_hex(std::string_view hex, digest& out) noexcept {
    if (hex.size() != 64) return false;
    for (std::size_t i = 0; i < 32; ++i) {
        const int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = static_cast<unsigned char>(hi * 16 + lo);
    }
    return true;
}

std::optional<std::string> from_base64(std::string_view in) {
    if (in.empty() || in.size() % 4 != 0) return std::nullopt;
    std::string out(in.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
    if (n < 0) return std::nullopt;
    std::size_t len = static_cast<std::size_t>(n);
    // EVP_DecodeBlock counts the padding as zero bytes.
    if (in.ends_with("==")) len -= 2;
    else if (in.ends_with("=")) len -= 1;
    out.resize(len);
    return out;
}

std::string to_base64(const digest& d) {
    std::string out(4 * ((d.size() + 2) / 3), '\0');
    EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), d.data(), static_cast<int>(d.size()));
    return out;
}

bool same(const digest& a, const digest& b) noexcept { return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0; }

std::optional<std::int64_t> parse_seconds(std::string_view s) noexcept {
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

bool within(std::int64_t ts, std::int64_t now_s, duration tolerance) noexcept {
    const std::int64_t tol = tolerance.count() / 1000;
    return ts >= now_s - tol && ts <= now_s + tol;
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

signature_result verify_github(std::string_view secret, const field_lookup& field, std::string_view body) {
    std::string_view sig = trim(field("x-hub-signature-256"));
    if (sig.empty()) return {false, "no X-Hub-Signature-256"};
    if (!sig.starts_with("sha256=")) return {false, "X-Hub-Signature-256 is not sha256="};
    digest given{};
    if (!from_hex(sig.substr(7), given)) return {false, "X-Hub-Signature-256 is not 64 hex digits"};
    if (!same(given, hmac(secret, body))) return {false, "X-Hub-Signature-256 does not match"};
    return {true};
}

signature_result verify_stripe(std::string_view secret, const field_lookup& field, std::string_view body,
                               std::int64_t now_s, duration tolerance) {
    std::string_view header = field("stripe-signature");
    if (header.empty()) return {false, "no Stripe-Signature"};
    std::optional<std::int64_t> t;
    std::string_view t_text;
    // Every v1 is tried (Stripe sends several while a secret is rolled).
    std::array<std::string_view, 8> v1{};
    std::size_t nv1 = 0;
    while (!header.empty()) {
        const auto comma = header.find(',');
        const std::string_view item = trim(header.substr(0, comma));
        header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
        const auto eq = item.find('=');
        if (eq == std::string_view::npos) continue;
        const auto k = item.substr(0, eq), v = item.substr(eq + 1);
        if (k == "t") {
            t = parse_seconds(v);
            t_text = v;
        } else if (k == "v1" && nv1 < v1.size()) {
            v1[nv1++] = v;
        }
    }
    if (!t) return {false, "Stripe-Signature has no t="};
    if (nv1 == 0) return {false, "Stripe-Signature has no v1="};
    if (!within(*t, now_s, tolerance)) return {false, "Stripe-Signature timestamp outside the tolerance"};
    std::string signed_payload;
    signed_payload.reserve(t_text.size() + 1 + body.size());
    signed_payload.append(t_text).append(".").append(body);
    const digest want = hmac(secret, signed_payload);
    bool match = false;
    for (std::size_t i = 0; i < nv1; ++i) {
        digest given{};
        if (from_hex(v1[i], given) && same(given, want)) match = true;  // no early exit
    }
    if (!match) return {false, "Stripe-Signature does not match"};
    return {true};
}

std::string standard_key(std::string_view secret) {
    if (secret.starts_with("whsec_")) secret.remove_prefix(6);
    if (auto k = from_base64(secret)) return *k;
    return std::string(secret);  // not base64: the secret's bytes themselves
}

signature_result verify_standard(std::string_view secret, const field_lookup& field, std::string_view body,
                                 std::int64_t now_s, duration tolerance) {
    const std::string_view id = trim(field("webhook-id"));
    const std::string_view ts_text = trim(field("webhook-timestamp"));
    std::string_view sigs = field("webhook-signature");
    if (id.empty() || ts_text.empty() || sigs.empty())
        return {false, "no webhook-id, webhook-timestamp or webhook-signature"};
    const auto ts = parse_seconds(ts_text);
    if (!ts) return {false, "webhook-timestamp is not a number"};
    if (!within(*ts, now_s, tolerance)) return {false, "webhook-timestamp outside the tolerance"};
    std::string content;
    content.reserve(id.size() + ts_text.size() + 2 + body.size());
    content.append(id).append(".").append(ts_text).append(".").append(body);
    const digest want = hmac(standard_key(secret), content);
    bool match = false;
    while (!sigs.empty()) {
        const auto sp = sigs.find(' ');
        const std::string_view one = sigs.substr(0, sp);
        sigs = sp == std::string_view::npos ? std::string_view{} : sigs.substr(sp + 1);
        if (!one.starts_with("v1,")) continue;
        const auto raw = from_base64(one.substr(3));
        if (!raw || raw->size() != 32) continue;
        digest given{};
        std::copy(raw->begin(), raw->end(), given.begin());
        if (same(given, want)) match = true;
    }
    if (!match) return {false, "webhook-signature does not match"};
    return {true};
}

}  // namespace

std::string_view to_string(signature_scheme s) noexcept {
    switch (s) {
    case signature_scheme::none: return "none";
    case signature_scheme::github: return "github";
    case signature_scheme::stripe: return "stripe";
    case signature_scheme::standard_webhooks: return "standard-webhooks";
    }
    return "none";
}

std::optional<signature_scheme> parse_signature_scheme(std::string_view text) noexcept {
    if (text == "none") return signature_scheme::none;
    if (text == "github") return signature_scheme::github;
    if (text == "stripe") return signature_scheme::stripe;
    if (text == "standard-webhooks") return signature_scheme::standard_webhooks;
    return std::nullopt;
}

signature_result verify_signature(signature_scheme scheme, std::string_view secret, const field_lookup& field,
                                  std::string_view body, std::int64_t now_s, duration tolerance) {
    switch (scheme) {
    case signature_scheme::none: return {true};
    case signature_scheme::github: return verify_github(secret, field, body);
    case signature_scheme::stripe: return verify_stripe(secret, field, body, now_s, tolerance);
    case signature_scheme::standard_webhooks: return verify_standard(secret, field, body, now_s, tolerance);
    }
    return {false, "unknown scheme"};
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
    static constexpr char digits[] = "0123456789abcdef";
    const digest d = hmac(key, data);
    std::string out;
    out.reserve(64);
    for (unsigned char c : d) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

std::string hmac_sha256_base64(std::string_view key, std::string_view data) { return to_base64(hmac(key, data)); }

std::string sign_for_test(signature_scheme scheme, std::string_view secret, std::string_view body,
                          std::string_view id, std::int64_t timestamp) {
    const std::string ts = std::to_string(timestamp);
    switch (scheme) {
    case signature_scheme::none: return {};
    case signature_scheme::github: return "sha256=" + hmac_sha256_hex(secret, body);
    case signature_scheme::stripe:
        return "t=" + ts + ",v1=" + hmac_sha256_hex(secret, ts + "." + std::string(body));
    case signature_scheme::standard_webhooks:
        return "v1," + hmac_sha256_base64(standard_key(secret), std::string(id) + "." + ts + "." +
                                                                    std::string(body));
    }
    return {};
}

}  // namespace maintgate::spool
