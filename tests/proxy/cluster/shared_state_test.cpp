// proxy/cluster/shared_state: the values in etcd round-trip, and bad ones are refused.
#include "proxy/cluster/shared_state.hpp"

#include <catch2/catch.hpp>

#include "proxy/cluster/etcd_client.hpp"

using namespace maintgate;
using namespace maintgate::proxy::cluster;

TEST_CASE("shared_state: the desired state round-trips with its window slot and epoch", "[cluster]") {
    desired_state d;
    d.record.mode = policy::mode::read_only;
    d.record.stage = policy::stage::read_only;
    d.record.fenced = true;
    d.record.reason = "db \"migration\"\n";
    d.record.until = parse_iso8601("2026-11-22T03:00:00Z");
    d.record.set_by = "uid 0 pid 7";
    d.record.since = *parse_iso8601("2026-11-22T02:00:00Z");
    d.epoch = 12;
    d.command = "freeze";
    d.asked_by = "uid 0 pid 7";
    d.origin = "web-1";
    const std::string text = encode_desired(d);
    CHECK(text.find("\"window\":null") != std::string::npos);
    std::string error;
    auto back = decode_desired(text, error);
    REQUIRE(back);
    CHECK(back->record.mode == policy::mode::read_only);
    CHECK(back->record.fenced);
    CHECK(back->record.reason == d.record.reason);
    CHECK(back->record.until == d.record.until);
    CHECK(back->epoch == 12);
    CHECK(back->command == "freeze");
    CHECK(back->origin == "web-1");

    CHECK_FALSE(decode_desired("[1]", error));
    CHECK_FALSE(decode_desired("{\"mode\":\"ajar\"}", error));
    CHECK_FALSE(error.empty());
    CHECK_FALSE(decode_desired("not json", error));
}

TEST_CASE("shared_state: the window that holds the gate rides on the desired state", "[cluster]") {
    desired_state d;
    d.record.mode = policy::mode::maintenance;
    d.record.stage = policy::stage::maintenance;
    shared_window w;
    w.id = "w-1";
    w.phase = "active";
    w.mode = policy::mode::read_only;
    w.reason = "db upgrade";
    w.ends = parse_iso8601("2026-12-03T20:00:00Z");
    w.started_at = parse_iso8601("2026-12-03T19:00:00Z");
    w.replica = "web-1";
    d.window = w;
    std::string error;
    auto back = decode_desired(encode_desired(d), error);
    REQUIRE(back);
    REQUIRE(back->window);
    CHECK(*back->window == w);
    CHECK(back->window->in_progress());
    w.phase = "completed";
    CHECK_FALSE(w.in_progress());

    // Written before the window object existed: null, or no key at all.
    back = decode_desired("{\"mode\":\"open\",\"window\":null}", error);
    REQUIRE(back);
    CHECK_FALSE(back->window);
    back = decode_desired("{\"mode\":\"open\"}", error);
    REQUIRE(back);
    CHECK_FALSE(back->window);
    // A window without its id or phase is not taken for none.
    error.clear();
    CHECK_FALSE(decode_desired("{\"mode\":\"open\",\"window\":{\"phase\":\"active\",\"mode\":\"read-only\"}}",
                               error));
    CHECK(error == "window: needs an id, a phase and a mode");
    CHECK_FALSE(decode_desired("{\"mode\":\"open\",\"window\":\"w-1\"}", error));
    CHECK(error == "window: expected an object or null");
}

TEST_CASE("shared_state: acks round-trip; one without an id or a mode is no ack", "[cluster]") {
    replica_ack a;
    a.id = "web-2";
    a.revision = 41;
    a.mode = policy::mode::maintenance;
    a.stage = policy::stage::operators;
    a.fenced = true;
    a.in_flight_writes = 3;
    a.write_boundary_ms = 1'700'000'000'123;
    a.at_ms = 1'700'000'000'999;
    a.self_fenced = true;
    auto b = decode_ack(encode_ack(a));
    REQUIRE(b);
    CHECK(b->id == "web-2");
    CHECK(b->revision == 41);
    CHECK(b->stage == policy::stage::operators);
    CHECK(b->in_flight_writes == 3);
    CHECK(b->write_boundary_ms == a.write_boundary_ms);
    CHECK(b->at_ms == a.at_ms);
    CHECK(b->self_fenced);
    CHECK_FALSE(decode_ack("{\"revision\":1,\"mode\":\"open\",\"stage\":\"open\"}"));
    CHECK_FALSE(decode_ack("{\"id\":\"x\",\"mode\":\"shut\",\"stage\":\"open\"}"));
}

TEST_CASE("shared_state: the more restrictive mode, and prefix range ends", "[cluster]") {
    using policy::mode;
    CHECK(more_restrictive(mode::open, mode::read_only) == mode::read_only);
    CHECK(more_restrictive(mode::maintenance, mode::read_only) == mode::maintenance);
    CHECK(more_restrictive(mode::read_only, mode::read_only) == mode::read_only);
    CHECK(prefix_end("/mg/acks/") == "/mg/acks0");
    CHECK(prefix_end(std::string("a\xff", 2)) == "b");
    CHECK(desired_key("/mg") == "/mg/desired");
}

TEST_CASE("etcd gateway: watch lines decode, with compaction and progress", "[cluster]") {
    std::string error;
    auto created = decode_watch_line(
        R"({"result":{"header":{"revision":"3"},"created":true}})", error);
    REQUIRE(created);
    CHECK(created->created);
    CHECK(created->revision == 3);
    auto ev = decode_watch_line(
        R"({"result":{"header":{"revision":"4"},"events":[{"kv":{"key":"Zm9v","mod_revision":"4","value":"cXV4"}},{"type":"DELETE","kv":{"key":"Zm9v","mod_revision":"5"}}]}})",
        error);
    REQUIRE(ev);
    REQUIRE(ev->events.size() == 2);
    CHECK(ev->events[0].kv.key == "foo");
    CHECK(ev->events[0].kv.value == "qux");
    CHECK(ev->events[0].kv.mod_revision == 4);
    CHECK(ev->events[1].deleted);
    auto gone = decode_watch_line(R"({"result":{"header":{},"canceled":true,"compact_revision":"4"}})", error);
    REQUIRE(gone);
    CHECK(gone->canceled);
    CHECK(gone->compact_revision == 4);
    CHECK_FALSE(decode_watch_line(R"({"error":{"message":"boom"}})", error));
    CHECK(error == "watch: boom");
}
