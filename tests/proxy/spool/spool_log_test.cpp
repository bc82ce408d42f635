// The spool's segment log and index: durability across reopen, torn tails, dedupe,
// quotas, FIFO per order key, marks, compaction.
#include <catch2/catch.hpp>

#include <fstream>

#include "proxy/spool/spool_log.hpp"
#include "tests/temp_dir.hpp"

using namespace maintgate;
using namespace maintgate::spool;
using maintgate::test::temp_dir;

namespace {

constexpr std::int64_t t0 = 1'700'000'000'000;

event make(std::string dedupe, std::string order = "", std::size_t body = 10) {
    event e;
    e.arrival_ms = t0;
    e.method = "POST";
    e.target = "/hooks";
    e.delivery_id = dedupe;
    e.dedupe_key = std::move(dedupe);
    e.order_key = std::move(order);
    e.headers = {{"Content-Type", "application/json"}};
    e.body = std::string(body, 'b');
    return e;
}

// Admits and commits one event; its id.
std::uint64_t store(spool_log& log, event e, std::int64_t now = t0) {
    std::string batch;
    REQUIRE(log.admit(e, now, batch) == admit_result::accepted);
    REQUIRE(log.commit(batch).empty());
    return e.id;
}

void set_mark(spool_log& log, mark_kind k, std::uint64_t id) {
    std::string batch;
    REQUIRE(log.stage_mark(mark{k, id, 0, ""}, batch));
    REQUIRE(log.commit(batch).empty());
}

spool_settings settings() {
    spool_settings s;
    s.dedupe_ttl = duration{60'000};
    return s;
}

}  // namespace

TEST_CASE("stored events and their marks survive a reopen", "[spool][log]") {
    temp_dir dir;
    const auto path = dir.file("spool");
    std::uint64_t a, b, c;
    {
        spool_log log;
        REQUIRE(log.open(path, settings()).empty());
        a = store(log, make("d1"));
        b = store(log, make("d2"));
        c = store(log, make("d3"));
        set_mark(log, mark_kind::done, a);
        set_mark(log, mark_kind::dead, b);
    }
    spool_log log;
    REQUIRE(log.open(path, settings()).empty());
    CHECK(log.torn_bytes() == 0);
    REQUIRE(log.find(a));
    CHECK(log.find(a)->st == state::done);
    CHECK(log.find(b)->st == state::dead);
    CHECK(log.find(c)->st == state::pending);
    auto e = log.load(c);
    REQUIRE(e);
    CHECK(e->delivery_id == "d3");
    CHECK(e->body == std::string(10, 'b'));
    // Ids go on from the last one.
    CHECK(store(log, make("d4")) == c + 1);
}

TEST_CASE("a torn tail is cut at open and the log appends after it", "[spool][log]") {
    temp_dir dir;
    const auto path = dir.file("spool");
    std::uint64_t a;
    {
        spool_log log;
        REQUIRE(log.open(path, settings()).empty());
        a = store(log, make("d1"));
    }
    // Half a frame, as a kill during write(2) would leave it.
    {
        std::ofstream f(path + "/0000000000000001.seg", std::ios::app | std::ios::binary);
        f.write("\x40\x00\x00\x00\x12\x34\x56\x78partial", 15);
    }
    {
        spool_log log;
        REQUIRE(log.open(path, settings()).empty());
        CHECK(log.torn_bytes() == 15);
        CHECK(log.find(a));
        CHECK(store(log, make("d2")) == a + 1);
    }
    spool_log log;
    REQUIRE(log.open(path, settings()).empty());
    CHECK(log.torn_bytes() == 0);
    CHECK(log.counts().pending == 2);
}

TEST_CASE("a duplicate within the TTL gets the first id and is not stored", "[spool][log][dedupe]") {
    temp_dir dir;
    spool_log log;
    REQUIRE(log.open(dir.file("spool"), settings()).empty());
    const auto a = store(log, make("same"));
    std::string batch;
    auto dup = make("same");
    CHECK(log.admit(dup, t0 + 59'000, batch) == admit_result::duplicate);
    CHECK(dup.id == a);
    CHECK(batch.empty());
    CHECK(log.counts().pending == 1);
    // Past the TTL the same key is a new event.
    auto later = make("same");
    CHECK(log.admit(later, t0 + 61'000, batch) == admit_result::accepted);
    CHECK(later.id == a + 1);
    // Two in one batch: the second is the first's duplicate.
    auto x = make("x"), y = make("x");
    CHECK(log.admit(x, t0, batch) == admit_result::accepted);
    CHECK(log.admit(y, t0, batch) == admit_result::duplicate);
    CHECK(y.id == x.id);
    REQUIRE(log.commit(batch).empty());
}

TEST_CASE("dedupe keys are rebuilt at open", "[spool][log][dedupe]") {
    temp_dir dir;
    std::uint64_t a;
    {
        spool_log log;
        REQUIRE(log.open(dir.file("spool"), settings()).empty());
        a = store(log, make("k"));
    }
    spool_log log;
    REQUIRE(log.open(dir.file("spool"), settings()).empty());
    std::string batch;
    auto dup = make("k");
    CHECK(log.admit(dup, t0 + 1000, batch) == admit_result::duplicate);
    CHECK(dup.id == a);
}

TEST_CASE("quotas refuse new events and drop nothing stored", "[spool][log][quota]") {
    temp_dir dir;
    auto s = settings();
    s.max_events = 2;
    spool_log log;
    REQUIRE(log.open(dir.file("spool"), s).empty());
    store(log, make("a"));
    store(log, make("b"));
    std::string batch;
    auto c = make("c");
    CHECK(log.admit(c, t0, batch) == admit_result::over_events);
    CHECK(log.counts().pending == 2);
    // Delivering one makes room.
    set_mark(log, mark_kind::done, log.heads().front());
    CHECK(log.admit(c, t0, batch) == admit_result::accepted);

    temp_dir dir2;
    auto sb = settings();
    sb.max_bytes = 350;  // the first event's frame is about 200 bytes
    spool_log bytes_log;
    REQUIRE(bytes_log.open(dir2.file("spool"), sb).empty());
    store(bytes_log, make("a", "", 100));
    std::string b2;
    auto big = make("b", "", 200);
    CHECK(bytes_log.admit(big, t0, b2) == admit_result::over_bytes);
    CHECK(b2.empty());
    auto small = make("c", "", 10);
    CHECK(bytes_log.admit(small, t0, b2) == admit_result::accepted);

    temp_dir dir3;
    auto sa = settings();
    sa.max_age = duration{10'000};
    spool_log age_log;
    REQUIRE(age_log.open(dir3.file("spool"), sa).empty());
    store(age_log, make("old"));
    std::string b3;
    auto fresh = make("new");
    CHECK(age_log.admit(fresh, t0 + 5'000, b3) == admit_result::accepted);
    auto late = make("late");
    CHECK(age_log.admit(late, t0 + 11'000, b3) == admit_result::over_age);
}

TEST_CASE("heads: FIFO per order key, keys independent, dead letters leave the queue", "[spool][log]") {
    temp_dir dir;
    spool_log log;
    REQUIRE(log.open(dir.file("spool"), settings()).empty());
    const auto a1 = store(log, make("1", "A"));
    const auto b1 = store(log, make("2", "B"));
    const auto a2 = store(log, make("3", "A"));
    const auto n1 = store(log, make("4", ""));
    const auto n2 = store(log, make("5", ""));
    CHECK(log.heads() == std::vector<std::uint64_t>{a1, b1, n1, n2});
    set_mark(log, mark_kind::done, a1);
    CHECK(log.heads() == std::vector<std::uint64_t>{b1, a2, n1, n2});
    set_mark(log, mark_kind::dead, a2);
    CHECK(log.heads() == std::vector<std::uint64_t>{b1, n1, n2});
    // Requeued, it is back in its key's queue.
    set_mark(log, mark_kind::requeued, a2);
    CHECK(log.heads() == std::vector<std::uint64_t>{b1, a2, n1, n2});
    // Marks that make no sense from the state are refused and write nothing.
    std::string batch;
    CHECK_FALSE(log.stage_mark(mark{mark_kind::done, a1, 0, ""}, batch));
    CHECK_FALSE(log.stage_mark(mark{mark_kind::requeued, b1, 0, ""}, batch));
    CHECK_FALSE(log.stage_mark(mark{mark_kind::done, 999, 0, ""}, batch));
    CHECK(batch.empty());
    set_mark(log, mark_kind::dropped, b1);
    CHECK(log.find(b1)->st == state::dropped);
}

TEST_CASE("compaction deletes fully done segments from the oldest, and ids are never reused",
          "[spool][log][compaction]") {
    temp_dir dir;
    auto s = settings();
    s.segment_bytes = 200;  // about one event per segment
    s.dedupe_ttl = duration{1000};
    std::uint64_t last = 0;
    {
        spool_log log;
        REQUIRE(log.open(dir.file("spool"), s).empty());
        std::vector<std::uint64_t> ids;
        for (int i = 0; i < 4; ++i) ids.push_back(store(log, make("k" + std::to_string(i), "", 100)));
        CHECK(log.counts().segments >= 3);
        // The second is done but the first is not: nothing can go yet.
        set_mark(log, mark_kind::done, ids[1]);
        CHECK(log.compact(t0 + 5000) == 0);
        for (auto id : ids) {
            if (id != ids[1]) set_mark(log, mark_kind::done, id);
        }
        // Within the dedupe TTL they stay.
        CHECK(log.compact(t0 + 500) == 0);
        CHECK(log.compact(t0 + 5000) >= 2);
        CHECK(log.counts().segments >= 1);
        last = ids.back();
    }
    spool_log log;
    REQUIRE(log.open(dir.file("spool"), s).empty());
    CHECK(log.counts().pending == 0);
    CHECK(store(log, make("again", "", 10)) > last);
}
