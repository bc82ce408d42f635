// The backup hook's result contract: a table of results and what the gate says.
#include "proxy/hooks/backup_gate.hpp"

#include <catch2/catch.hpp>

#include <fstream>

#include "tests/temp_dir.hpp"

using namespace maintgate;
using namespace std::chrono_literals;

namespace {

// sha256 of "" and of "hello\n".
constexpr const char* empty_sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* hello_sha = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

void write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

}  // namespace

TEST_CASE("backup: the result file must be the documented object", "[hooks]") {
    std::string error;
    auto c = parse_backup_result(R"({"artifact":"dump.gz","bytes":20,"sha256":")" + std::string(empty_sha) + "\"}",
                                 "/var/backups/result.json", error);
    REQUIRE(c);
    CHECK(c->artifact == "/var/backups/dump.gz");  // relative to the result file
    CHECK(c->bytes == 20);
    CHECK(c->sha256 == empty_sha);
    auto upper = parse_backup_result(R"({"artifact":"/d","bytes":1,"sha256":"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"})", "/r", error);
    REQUIRE(upper);
    CHECK(upper->sha256 == empty_sha);

    const std::vector<std::pair<std::string, std::string>> bad{
        {"", "result file /r is not JSON"},
        {"[]", "result file /r is not a JSON object"},
        {R"({"bytes":1,"sha256":"x"})", "result file /r: \"artifact\" is missing or not a non-empty string"},
        {R"({"artifact":"","bytes":1})", "result file /r: \"artifact\" is missing or not a non-empty string"},
        {R"({"artifact":"/d","bytes":-1})", "result file /r: \"bytes\" is missing or not a non-negative integer"},
        {R"({"artifact":"/d","bytes":"20"})", "result file /r: \"bytes\" is missing or not a non-negative integer"},
        {R"({"artifact":"/d","bytes":20,"sha256":"abc"})", "result file /r: \"sha256\" is missing or not 64 hex digits"},
    };
    for (const auto& [text, message] : bad) {
        INFO(text);
        error.clear();
        CHECK_FALSE(parse_backup_result(text, "/r", error));
        CHECK(error.rfind(message, 0) == 0);
    }
}

TEST_CASE("backup: the verdict table (empty gzip, ratio, size, stale, missing)", "[hooks]") {
    const sys_time now = std::chrono::system_clock::now();
    backup_gate g;
    g.result_file = "/r";
    g.min_bytes = 1024;
    g.min_ratio = 0.5;
    g.max_age = 1h;
    const backup_record last{"/old", 1'000'000, "", 0, ""};
    const backup_claim claim{"/dump.gz", 600'000, hello_sha};
    const artifact_facts good{true, true, 600'000, now - 5min};

    struct row {
        const char* what;
        backup_claim c;
        artifact_facts f;
        std::optional<backup_record> last;
        std::string refused;
    };
    const std::vector<row> rows{
        {"a fresh, big enough artifact", claim, good, last, ""},
        {"no last good record: the ratio cannot apply", claim, good, std::nullopt, ""},
        {"missing artifact", claim, {}, last, "artifact /dump.gz does not exist"},
        {"a folder", claim, {true, false, 4096, now}, last, "artifact /dump.gz is not a regular file"},
        {"size differs from the claim", claim, {true, true, 599'999, now}, last,
         "artifact is 599999 bytes, the result file says 600000"},
        {"a 20-byte gzip of an empty dump", {"/dump.gz", 20, empty_sha}, {true, true, 20, now}, std::nullopt,
         "artifact is 20 bytes, less than min_bytes 1024"},
        {"empty file", {"/dump.gz", 0, empty_sha}, {true, true, 0, now}, last,
         "artifact is 0 bytes, less than min_bytes 1024"},
        {"below half of the last good", {"/dump.gz", 400'000, hello_sha}, {true, true, 400'000, now}, last,
         "artifact is 400000 bytes, 0.4 of the last good backup's 1000000 (min_ratio 0.5)"},
        {"exactly half", {"/dump.gz", 500'000, hello_sha}, {true, true, 500'000, now}, last, ""},
        {"stale", claim, {true, true, 600'000, now - 2h}, last,
         "artifact was last written 2h ago, older than max_age 1h"},
    };
    for (const auto& r : rows) {
        INFO(r.what);
        CHECK(judge_artifact(g, r.c, r.f, r.last, now) == r.refused);
    }

    backup_gate off;  // min_bytes 1, no ratio, no age
    CHECK(judge_artifact(off, claim, {true, true, 600'000, now - 24h * 365}, last, now).empty());
    CHECK(judge_artifact(off, {"/d", 0, empty_sha}, {true, true, 0, now}, last, now) ==
          "artifact is 0 bytes, less than min_bytes 1");
}

TEST_CASE("backup: sha256 is computed from the file's bytes", "[hooks]") {
    test::temp_dir dir;
    write(dir.file("hello"), "hello\n");
    write(dir.file("empty"), "");
    std::string error;
    CHECK(sha256_file(dir.file("hello"), error) == std::optional<std::string>(hello_sha));
    CHECK(sha256_file(dir.file("empty"), error) == std::optional<std::string>(empty_sha));
    CHECK_FALSE(sha256_file(dir.file("missing"), error));
    CHECK(error.find("cannot read") == 0);

    const auto f = stat_artifact(dir.file("hello"));
    CHECK(f.exists);
    CHECK(f.regular);
    CHECK(f.size == 6);
    CHECK(std::chrono::system_clock::now() - f.mtime < 1min);
    CHECK_FALSE(stat_artifact(dir.file("missing")).exists);
    CHECK_FALSE(stat_artifact(dir.path.string()).regular);
}
