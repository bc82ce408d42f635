#include "policy/bypass.hpp"

#include <catch2/catch.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <limits>
#include <string>

using namespace maintgate::policy;

namespace {

// HMAC-SHA256 by OpenSSL's own one-shot function, as the reference the signer must agree with.
std::string reference_cookie(std::string_view secret, std::int64_t expiry) {
    const std::string expiry_text = std::to_string(expiry);
    const std::string message = "maintgate-bypass:" + expiry_text;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &len);
    REQUIRE(len == 32);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = expiry_text + ".";
    for (unsigned i = 0; i < len; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 15];
    }
    return out;
}

constexpr std::int64_t now = 1'800'000'000;

}  // namespace

TEST_CASE("bypass: constant_time_equal", "[bypass]") {
    using namespace std::string_view_literals;
    struct row {
        std::string_view a, b;
        bool equal;
    };
    const row rows[] = {
        {"", "", true},
        {"secret", "secret", true},
        {"secret", "Secret", false},
        {"secret", "secreT", false},
        {"secret", "secre", false},
        {"secre", "secret", false},
        {"secret", "", false},
        {"", "x", false},
        {"a\0b"sv, "a\0b"sv, true},
        {"a\0b"sv, "a\0c"sv, false},
        {"a\0"sv, "a"sv, false},
        {"\xff\x80"sv, "\xff\x80"sv, true},
        {"\xff\x80"sv, "\x7f\x80"sv, false},
    };
    for (const auto& r : rows) {
        INFO("'" << std::string(r.a) << "' vs '" << std::string(r.b) << "'");
        CHECK(constant_time_equal(r.a, r.b) == r.equal);
        CHECK(constant_time_equal(r.b, r.a) == r.equal);
    }
}

TEST_CASE("bypass: find_cookie", "[bypass]") {
    struct row {
        std::string_view header;
        std::string_view value;  // expected
    };
    const row rows[] = {
        {"maintgate_bypass=abc", "abc"},
        {"a=1; maintgate_bypass=abc; b=2", "abc"},
        {"a=1;maintgate_bypass=abc;b=2", "abc"},
        {"a=1;   maintgate_bypass=abc  ;b=2", "abc"},
        {"\tmaintgate_bypass=abc\t", "abc"},
        {"  maintgate_bypass=abc", "abc"},
        {"a=1; b=2; maintgate_bypass=last", "last"},
        {";;; maintgate_bypass=v ;", "v"},
        {"maintgate_bypass=a=b", "a=b"},
        {"maintgate_bypass_old=old; maintgate_bypass=new", "new"},
        {"xmaintgate_bypass=abc", ""},
        {"maintgate_bypassx=abc", ""},
        {"maintgate_bypass_old=abc", ""},
        {"MAINTGATE_BYPASS=abc", ""},
        {"a=maintgate_bypass=abc", ""},
        {"maintgate_bypass", ""},
        {"maintgate_bypass;", ""},
        {"maintgate_bypass=", ""},
        {"", ""},
        {";", ""},
        {"a=1; b=2", ""},
    };
    for (const auto& r : rows) {
        INFO("Cookie: " << std::string(r.header));
        CHECK(find_cookie(r.header, "maintgate_bypass") == r.value);
    }
}

TEST_CASE("bypass: signer round trip and format", "[bypass]") {
    const bypass_signer s("s3cret");
    const std::string v = s.make_cookie_value(now + 3600);
    REQUIRE(v.size() == std::to_string(now + 3600).size() + 1 + 64);
    CHECK(v.substr(0, v.find('.')) == std::to_string(now + 3600));
    CHECK(v.find_first_not_of("0123456789abcdef.") == std::string::npos);
    CHECK(s.verify_cookie_value(v, now));
    CHECK(s.verify_cookie_value(v, now + 3599));
    // A second signer from the same secret agrees (keyed only by the secret).
    CHECK(bypass_signer("s3cret").verify_cookie_value(v, now));
    // It is HMAC-SHA256 over "maintgate-bypass:<expiry>".
    CHECK(v == reference_cookie("s3cret", now + 3600));
}

TEST_CASE("bypass: signer is HMAC-SHA256 for every key length", "[bypass]") {
    // Around the SHA-256 block size of 64 bytes, where HMAC hashes long keys first.
    for (std::size_t len : {0u, 1u, 32u, 63u, 64u, 65u, 100u, 200u, 1000u}) {
        std::string secret;
        for (std::size_t i = 0; i < len; ++i) secret += static_cast<char>('a' + i % 26);
        INFO("secret length " << len);
        const bypass_signer s(secret);
        const std::string v = s.make_cookie_value(now + 60);
        CHECK(v == reference_cookie(secret, now + 60));
        CHECK(s.verify_cookie_value(v, now));
        // A long secret that differs only at its end is another secret.
        if (len > 0) {
            std::string other = secret;
            other.back() = other.back() == 'z' ? 'y' : 'z';
            CHECK_FALSE(bypass_signer(other).verify_cookie_value(v, now));
            CHECK_FALSE(s.verify_cookie_value(bypass_signer(other).make_cookie_value(now + 60), now));
        }
    }
}

TEST_CASE("bypass: expiry boundary", "[bypass]") {
    const bypass_signer s("s3cret");
    const std::int64_t expiry = now + 10;
    const std::string v = s.make_cookie_value(expiry);
    struct row {
        std::int64_t at;
        bool valid;
    };
    const row rows[] = {
        {expiry - 10, true}, {expiry - 1, true},       {expiry, false},
        {expiry + 1, false}, {expiry + 100000, false},
    };
    for (const auto& r : rows) {
        INFO("now = expiry " << (r.at - expiry));
        CHECK(s.verify_cookie_value(v, r.at) == r.valid);
    }
    // The largest expiry that fits still works.
    const auto max = std::numeric_limits<std::int64_t>::max();
    const std::string far = s.make_cookie_value(max);
    CHECK(far == reference_cookie("s3cret", max));
    CHECK(s.verify_cookie_value(far, now));
    CHECK_FALSE(s.verify_cookie_value(far, max));
}

TEST_CASE("bypass: forged, altered and truncated values are refused", "[bypass]") {
    const bypass_signer s("s3cret");
    const std::int64_t expiry = now + 3600;
    const std::string v = s.make_cookie_value(expiry);
    const std::string expiry_text = std::to_string(expiry);
    const std::string mac = v.substr(v.find('.') + 1);
    REQUIRE(mac.size() == 64);

    // Every single hex digit altered.
    for (std::size_t i = 0; i < mac.size(); ++i) {
        std::string t = v;
        char& c = t[expiry_text.size() + 1 + i];
        c = c == 'a' ? 'b' : 'a';
        INFO("digit " << i << " altered: " << t);
        CHECK_FALSE(s.verify_cookie_value(t, now));
    }
    // Every digit of the expiry altered (a longer window with the old MAC).
    for (std::size_t i = 0; i < expiry_text.size(); ++i) {
        std::string t = v;
        t[i] = t[i] == '9' ? '8' : '9';
        INFO("expiry digit " << i << " altered: " << t);
        CHECK_FALSE(s.verify_cookie_value(t, now));
    }

    std::string upper = v;
    for (auto& c : upper)
        if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
    const std::string bad[] = {
        "",
        ".",
        v.substr(0, v.size() - 1),  // truncated
        v + "0",  // one digit too many
        v + " ",  // trailing space
        " " + v,  // leading space
        expiry_text,  // no MAC
        expiry_text + ".",  // empty MAC
        "." + mac,  // no expiry
        expiry_text + mac,  // no dot
        expiry_text + ".." + mac.substr(1),  // two dots
        upper,  // upper-case hex
        "0" + v,  // leading zero: same number, other text
        "00" + v,
        "+" + v,  // explicit sign
        std::to_string(expiry + 1) + "." + mac,  // other expiry, old MAC
        "99999999999999999999." + mac,  // 20 digits: out of range
        "1e9." + mac,
        "0x6b49d200." + mac,
        bypass_signer("s3cret2").make_cookie_value(expiry),  // another secret
        bypass_signer("S3CRET").make_cookie_value(expiry),
        bypass_signer("").make_cookie_value(expiry),
    };
    for (const auto& b : bad) {
        INFO("'" << b << "'");
        CHECK_FALSE(s.verify_cookie_value(b, now));
    }
}

TEST_CASE("bypass: negative expiries are refused even when in the future", "[bypass]") {
    const bypass_signer s("s3cret");
    const std::string v = s.make_cookie_value(-5);
    CHECK(v == reference_cookie("s3cret", -5));
    // -5 > -10, so only the sign rule can refuse it.
    CHECK_FALSE(s.verify_cookie_value(v, -10));
    // "-0" is not "0".
    const std::string zero = s.make_cookie_value(0);
    CHECK(s.verify_cookie_value(zero, -1));
    CHECK_FALSE(s.verify_cookie_value("-" + zero, -1));
}

TEST_CASE("bypass: a signer without a secret verifies nothing", "[bypass]") {
    const bypass_signer unkeyed;
    CHECK_FALSE(unkeyed.verify_cookie_value(bypass_signer("").make_cookie_value(now + 60), now));
    CHECK_FALSE(unkeyed.verify_cookie_value(bypass_signer("x").make_cookie_value(now + 60), now));
    CHECK_FALSE(unkeyed.verify_cookie_value("", now));
}
