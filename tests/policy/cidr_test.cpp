#include "policy/cidr.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace maintgate::policy;

namespace {

ip_address ip(std::string_view text) {
    const auto a = parse_ip(text);
    REQUIRE(a.has_value());
    return *a;
}

cidr net(std::string_view text) {
    auto r = parse_cidr(text);
    INFO(text << ": " << r.error);
    REQUIRE(r.value.has_value());
    CHECK(r.error.empty());
    return *r.value;
}

}  // namespace

TEST_CASE("parse_ip accepts literals and round-trips them through to_string", "[cidr]") {
    struct row {
        std::string_view text;
        bool v4;
        std::string_view canonical;
    };
    const row rows[] = {
        {"192.0.2.1", true, "192.0.2.1"},
        {"0.0.0.0", true, "0.0.0.0"},
        {"255.255.255.255", true, "255.255.255.255"},
        {"2001:db8::1", false, "2001:db8::1"},
        {"2001:DB8:0:0:0:0:0:1", false, "2001:db8::1"},
        {"::", false, "::"},
        {"::1", false, "::1"},
        // IPv4-mapped is the stored form of IPv4: the two spellings are one address.
        {"::ffff:192.0.2.1", true, "192.0.2.1"},
        {"::FFFF:c000:0201", true, "192.0.2.1"},
        // IPv4-compatible (deprecated) is not mapped: it stays IPv6.
        {"::192.0.2.1", false, "::192.0.2.1"},
    };
    for (const auto& r : rows) {
        INFO(r.text);
        const auto a = ip(r.text);
        CHECK(a.is_v4() == r.v4);
        CHECK(a.to_string() == r.canonical);
    }
    CHECK(ip("192.0.2.1") == ip("::ffff:192.0.2.1"));
}

TEST_CASE("parse_ip rejects everything but a bare literal", "[cidr]") {
    using namespace std::string_view_literals;
    const std::string_view rows[] = {
        ""sv,
        " 192.0.2.1"sv,
        "192.0.2.1 "sv,
        "192.0.2"sv,
        "192.0.2.256"sv,
        "192.0.2.1.5"sv,
        "010.0.0.1"sv,  // octal in inet_aton, decimal to a human: refused
        "0x7f.0.0.1"sv,
        "127.1"sv,
        "[::1]"sv,
        "::1%eth0"sv,
        "192.0.2.1:80"sv,
        "2001:db8::1::2"sv,
        "2001:db8:::1"sv,
        "gggg::1"sv,
        "localhost"sv,
        "192.0.2.1\0garbage"sv,
        "1111:2222:3333:4444:5555:6666:7777:8888:9999"sv,
        "0000000000000000000000000000000000000000000000000001"sv,
    };
    for (auto text : rows) {
        INFO("'" << std::string(text) << "'");
        CHECK_FALSE(parse_ip(text).has_value());
    }
}

TEST_CASE("ip_from_v4 and ip_from_v6 build the stored form", "[cidr]") {
    CHECK(ip_from_v4(0xC0000201u) == ip("192.0.2.1"));
    CHECK(ip_from_v4(0xC0000201u).is_v4());
    const std::array<std::uint8_t, 16> v6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    CHECK(ip_from_v6(v6) == ip("2001:db8::1"));
    // What a dual-stack socket reports for an IPv4 peer.
    const std::array<std::uint8_t, 16> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
    CHECK(ip_from_v6(mapped) == ip_from_v4(0xC0000201u));
    CHECK(ip_from_v6(mapped).is_v4());
}

TEST_CASE("parse_cidr stores the prefix over 128 bits", "[cidr]") {
    struct row {
        std::string_view text;
        unsigned prefix;
        std::string_view network;
    };
    const row rows[] = {
        {"10.0.0.0/8", 104, "10.0.0.0"},
        {"192.0.2.0/24", 120, "192.0.2.0"},
        {"192.0.2.7/32", 128, "192.0.2.7"},
        {"192.0.2.7", 128, "192.0.2.7"},
        {"0.0.0.0/0", 96, "0.0.0.0"},
        {"2001:db8::/32", 32, "2001:db8::"},
        {"::1", 128, "::1"},
        {"::1/128", 128, "::1"},
        {"::/0", 0, "::"},
        {"::ffff:10.0.0.0/104", 104, "10.0.0.0"},
        {"10.0.0.0/08", 104, "10.0.0.0"},
    };
    for (const auto& r : rows) {
        INFO(r.text);
        const auto n = net(r.text);
        CHECK(n.prefix == r.prefix);
        CHECK(n.network.to_string() == r.network);
    }
}

TEST_CASE("parse_cidr rejects garbage and host bits with a reason", "[cidr]") {
    const std::string_view rows[] = {
        "",
        "/8",
        "10.0.0.0/",
        "10.0.0.0/33",
        "10.0.0.0/-1",
        "10.0.0.0/+8",
        "10.0.0.0/ 8",
        "10.0.0.0/8 ",
        "10.0.0.0/0x8",
        "10.0.0.0/1000",
        "10.0.0.0/8/8",
        "2001:db8::/129",
        "10.0.0.1/8",  // host bits set
        "192.0.2.128/24",  // host bits set
        "2001:db8::1/32",  // host bits set
        "2001:db8:8000::/31",
        "::1/0",
        "1.0.0.0/0",
        "not-an-address/8",
        "[2001:db8::]/32",
    };
    for (auto text : rows) {
        INFO("'" << std::string(text) << "'");
        const auto r = parse_cidr(text);
        CHECK_FALSE(r.value.has_value());
        CHECK_FALSE(r.error.empty());
    }
    // The reason names the network the operator probably meant.
    CHECK(parse_cidr("10.0.0.1/8").error.find("10.0.0.0/8") != std::string::npos);
    CHECK(parse_cidr("2001:db8::1/32").error.find("2001:db8::/32") != std::string::npos);
}

TEST_CASE("cidr::contains", "[cidr]") {
    struct row {
        std::string_view network;
        std::string_view address;
        bool inside;
    };
    const row rows[] = {
        {"10.0.0.0/8", "10.0.0.0", true},
        {"10.0.0.0/8", "10.255.255.255", true},
        {"10.0.0.0/8", "11.0.0.0", false},
        {"10.0.0.0/8", "9.255.255.255", false},
        {"192.0.2.0/25", "192.0.2.127", true},
        {"192.0.2.0/25", "192.0.2.128", false},
        {"192.0.2.128/25", "192.0.2.128", true},
        {"192.0.2.7/32", "192.0.2.7", true},
        {"192.0.2.7/32", "192.0.2.6", false},
        {"192.0.2.7/32", "192.0.2.8", false},
        {"192.0.2.7", "192.0.2.7", true},
        // An IPv4 network matches an IPv4 peer however the socket spelled it.
        {"192.0.2.0/24", "::ffff:192.0.2.9", true},
        {"::ffff:192.0.2.0/120", "192.0.2.9", true},
        // IPv4 /0 is every IPv4 address and no IPv6 one.
        {"0.0.0.0/0", "203.0.113.5", true},
        {"0.0.0.0/0", "2001:db8::1", false},
        {"0.0.0.0/0", "::", false},
        // IPv6 /0 is everything, IPv4 included (stored mapped).
        {"::/0", "2001:db8::1", true},
        {"::/0", "192.0.2.1", true},
        {"2001:db8::/32", "2001:db8:ffff::1", true},
        {"2001:db8::/32", "2001:db9::1", false},
        {"2001:db8::/33", "2001:db8:7fff::1", true},
        {"2001:db8::/33", "2001:db8:8000::1", false},
        {"::1/128", "::1", true},
        {"::1/128", "::2", false},
        {"::1/128", "127.0.0.1", false},
        // IPv4-compatible ::a.b.c.d is not the IPv4 address.
        {"192.0.2.0/24", "::192.0.2.9", false},
        {"fe80::/10", "febf::1", true},
        {"fe80::/10", "fec0::1", false},
    };
    for (const auto& r : rows) {
        INFO(r.network << " contains " << r.address);
        CHECK(net(r.network).contains(ip(r.address)) == r.inside);
    }
}

TEST_CASE("any_contains", "[cidr]") {
    const std::vector<cidr> nets{net("10.0.0.0/8"), net("2001:db8::/32")};
    CHECK(any_contains(nets, ip("10.1.2.3")));
    CHECK(any_contains(nets, ip("2001:db8::5")));
    CHECK_FALSE(any_contains(nets, ip("192.0.2.1")));
    CHECK_FALSE(any_contains({}, ip("10.1.2.3")));
}
