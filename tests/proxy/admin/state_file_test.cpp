#include "proxy/admin/state_file.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include "tests/temp_dir.hpp"

using namespace maintgate;
namespace fs = std::filesystem;
using maintgate::test::temp_dir;
using namespace std::chrono;

namespace {

void write_file(const std::string& path, std::string_view text) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
    REQUIRE(f.good());
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

maintgate::sys_time at(int y, unsigned mo, unsigned d, int h, int mi, int s) {
    return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s};
}

}  // namespace

TEST_CASE("state_file: format and parse ISO 8601", "[state_file]") {
    struct row {
        maintgate::sys_time t;
        std::string_view text;
        std::string_view human;
    };
    const row rows[] = {
        {at(2026, 11, 22, 3, 0, 0), "2026-11-22T03:00:00Z", "2026-11-22 03:00 UTC"},
        {at(1970, 1, 1, 0, 0, 0), "1970-01-01T00:00:00Z", "1970-01-01 00:00 UTC"},
        {at(2024, 2, 29, 23, 59, 59), "2024-02-29T23:59:59Z", "2024-02-29 23:59 UTC"},
        {at(2099, 12, 31, 12, 34, 56), "2099-12-31T12:34:56Z", "2099-12-31 12:34 UTC"},
    };
    for (const auto& r : rows) {
        INFO(std::string(r.text));
        CHECK(format_iso8601(r.t) == r.text);
        CHECK(format_human(r.t) == r.human);
        const auto p = parse_iso8601(r.text);
        REQUIRE(p.has_value());
        CHECK(*p == r.t);
    }
    // Sub-second parts are dropped, not rounded.
    CHECK(format_iso8601(at(2026, 1, 2, 3, 4, 5) + milliseconds(999)) == "2026-01-02T03:04:05Z");
    // Round trip from now, at second precision.
    const auto now = time_point_cast<seconds>(system_clock::now());
    CHECK(parse_iso8601(format_iso8601(now)) == maintgate::sys_time(now));

    const std::string_view bad[] = {
        "",
        "2026-11-22",
        "2026-11-22T03:00:00",  // no zone
        "2026-11-22T03:00:00z",  // lower-case zone
        "2026-11-22 03:00:00Z",  // space instead of T
        "2026-11-22t03:00:00Z",
        "2026-11-22T03:00:00+00:00",
        "2026-11-22T03:00:00.000Z",  // fractions
        "2026-11-22T03:00Z",
        "2026-11-22T03:00:00ZZ",
        " 2026-11-22T03:00:00Z",
        "2026-11-22T03:00:00Z ",
        "2026-13-01T00:00:00Z",  // month 13
        "2026-00-10T00:00:00Z",  // month 0
        "2026-02-29T00:00:00Z",  // not a leap year
        "2026-04-31T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-22T24:00:00Z",
        "2026-11-22T03:60:00Z",
        "2026-11-22T03:00:61Z",
        "+026-11-22T03:00:00Z",
        "-026-11-22T03:00:00Z",
        "2026-1a-22T03:00:00Z",
        "2026-11-22T0 :00:00Z",
        "2026/11/22T03:00:00Z",
        "tomorrow at nine, ok?",
        "1010-01-01T00:00:00Z",  // would wrap the nanosecond clock (found by fuzzing)
        "1969-12-31T23:59:59Z",
        "2201-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    };
    for (auto b : bad) {
        INFO("'" << std::string(b) << "'");
        CHECK_FALSE(parse_iso8601(b).has_value());
    }
}

TEST_CASE("state_file: save then load round-trips every field", "[state_file]") {
    temp_dir dir;
    const std::string path = dir.file("state.json");

    gate_record full;
    full.mode = policy::mode::maintenance;
    full.stage = policy::stage::operators;
    full.fenced = true;
    full.reason = "schema \"v2\" migration\\now\nline two\ttab ünïcode ✓ 😀 \x01 </script>";
    full.until = at(2026, 11, 22, 3, 0, 0);
    full.set_by = "uid 1000 pid 4242";
    full.since = at(2026, 11, 22, 2, 15, 30);

    gate_record bare;
    bare.mode = policy::mode::read_only;
    bare.stage = policy::stage::read_only;
    bare.since = at(2025, 1, 1, 0, 0, 0);

    gate_record open;
    open.mode = policy::mode::open;
    open.stage = policy::stage::writes;
    open.reason = "done";
    open.set_by = "config";
    open.since = at(2026, 11, 22, 4, 0, 0);

    for (const gate_record* r : {&full, &bare, &open}) {
        INFO("mode " << policy::to_string(r->mode) << ", reason '" << r->reason << "'");
        REQUIRE(save_gate_record(path, *r) == "");
        // Only the state file: the temp file does not remain.
        CHECK(dir.entries() == 1);
        CHECK_FALSE(fs::exists(path + ".tmp"));
        const auto loaded = load_gate_record(path);
        INFO("error: " << loaded.error);
        REQUIRE(loaded.status == load_status::ok);
        CHECK(loaded.error.empty());
        CHECK(loaded.record.mode == r->mode);
        CHECK(loaded.record.stage == r->stage);
        CHECK(loaded.record.fenced == r->fenced);
        CHECK(loaded.record.reason == r->reason);
        CHECK(loaded.record.until == r->until);
        CHECK(loaded.record.set_by == r->set_by);
        CHECK(loaded.record.since == r->since);
    }
    // Overwriting keeps one file, and the last save wins.
    REQUIRE(save_gate_record(path, full) == "");
    REQUIRE(save_gate_record(path, bare) == "");
    CHECK(dir.entries() == 1);
    CHECK(load_gate_record(path).record.mode == policy::mode::read_only);
    CHECK_FALSE(load_gate_record(path).record.until.has_value());
}

TEST_CASE("state_file: the saved file is one JSON line", "[state_file]") {
    temp_dir dir;
    const std::string path = dir.file("state.json");
    gate_record r;
    r.mode = policy::mode::read_only;
    r.reason = "a\nb";
    r.since = at(2026, 1, 1, 0, 0, 0);
    REQUIRE(save_gate_record(path, r) == "");
    const std::string text = read_file(path);
    REQUIRE_FALSE(text.empty());
    CHECK(text.back() == '\n');
    CHECK(text.find('\n') == text.size() - 1);
    CHECK(text.find("\"mode\":\"read-only\"") != std::string::npos);
    CHECK(text.find("\"until\":null") != std::string::npos);
    CHECK(text.find("\"since\":\"2026-01-01T00:00:00Z\"") != std::string::npos);
}

TEST_CASE("state_file: a missing file is missing, not corrupt", "[state_file]") {
    temp_dir dir;
    const auto r = load_gate_record(dir.file("nope.json"));
    CHECK(r.status == load_status::missing);
    const auto r2 = load_gate_record(dir.file("no/such/folder/state.json"));
    CHECK(r2.status == load_status::missing);
}

TEST_CASE("state_file: corrupt files are corrupt, with a message", "[state_file]") {
    struct row {
        const char* what;
        std::string_view text;
        std::string_view message_part;
    };
    const row rows[] = {
        {"empty", "", "not valid JSON"},
        {"truncated", R"({"mode":"maintenance","reas)", "not valid JSON"},
        {"not an object", R"(["maintenance"])", "not valid JSON"},
        {"garbage", "\x01\x02 binary", "not valid JSON"},
        {"trailing garbage", R"({"mode":"open"} x)", "not valid JSON"},
        {"nested", R"({"mode":"open","extra":{}})", "not valid JSON"},
        {"no mode", R"({"reason":"x"})", "\"mode\""},
        {"wrong mode", R"({"mode":"closed"})", "\"mode\""},
        {"mode in upper case", R"({"mode":"MAINTENANCE"})", "\"mode\""},
        {"mode not a string", R"({"mode":2})", "\"mode\""},
        {"mode null", R"({"mode":null})", "\"mode\""},
        {"bad until", R"({"mode":"maintenance","until":"tomorrow"})", "\"until\""},
        {"until without zone", R"({"mode":"maintenance","until":"2026-11-22T03:00:00"})", "\"until\""},
        {"until impossible date", R"({"mode":"maintenance","until":"2026-02-30T03:00:00Z"})", "\"until\""},
        {"until a number", R"({"mode":"maintenance","until":1795000000})", "\"until\""},
        {"until true", R"({"mode":"maintenance","until":true})", "\"until\""},
        {"unknown stage", R"({"mode":"maintenance","stage":"closing"})", "\"stage\""},
        {"stage of another mode", R"({"mode":"maintenance","stage":"writes"})", "\"stage\""},
        {"stage not a string", R"({"mode":"open","stage":4})", "\"stage\""},
        {"fenced not a boolean", R"({"mode":"read-only","fenced":"yes"})", "\"fenced\""},
    };
    temp_dir dir;
    const std::string path = dir.file("state.json");
    for (const auto& r : rows) {
        INFO(r.what << ": " << std::string(r.text));
        write_file(path, r.text);
        const auto loaded = load_gate_record(path);
        INFO("error: " << loaded.error);
        CHECK(loaded.status == load_status::corrupt);
        CHECK_FALSE(loaded.error.empty());
        CHECK(loaded.error.find(r.message_part) != std::string::npos);
    }
    // A folder where the file should be cannot be read: corrupt, never open.
    const auto folder = load_gate_record(dir.path.string());
    CHECK(folder.status == load_status::corrupt);
    CHECK_FALSE(folder.error.empty());
}

TEST_CASE("state_file: a minimal valid file loads", "[state_file]") {
    temp_dir dir;
    const std::string path = dir.file("state.json");
    write_file(path, " {\"mode\":\"read-only\", \"until\": null}\n");
    const auto loaded = load_gate_record(path);
    INFO(loaded.error);
    REQUIRE(loaded.status == load_status::ok);
    CHECK(loaded.record.mode == policy::mode::read_only);
    // A file from before stages existed: the mode's own stage, no fence.
    CHECK(loaded.record.stage == policy::stage::read_only);
    CHECK_FALSE(loaded.record.fenced);
    CHECK(loaded.record.reason.empty());
    CHECK_FALSE(loaded.record.until.has_value());
}

TEST_CASE("state_file: saving into a missing folder fails and leaves nothing", "[state_file]") {
    temp_dir dir;
    const std::string path = dir.file("missing/state.json");
    gate_record r;
    r.mode = policy::mode::maintenance;
    const std::string err = save_gate_record(path, r);
    CHECK_FALSE(err.empty());
    CHECK(err.find("missing") != std::string::npos);  // names the path
    CHECK_FALSE(fs::exists(path));
    CHECK_FALSE(fs::exists(path + ".tmp"));
    CHECK(dir.entries() == 0);
}

TEST_CASE("state_file: a failed rename removes the temp file", "[state_file]") {
    // The state path is a non-empty folder: the temp file is written, the rename fails.
    temp_dir dir;
    const std::string path = dir.file("state.json");
    fs::create_directory(path);
    write_file(path + "/keep", "x");
    gate_record r;
    r.mode = policy::mode::maintenance;
    const std::string err = save_gate_record(path, r);
    CHECK_FALSE(err.empty());
    CHECK(err.find("state.json") != std::string::npos);
    CHECK_FALSE(fs::exists(path + ".tmp"));
    CHECK(fs::is_directory(path));
    CHECK(dir.entries() == 1);
}

TEST_CASE("state_file: staged, the old state stands until the commit, and a discard leaves it",
          "[state_file]") {
    temp_dir dir;
    const std::string path = dir.file("state.json");
    gate_record old_state;
    old_state.mode = policy::mode::open;
    old_state.since = at(2026, 1, 1, 0, 0, 0);
    REQUIRE(save_gate_record(path, old_state) == "");
    const std::string old_text = read_file(path);
    gate_record next;
    next.mode = policy::mode::maintenance;
    next.reason = "migration";
    next.since = at(2026, 1, 2, 0, 0, 0);

    REQUIRE(stage_gate_record(path, next) == "");
    CHECK(read_file(path) == old_text);  // what a crash here would restart with
    CHECK(fs::exists(path + ".tmp"));

    SECTION("discarded: as if never staged") {
        discard_gate_record(path);
        CHECK(read_file(path) == old_text);
        CHECK(dir.entries() == 1);
    }
    SECTION("committed: the new state, and no temp file") {
        const auto c = commit_gate_record(path);
        CHECK(c.error.empty());
        CHECK(c.not_durable.empty());
        const auto loaded = load_gate_record(path);
        REQUIRE(loaded.status == load_status::ok);
        CHECK(loaded.record.mode == policy::mode::maintenance);
        CHECK(loaded.record.reason == "migration");
        CHECK(dir.entries() == 1);
    }
}

TEST_CASE("state_file: a commit with nothing staged fails and changes nothing", "[state_file]") {
    temp_dir dir;
    const std::string path = dir.file("state.json");
    write_file(path, "kept");
    const auto c = commit_gate_record(path);
    CHECK_FALSE(c.error.empty());
    CHECK(c.error.find("state.json") != std::string::npos);
    CHECK(read_file(path) == "kept");
    CHECK(dir.entries() == 1);
}

TEST_CASE("state_file: a stage that does not belong to the mode is saved as the mode's own", "[state_file]") {
    temp_dir dir;
    const std::string path = dir.file("state.json");
    gate_record r;
    r.mode = policy::mode::maintenance;  // stage left at its default, open
    r.since = at(2026, 1, 1, 0, 0, 0);
    REQUIRE(save_gate_record(path, r) == "");
    const auto loaded = load_gate_record(path);
    REQUIRE(loaded.status == load_status::ok);
    CHECK(loaded.record.stage == policy::stage::maintenance);
}

TEST_CASE("state_file: millisecond timestamps", "[state_file]") {
    CHECK(format_iso8601_ms(0) == "1970-01-01T00:00:00.000Z");
    CHECK(format_iso8601_ms(1'795'000'000'123) == "2026-11-18T11:06:40.123Z");
    CHECK(format_iso8601_ms(1'795'000'000'007) == "2026-11-18T11:06:40.007Z");
    CHECK(format_iso8601_ms(1'795'000'000'999) == "2026-11-18T11:06:40.999Z");
    CHECK(format_iso8601_ms(-1) == "1969-12-31T23:59:59.999Z");
}
