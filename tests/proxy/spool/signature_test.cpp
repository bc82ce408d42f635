// Webhook signature schemes, with the vectors their publishers give.
#include <catch2/catch.hpp>

#include <map>

#include "proxy/spool/signature.hpp"

using namespace maintgate;
using namespace maintgate::spool;

namespace {

field_lookup fields(std::map<std::string, std::string> m) {
    return [m = std::move(m)](std::string_view name) -> std::string_view {
        auto it = m.find(std::string(name));
        return it == m.end() ? std::string_view{} : std::string_view(it->second);
    };
}

constexpr duration five_minutes{300'000};

}  // namespace

TEST_CASE("github: the vector from GitHub's 'Validating webhook deliveries'", "[spool][signature]") {
    const std::string secret = "It's a Secret to Everybody";
    const std::string body = "Hello, World!";
    const std::string sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    CHECK(sign_for_test(signature_scheme::github, secret, body, "", 0) == sig);
    CHECK(verify_signature(signature_scheme::github, secret, fields({{"x-hub-signature-256", sig}}), body, 0,
                           five_minutes)
              .ok);
    // Upper-case hex is the same digest.
    std::string upper = sig;
    for (std::size_t i = 7; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
    CHECK(verify_signature(signature_scheme::github, secret, fields({{"x-hub-signature-256", upper}}), body, 0,
                           five_minutes)
              .ok);
    CHECK_FALSE(verify_signature(signature_scheme::github, secret, fields({{"x-hub-signature-256", sig}}),
                                 body + " ", 0, five_minutes)
                    .ok);
    CHECK_FALSE(verify_signature(signature_scheme::github, "other", fields({{"x-hub-signature-256", sig}}), body,
                                 0, five_minutes)
                    .ok);
    CHECK_FALSE(verify_signature(signature_scheme::github, secret, fields({}), body, 0, five_minutes).ok);
    CHECK_FALSE(verify_signature(signature_scheme::github, secret,
                                 fields({{"x-hub-signature-256", "sha1=757107ea0eb2509fc211221cce984b8a37"}}), body,
                                 0, five_minutes)
                    .ok);
    CHECK_FALSE(verify_signature(signature_scheme::github, secret,
                                 fields({{"x-hub-signature-256", sig.substr(0, sig.size() - 2)}}), body, 0,
                                 five_minutes)
                    .ok);
}

TEST_CASE("standard-webhooks: the vector of the specification's libraries", "[spool][signature]") {
    const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const std::string id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const std::string body = R"({"test": 2432232314})";
    const std::string sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const std::int64_t ts = 1614265330;
    CHECK(sign_for_test(signature_scheme::standard_webhooks, secret, body, id, ts) == sig);
    auto f = [&](std::string s, std::string t = "1614265330") {
        return fields({{"webhook-id", id}, {"webhook-timestamp", t}, {"webhook-signature", s}});
    };
    CHECK(verify_signature(signature_scheme::standard_webhooks, secret, f(sig), body, ts, five_minutes).ok);
    // Several signatures, space-separated (a rotated key): any one matching will do.
    CHECK(verify_signature(signature_scheme::standard_webhooks, secret,
                           f("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= " + sig), body, ts, five_minutes)
              .ok);
    CHECK_FALSE(
        verify_signature(signature_scheme::standard_webhooks, secret, f(sig), body + "x", ts, five_minutes).ok);
    // Outside the tolerance either way: a replayed old request, or a clock far ahead.
    CHECK_FALSE(
        verify_signature(signature_scheme::standard_webhooks, secret, f(sig), body, ts + 301, five_minutes).ok);
    CHECK_FALSE(
        verify_signature(signature_scheme::standard_webhooks, secret, f(sig), body, ts - 301, five_minutes).ok);
    CHECK(verify_signature(signature_scheme::standard_webhooks, secret, f(sig), body, ts + 299, five_minutes).ok);
    CHECK_FALSE(verify_signature(signature_scheme::standard_webhooks, secret, f(sig, "16142653x0"), body, ts,
                                 five_minutes)
                    .ok);
    CHECK_FALSE(
        verify_signature(signature_scheme::standard_webhooks, secret, f("v2," + sig.substr(3)), body, ts, five_minutes)
            .ok);
}

TEST_CASE("stripe: t and v1 over \"t.body\", with the tolerance", "[spool][signature]") {
    // Stripe publishes the scheme, not a vector; this one is computed by its formula.
    const std::string secret = "whsec_test_secret";
    const std::string body = R"({"id":"evt_1","object":"event"})";
    const std::int64_t t = 1492774577;
    const std::string header = sign_for_test(signature_scheme::stripe, secret, body, "", t);
    CHECK(header == "t=1492774577,v1=" + hmac_sha256_hex(secret, "1492774577." + body));
    CHECK(verify_signature(signature_scheme::stripe, secret, fields({{"stripe-signature", header}}), body, t,
                           five_minutes)
              .ok);
    // Stripe sends v0 (and more v1s while rolling secrets) alongside.
    CHECK(verify_signature(signature_scheme::stripe, secret,
                           fields({{"stripe-signature", header + ",v0=6ffbb59b2300aae63f27240694"}}), body, t,
                           five_minutes)
              .ok);
    const std::string v1 = header.substr(header.find("v1="));
    CHECK(verify_signature(signature_scheme::stripe, secret,
                           fields({{"stripe-signature", "t=1492774577,v1=" + std::string(64, '0') + "," + v1}}),
                           body, t, five_minutes)
              .ok);
    CHECK_FALSE(verify_signature(signature_scheme::stripe, secret, fields({{"stripe-signature", header}}), body,
                                 t + 400, five_minutes)
                    .ok);
    CHECK_FALSE(verify_signature(signature_scheme::stripe, "whsec_other", fields({{"stripe-signature", header}}),
                                 body, t, five_minutes)
                    .ok);
    CHECK_FALSE(verify_signature(signature_scheme::stripe, secret, fields({{"stripe-signature", v1}}), body, t,
                                 five_minutes)
                    .ok);
}

TEST_CASE("scheme names", "[spool][signature]") {
    for (auto s : {signature_scheme::none, signature_scheme::github, signature_scheme::stripe,
                   signature_scheme::standard_webhooks})
        CHECK(parse_signature_scheme(to_string(s)) == s);
    CHECK_FALSE(parse_signature_scheme("GitHub"));
}
