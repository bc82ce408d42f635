#include "proxy/admin/audit.hpp"

#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "proxy/admin/json.hpp"
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

maintgate::sys_time at(int y, unsigned mo, unsigned d, int h, int mi, int s, int ms = 0) {
    return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s} + milliseconds{ms};
}

audit_entry sample_entry() {
    audit_entry e;
    e.time = at(2026, 11, 22, 3, 10, 0, 123);
    e.uid = 1000;
    e.pid = 4242;
    e.actor = "uid 1000 pid 4242";
    e.command = "set mode maintenance reason \"schema migration\"";
    e.old_mode = policy::mode::open;
    e.new_mode = policy::mode::maintenance;
    e.old_stage = policy::stage::open;
    e.new_stage = policy::stage::maintenance;
    e.reason = "schema migration";
    e.outcome = "ok";
    return e;
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        out.push_back(text.substr(pos, nl - pos));
        pos = nl + 1;
    }
    return out;
}

// The test sets the umask it expects so the file mode check does not depend on the shell.
struct umask_guard {
    mode_t old;
    explicit umask_guard(mode_t m) : old(::umask(m)) {}
    ~umask_guard() { ::umask(old); }
};

}  // namespace

TEST_CASE("audit: the line has every field, in order", "[audit]") {
    CHECK(audit_line(sample_entry()) ==
          "{\"time\":\"2026-11-22T03:10:00.123Z\",\"uid\":1000,\"pid\":4242,"
          "\"actor\":\"uid 1000 pid 4242\","
          "\"command\":\"set mode maintenance reason \\\"schema migration\\\"\","
          "\"old_mode\":\"open\",\"new_mode\":\"maintenance\","
          "\"old_stage\":\"open\",\"new_stage\":\"maintenance\","
          "\"reason\":\"schema migration\",\"outcome\":\"ok\",\"detail\":\"\"}");

    audit_entry e = sample_entry();
    e.uid = -1;
    e.pid = -1;
    e.actor = "watch";
    e.old_stage = policy::stage::writes;
    e.new_stage = policy::stage::read_only;
    e.old_mode = policy::mode::open;
    e.new_mode = policy::mode::read_only;
    e.outcome = "ok";
    e.detail = "5xx rate 0.31 over 120 responses";
    const auto line = audit_line(e);
    CHECK(line.find("\"uid\":null,\"pid\":null,\"actor\":\"watch\"") != std::string::npos);
    CHECK(line.find("\"old_stage\":\"writes\",\"new_stage\":\"read-only\"") != std::string::npos);
    CHECK(line.find("\"new_mode\":\"read-only\"") != std::string::npos);
    CHECK(line.find("\"detail\":\"5xx rate 0.31 over 120 responses\"}") != std::string::npos);
}

TEST_CASE("audit: in a cluster the replica id comes last; alone there is no such field", "[audit]") {
    audit_entry e = sample_entry();
    CHECK(audit_line(e).find("replica") == std::string::npos);
    e.replica = "web-2";
    const auto line = audit_line(e);
    CHECK(line.size() > 20);
    CHECK(line.substr(line.size() - 19) == ",\"replica\":\"web-2\"}");
    CHECK(format_audit_human(line).ends_with("  [replica web-2]"));
}

TEST_CASE("audit: times carry milliseconds, truncated, in UTC", "[audit]") {
    CHECK(format_iso8601_ms(at(2026, 11, 22, 3, 10, 0, 123)) == "2026-11-22T03:10:00.123Z");
    CHECK(format_iso8601_ms(at(2026, 11, 22, 3, 10, 0)) == "2026-11-22T03:10:00.000Z");
    CHECK(format_iso8601_ms(at(2024, 2, 29, 23, 59, 59, 999) + microseconds{999}) ==
          "2024-02-29T23:59:59.999Z");
    CHECK(format_iso8601_ms(at(1970, 1, 1, 0, 0, 0, 7)) == "1970-01-01T00:00:00.007Z");
}

TEST_CASE("audit: hostile text stays inside its field", "[audit]") {
    const std::string hostile =
        "x\",\"outcome\":\"forged\"}\n{\"a\":\"b\\\r\t\x01\x1b[2J\x7f caf\xc3\xa9 \xf0\x9f\x9a\xa7";
    audit_entry e = sample_entry();
    e.reason = hostile;
    e.command = "set mode maintenance reason " + hostile;
    e.actor = "uid 0 pid 1\nforged";
    e.detail = std::string("nul\0byte", 8);
    const auto line = audit_line(e);

    // One line, no raw control byte, and the UTF-8 passed through as it is.
    for (unsigned char c : line) {
        INFO(static_cast<int>(c));
        CHECK((c >= 0x20 && c != 0x7f));
    }
    CHECK(line.find("caf\xc3\xa9 \xf0\x9f\x9a\xa7") != std::string::npos);
    CHECK(line.find("\\u001b[2J") != std::string::npos);
    CHECK(line.find("\\u007f") != std::string::npos);
    CHECK(line.find("\\u0000") != std::string::npos);

    // And it reads back to exactly what was written, with the real outcome.
    std::string error;
    auto obj = json::parse_flat_object(line, error);
    REQUIRE(obj.has_value());
    CHECK(obj->size() == 12);
    auto text = [&](const char* key) { return std::string(obj->at(key).as_string()); };
    CHECK(text("reason") == hostile);
    CHECK(text("command") == e.command);
    CHECK(text("actor") == e.actor);
    CHECK(text("detail") == e.detail);
    CHECK(text("outcome") == "ok");
    CHECK(obj->at("uid").is_int64());
    CHECK(obj->at("uid").as_int64() == 1000);
}

TEST_CASE("audit: append creates the file 0640 and appends", "[audit]") {
    temp_dir dir;
    const auto path = dir.file("audit.jsonl");
    umask_guard mask(022);

    audit_entry first = sample_entry();
    REQUIRE(append_audit(path, first) == "");
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0640);
    CHECK(read_file(path) == audit_line(first) + "\n");

    audit_entry second = sample_entry();
    second.command = "freeze timeout 30s";
    second.outcome = "failed";
    second.detail = "2 writes still in flight";
    REQUIRE(append_audit(path, second) == "");
    CHECK(read_file(path) == audit_line(first) + "\n" + audit_line(second) + "\n");

    // An existing file keeps its own mode.
    REQUIRE(::chmod(path.c_str(), 0600) == 0);
    REQUIRE(append_audit(path, first) == "");
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(split_lines(read_file(path)).size() == 3);
}

TEST_CASE("audit: an entry after a line without a newline starts a line of its own", "[audit]") {
    temp_dir dir;
    const auto path = dir.file("audit.jsonl");
    write_file(path, "first\nhalf a li");
    const audit_entry e = sample_entry();
    REQUIRE(append_audit(path, e) == "");
    CHECK(read_file(path) == "first\nhalf a li\n" + audit_line(e) + "\n");

    const auto tail = read_audit_tail(path, 2);
    CHECK(tail.error == "");
    CHECK(tail.lines == std::vector<std::string>{"half a li", audit_line(e)});
}

TEST_CASE("audit: a path that cannot be written gives an error and writes nothing", "[audit]") {
    temp_dir dir;
    // A regular file where a folder should be: fails for root too.
    const auto blocker = dir.file("not-a-folder");
    write_file(blocker, "x");
    const auto under_file = blocker + "/audit.jsonl";
    const auto err = append_audit(under_file, sample_entry());
    CHECK(err.rfind("cannot open " + under_file + ": ", 0) == 0);
    CHECK(err.find("Not a directory") != std::string::npos);
    CHECK(read_file(blocker) == "x");

    // A folder where the file should be.
    const auto folder = dir.file("a-folder");
    fs::create_directory(folder);
    CHECK(append_audit(folder, sample_entry()).rfind("cannot open " + folder + ": ", 0) == 0);
    CHECK(fs::is_empty(folder));

    // A missing folder.
    const auto missing = dir.file("missing") + "/audit.jsonl";
    CHECK(append_audit(missing, sample_entry()).rfind("cannot open " + missing + ": ", 0) == 0);
    CHECK(!fs::exists(dir.file("missing")));

    // A device that refuses every byte.
    if (fs::exists("/dev/full")) {
        const auto full = append_audit("/dev/full", sample_entry());
        CHECK(full == "cannot write /dev/full: No space left on device");
    }
}

TEST_CASE("audit: a short write is cut back, so the next line does not glue onto it", "[audit]") {
    temp_dir dir;
    const auto path = dir.file("audit.jsonl");
    audit_entry e = sample_entry();
    REQUIRE(append_audit(path, e) == "");
    const std::string before = read_file(path);

    // A file size limit just past the current end makes write(2) store 10 bytes and stop
    // there: the partial write this guards against, on demand.
    struct rlimit old {};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
    if (old.rlim_max != RLIM_INFINITY && old.rlim_max < before.size() + 10) {
        WARN("RLIMIT_FSIZE hard limit too low to run this test");
        return;
    }
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit low = old;
    low.rlim_cur = before.size() + 10;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &low) == 0);
    e.command = "set mode read-only";
    const std::string short_err = append_audit(path, e);
    // At the limit exactly, the write stores nothing and fails.
    low.rlim_cur = before.size();
    ::setrlimit(RLIMIT_FSIZE, &low);
    const std::string full_err = append_audit(path, e);
    ::setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, old_handler);

    const std::string line_size = std::to_string(audit_line(e).size() + 1);
    CHECK(short_err == "short write " + path + ": 10 of " + line_size + " bytes");
    CHECK(full_err.rfind("cannot write " + path + ": ", 0) == 0);
    CHECK(read_file(path) == before);

    REQUIRE(append_audit(path, e) == "");
    CHECK(read_file(path) == before + audit_line(e) + "\n");
}

TEST_CASE("audit: tail returns the last lines, oldest first", "[audit]") {
    temp_dir dir;
    const auto path = dir.file("audit.jsonl");

    SECTION("a missing file is no lines and no error") {
        const auto t = read_audit_tail(path, 10);
        CHECK(t.lines.empty());
        CHECK(t.error == "");
    }
    SECTION("an empty file") {
        write_file(path, "");
        const auto t = read_audit_tail(path, 10);
        CHECK(t.lines.empty());
        CHECK(t.error == "");
    }
    SECTION("n larger, equal, smaller, zero") {
        write_file(path, "one\ntwo\nthree\n");
        CHECK(read_audit_tail(path, 10).lines == std::vector<std::string>{"one", "two", "three"});
        CHECK(read_audit_tail(path, 3).lines == std::vector<std::string>{"one", "two", "three"});
        CHECK(read_audit_tail(path, 2).lines == std::vector<std::string>{"two", "three"});
        CHECK(read_audit_tail(path, 1).lines == std::vector<std::string>{"three"});
        CHECK(read_audit_tail(path, 0).lines.empty());
    }
    SECTION("without a trailing newline the last line still counts") {
        write_file(path, "one\ntwo\nthree");
        CHECK(read_audit_tail(path, 2).lines == std::vector<std::string>{"two", "three"});
        CHECK(read_audit_tail(path, 5).lines == std::vector<std::string>{"one", "two", "three"});
        write_file(path, "only");
        CHECK(read_audit_tail(path, 5).lines == std::vector<std::string>{"only"});
    }
    SECTION("empty lines are not entries") {
        write_file(path, "\n\none\n\n\ntwo\n\n");
        CHECK(read_audit_tail(path, 2).lines == std::vector<std::string>{"one", "two"});
        CHECK(read_audit_tail(path, 1).lines == std::vector<std::string>{"two"});
    }
    SECTION("lines written by append_audit read back as they were") {
        std::vector<std::string> expect;
        for (int i = 0; i < 5; ++i) {
            audit_entry e = sample_entry();
            e.reason = "step " + std::to_string(i) + "\nwith a newline";
            REQUIRE(append_audit(path, e) == "");
            expect.push_back(audit_line(e));
        }
        CHECK(read_audit_tail(path, 5).lines == expect);
        CHECK(read_audit_tail(path, 2).lines == std::vector<std::string>(expect.end() - 2, expect.end()));
    }
    SECTION("a folder is an error") {
        const auto t = read_audit_tail(dir.path.string(), 3);
        CHECK(t.lines.empty());
        CHECK(t.error != "");
    }
}

TEST_CASE("audit: tail of a big file, lines across block boundaries", "[audit]") {
    temp_dir dir;
    const auto path = dir.file("audit.jsonl");
    // 10,000 lines of uneven length (some longer than a 64 KiB block), so block boundaries
    // fall everywhere inside lines.
    std::vector<std::string> all;
    std::string text;
    for (int i = 0; i < 10'000; ++i) {
        std::string line = "{\"n\":" + std::to_string(i) + ",\"pad\":\"";
        line.append(static_cast<std::size_t>((i * 7919) % 613), 'a' + static_cast<char>(i % 26));
        if (i % 2500 == 1) line.append(100'000, 'z');
        line += "\"}";
        all.push_back(line);
        text += line;
        text += '\n';
    }
    write_file(path, text);
    REQUIRE(text.size() > 3 * 1024 * 1024);

    for (std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{500}, std::size_t{2500},
                          std::size_t{7499}, std::size_t{9999}, std::size_t{10'000}, std::size_t{25'000}}) {
        INFO("n = " << n);
        const auto t = read_audit_tail(path, n);
        CHECK(t.error == "");
        const std::size_t want = std::min<std::size_t>(n, all.size());
        REQUIRE(t.lines.size() == want);
        CHECK(t.lines == std::vector<std::string>(all.end() - static_cast<std::ptrdiff_t>(want), all.end()));
    }
}

TEST_CASE("audit: a line over 1 MiB stops the reading with an error", "[audit]") {
    temp_dir dir;
    const auto path = dir.file("audit.jsonl");
    write_file(path, "first\n" + std::string(2 * 1024 * 1024, 'x') + "\nlast\n");
    const auto one = read_audit_tail(path, 1);
    CHECK(one.error == "");
    CHECK(one.lines == std::vector<std::string>{"last"});
    const auto three = read_audit_tail(path, 3);
    CHECK(three.lines == std::vector<std::string>{"last"});
    CHECK(three.error.find("a line longer than 1048576 bytes") != std::string::npos);
}

TEST_CASE("audit: human formatting", "[audit]") {
    audit_entry e = sample_entry();
    CHECK(format_audit_human(audit_line(e)) ==
          "2026-11-22 03:10:00.123Z  uid 1000 pid 4242  set mode maintenance reason \"schema migration\"  "
          "open/open -> maintenance/maintenance  ok");

    e.actor = "watch";
    e.uid = e.pid = -1;
    e.command = "step back";
    e.old_mode = policy::mode::open;
    e.old_stage = policy::stage::writes;
    e.new_mode = policy::mode::read_only;
    e.new_stage = policy::stage::read_only;
    e.detail = "5xx rate 0.31 over 120 responses";
    CHECK(format_audit_human(audit_line(e)) ==
          "2026-11-22 03:10:00.123Z  watch  step back  open/writes -> read-only/read-only  ok  "
          "(5xx rate 0.31 over 120 responses)");

    // Control bytes reach the terminal as escapes, never as themselves.
    e.command = "set mode maintenance reason \"a\nb\x1b[2J\"";
    e.detail = "tab\there";
    CHECK(format_audit_human(audit_line(e)) ==
          "2026-11-22 03:10:00.123Z  watch  set mode maintenance reason \"a\\nb\\x1b[2J\"  "
          "open/writes -> read-only/read-only  ok  (tab\\there)");

    // Without an actor, the peer ids stand in.
    CHECK(format_audit_human(
              "{\"time\":\"2026-11-22T03:10:00.123Z\",\"uid\":0,\"pid\":17,\"command\":\"reopen\","
              "\"old_mode\":\"maintenance\",\"new_mode\":\"maintenance\",\"old_stage\":\"maintenance\","
              "\"new_stage\":\"operators\",\"outcome\":\"refused\",\"detail\":\"health check failed\"}") ==
          "2026-11-22 03:10:00.123Z  uid 0 pid 17  reopen  maintenance/maintenance -> maintenance/operators  "
          "refused  (health check failed)");

    // Not JSON: the line as it is, control bytes escaped.
    CHECK(format_audit_human("half a li") == "half a li");
    CHECK(format_audit_human("{\"time\":\"2026-11-22T03:1") == "{\"time\":\"2026-11-22T03:1");
    CHECK(format_audit_human("junk\x1b[31m red") == "junk\\x1b[31m red");
}
