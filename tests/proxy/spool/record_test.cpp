// Spool records: CRC-32C, framing round trips, and what a torn or corrupted tail does.
#include <catch2/catch.hpp>

#include "proxy/spool/crc32c.hpp"
#include "proxy/spool/record.hpp"

using namespace maintgate::spool;

namespace {

event sample(std::uint64_t id) {
    event e;
    e.id = id;
    e.arrival_ms = 1'700'000'000'123;
    e.method = "POST";
    e.target = "/hooks/github?x=1";
    e.delivery_id = "d-" + std::to_string(id);
    e.dedupe_key = e.delivery_id;
    e.order_key = "repo/a";
    e.headers = {{"Host", "app.example"}, {"X-GitHub-Delivery", e.delivery_id}, {"Content-Type", "application/json"}};
    e.body = "{\"n\":" + std::to_string(id) + "}" + std::string("\0bin", 4);  // bytes, not text
    return e;
}

std::vector<std::string_view> payloads(std::string_view bytes, std::size_t& valid) {
    std::vector<std::string_view> out;
    valid = scan_frames(bytes, [&](std::size_t, std::string_view p) { out.push_back(p); });
    return out;
}

}  // namespace

TEST_CASE("crc32c matches the published check value", "[spool][crc]") {
    // RFC 3720 (iSCSI) B.4 and every CRC catalogue: CRC-32C("123456789") = E3069283.
    CHECK(crc32c("123456789") == 0xE3069283u);
    CHECK(crc32c("") == 0u);
    // 32 bytes of zeros, RFC 3720 B.4.
    CHECK(crc32c(std::string(32, '\0')) == 0x8A9136AAu);
    // Continuing a CRC gives the CRC of the whole.
    CHECK(crc32c("56789", crc32c("1234")) == 0xE3069283u);
}

TEST_CASE("an event and the marks round-trip through their frames", "[spool][record]") {
    std::string bytes;
    append_frame(bytes, sample(7));
    append_frame(bytes, mark{mark_kind::dead, 7, 400, "400 Bad Request"});
    append_frame(bytes, mark{mark_kind::requeued, 7, 0, "uid 0"});
    std::size_t valid = 0;
    auto ps = payloads(bytes, valid);
    REQUIRE(ps.size() == 3);
    CHECK(valid == bytes.size());
    auto r0 = decode(ps[0]);
    REQUIRE(r0);
    const auto& e = std::get<event>(*r0);
    const auto want = sample(7);
    CHECK(e.id == 7);
    CHECK(e.arrival_ms == want.arrival_ms);
    CHECK(e.method == "POST");
    CHECK(e.target == want.target);
    CHECK(e.delivery_id == "d-7");
    CHECK(e.order_key == "repo/a");
    CHECK(e.headers == want.headers);
    CHECK(e.body == want.body);
    auto r1 = decode(ps[1]);
    REQUIRE(r1);
    CHECK(std::get<mark>(*r1).kind == mark_kind::dead);
    CHECK(std::get<mark>(*r1).status == 400);
    CHECK(std::get<mark>(*r1).detail == "400 Bad Request");
    CHECK(std::get<mark>(*decode(ps[2])).kind == mark_kind::requeued);
}

TEST_CASE("a torn tail ends the scan at the last whole frame", "[spool][record]") {
    std::string bytes;
    append_frame(bytes, sample(1));
    const std::size_t first = bytes.size();
    append_frame(bytes, sample(2));
    // Every cut inside the second frame keeps exactly the first.
    for (std::size_t cut = first; cut < bytes.size(); cut += 7) {
        std::size_t valid = 0;
        auto ps = payloads(std::string_view(bytes).substr(0, cut), valid);
        CHECK(ps.size() == 1);
        CHECK(valid == first);
    }
}

TEST_CASE("a flipped bit fails the CRC and ends the scan there", "[spool][record]") {
    std::string bytes;
    append_frame(bytes, sample(1));
    const std::size_t first = bytes.size();
    append_frame(bytes, sample(2));
    append_frame(bytes, sample(3));
    bytes[first + frame_header + 5] ^= 0x10;
    std::size_t valid = 0;
    auto ps = payloads(bytes, valid);
    CHECK(ps.size() == 1);
    CHECK(valid == first);
}

TEST_CASE("zeros (a preallocated or half-written tail) and absurd lengths are not frames", "[spool][record]") {
    std::size_t valid = 1;
    CHECK(payloads(std::string(64, '\0'), valid).empty());
    CHECK(valid == 0);
    std::string huge = "\xff\xff\xff\x7f\0\0\0\0";
    huge += std::string(32, 'x');
    CHECK(payloads(huge, valid).empty());
    CHECK(valid == 0);
}

TEST_CASE("a payload that does not parse is refused, not half-read", "[spool][record]") {
    CHECK_FALSE(decode(""));
    CHECK_FALSE(decode("\x09whatever"));
    std::string bytes;
    append_frame(bytes, sample(1));
    std::string_view payload = std::string_view(bytes).substr(frame_header);
    CHECK_FALSE(decode(payload.substr(0, payload.size() - 1)));
    CHECK_FALSE(decode(std::string(payload) + "x"));
}
