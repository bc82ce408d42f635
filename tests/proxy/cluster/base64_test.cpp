// proxy/cluster/base64: RFC 4648's test vectors, round trips and what is refused.
#include "proxy/cluster/base64.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace maintgate::proxy::cluster;

TEST_CASE("base64: RFC 4648 section 10 vectors both ways", "[cluster]") {
    const std::pair<std::string, std::string> rows[] = {
        {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (const auto& [plain, coded] : rows) {
        CHECK(base64_encode(plain) == coded);
        CHECK(base64_decode(coded) == plain);
    }
}

TEST_CASE("base64: every byte value survives a round trip", "[cluster]") {
    std::string all;
    for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
    for (std::size_t n = 0; n < all.size(); n += 37) {
        const std::string piece = all.substr(n);
        CHECK(base64_decode(base64_encode(piece)) == piece);
    }
}

TEST_CASE("base64: malformed text is refused, never half decoded", "[cluster]") {
    for (const char* bad : {"Zg", "Zg=", "Z===", "Zm9v!A==", "Zg==Zg==", "Zh==", "Zm9=", "Zm 9v"})
        CHECK_FALSE(base64_decode(bad).has_value());
}
