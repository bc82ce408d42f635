// The app's write-state header ([auto_read_only]): what asks for read-only, and its ttl.
#include "proxy/http/write_state.hpp"

#include <catch2/catch.hpp>

using maintgate::proxy::parse_write_state;

TEST_CASE("parse_write_state", "[write_state]") {
    static_assert(parse_write_state("read-only") == 0);
    CHECK(parse_write_state("read-only") == 0);
    CHECK(parse_write_state("  Read-Only  ") == 0);
    CHECK(parse_write_state("read-only; ttl=30") == 30);
    CHECK(parse_write_state("read-only;ttl=5;reason=x") == 5);
    CHECK(parse_write_state("read-only; reason=x; TTL=7") == 7);
    CHECK(parse_write_state("read-only; ttl=abc") == 0);
    CHECK(parse_write_state("read-only; ttl=999999999999") == 86'400);
    CHECK_FALSE(parse_write_state("read-write"));
    CHECK_FALSE(parse_write_state(""));
    CHECK_FALSE(parse_write_state("read-only-ish"));
}
