#include "proxy/admin/admin_command.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

using namespace maintgate::admin;
using maintgate::duration;
using maintgate::format_iso8601;
using maintgate::sys_time;
using std::chrono::day;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::month;
using std::chrono::seconds;
using std::chrono::sys_days;
using std::chrono::year;
namespace policy = maintgate::policy;
using policy::mode;
using policy::stage;

namespace {

sys_time at(int y, unsigned mo, unsigned d, int h, int mi, int s) {
    return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s};
}

// Every case parses against this instant unless it says otherwise.
const sys_time now = at(2026, 11, 22, 3, 0, 0);

std::vector<std::string> texts(const split_result& s) {
    std::vector<std::string> out;
    for (const auto& w : s.words) out.push_back(w.text);
    return out;
}

std::string join_quoted(const std::vector<std::string>& argv) {
    std::string line;
    for (const auto& a : argv) {
        if (!line.empty()) line += ' ';
        line += quote_arg(a);
    }
    return line;
}

// Every field parse_command fills, so "the same command" is checked in full.
void require_same(const command& a, const command& b) {
    CHECK(a.what == b.what);
    CHECK(a.json == b.json);
    CHECK(a.force == b.force);
    CHECK(a.mode == b.mode);
    CHECK(a.reason == b.reason);
    CHECK(a.until == b.until);
    CHECK(a.timeout == b.timeout);
    CHECK(a.to == b.to);
    CHECK(a.count == b.count);
    CHECK(a.text == b.text);
}

struct good_case {
    std::string line;
    verb what;
    std::string text;  // the canonical line expected
};

}  // namespace

TEST_CASE("commands without arguments and their canonical text", "[admin_command]") {
    const good_case cases[] = {
        {"help", verb::help, "help"},
        {"status", verb::status, "status"},
        {"check", verb::check, "check"},
        {"reload", verb::reload, "reload"},
        {"reopen status", verb::reopen_status, "reopen status"},
        {"  status  ", verb::status, "status"},
        {"\tstatus\t", verb::status, "status"},
        {"reopen \t status", verb::reopen_status, "reopen status"},
        {"status --json", verb::status, "status"},
        {"--json status", verb::status, "status"},
        {"json status", verb::status, "status"},
        {"json reopen --json status", verb::reopen_status, "reopen status"},
    };
    for (const auto& c : cases) {
        INFO("line: " << c.line);
        const auto r = parse_command(c.line, now);
        REQUIRE(r.error.empty());
        REQUIRE(r.cmd);
        CHECK(r.cmd->what == c.what);
        CHECK(r.cmd->text == c.text);
        CHECK(r.json == (c.line.find("json") != std::string::npos));
        CHECK(r.cmd->json == r.json);
    }
}

TEST_CASE("set mode: modes, clauses in any order, canonical text", "[admin_command]") {
    struct set_case {
        std::string line;
        mode m;
        std::string reason;
        std::optional<sys_time> until;
        std::string text;
    };
    const set_case cases[] = {
        {"set mode open", mode::open, "", std::nullopt, "set mode open"},
        {"set mode read-only", mode::read_only, "", std::nullopt, "set mode read-only"},
        {"set mode maintenance", mode::maintenance, "", std::nullopt, "set mode maintenance"},
        {"set mode \"read-only\"", mode::read_only, "", std::nullopt, "set mode read-only"},
        {"set mode maintenance reason schema migration", mode::maintenance, "schema migration", std::nullopt,
         "set mode maintenance reason \"schema migration\""},
        {"set mode maintenance reason   schema\t migration ", mode::maintenance, "schema migration",
         std::nullopt, "set mode maintenance reason \"schema migration\""},
        {"set mode maintenance reason \"schema  migration\"", mode::maintenance, "schema  migration",
         std::nullopt, "set mode maintenance reason \"schema  migration\""},
        {"set mode maintenance reason \"schema migration\" for 45m", mode::maintenance, "schema migration",
         at(2026, 11, 22, 3, 45, 0),
         "set mode maintenance reason \"schema migration\" until 2026-11-22T03:45:00Z"},
        {"set mode read-only for 1h30m reason backup", mode::read_only, "backup", at(2026, 11, 22, 4, 30, 0),
         "set mode read-only reason \"backup\" until 2026-11-22T04:30:00Z"},
        {"set mode read-only for 30d", mode::read_only, "", at(2026, 12, 22, 3, 0, 0),
         "set mode read-only until 2026-12-22T03:00:00Z"},
        {"set mode maintenance until 2026-11-22T04:00:00Z", mode::maintenance, "", at(2026, 11, 22, 4, 0, 0),
         "set mode maintenance until 2026-11-22T04:00:00Z"},
        {"set mode maintenance until 2026-11-22T04:00Z", mode::maintenance, "", at(2026, 11, 22, 4, 0, 0),
         "set mode maintenance until 2026-11-22T04:00:00Z"},
        {"set mode maintenance until 2026-11-22T03:00:01Z", mode::maintenance, "", at(2026, 11, 22, 3, 0, 1),
         "set mode maintenance until 2026-11-22T03:00:01Z"},
        {"set mode maintenance until 2027-01-01T00:00Z reason \"new year\"", mode::maintenance, "new year",
         at(2027, 1, 1, 0, 0, 0), "set mode maintenance reason \"new year\" until 2027-01-01T00:00:00Z"},
        // HH:MM is the next such time after now: later today, or tomorrow.
        {"set mode maintenance until 04:15", mode::maintenance, "", at(2026, 11, 22, 4, 15, 0),
         "set mode maintenance until 2026-11-22T04:15:00Z"},
        {"set mode maintenance until 02:00", mode::maintenance, "", at(2026, 11, 23, 2, 0, 0),
         "set mode maintenance until 2026-11-23T02:00:00Z"},
        {"set mode maintenance until 03:00", mode::maintenance, "", at(2026, 11, 23, 3, 0, 0),
         "set mode maintenance until 2026-11-23T03:00:00Z"},
        {"set mode maintenance until 23:59", mode::maintenance, "", at(2026, 11, 22, 23, 59, 0),
         "set mode maintenance until 2026-11-22T23:59:00Z"},
        {"set mode maintenance until 00:00", mode::maintenance, "", at(2026, 11, 23, 0, 0, 0),
         "set mode maintenance until 2026-11-23T00:00:00Z"},
        // +DURATION is from now.
        {"set mode maintenance until +45m", mode::maintenance, "", at(2026, 11, 22, 3, 45, 0),
         "set mode maintenance until 2026-11-22T03:45:00Z"},
        // A quoted keyword is reason text; a bare one ends the reason.
        {"set mode read-only reason \"waiting for db\" until 04:00", mode::read_only, "waiting for db",
         at(2026, 11, 22, 4, 0, 0),
         "set mode read-only reason \"waiting for db\" until 2026-11-22T04:00:00Z"},
        {"set mode read-only reason waiting \"for\" db", mode::read_only, "waiting for db", std::nullopt,
         "set mode read-only reason \"waiting for db\""},
        {"set mode read-only reason \"for\"", mode::read_only, "for", std::nullopt,
         "set mode read-only reason \"for\""},
        {"set mode read-only reason \"--json\"", mode::read_only, "--json", std::nullopt,
         "set mode read-only reason \"--json\""},
        {"set mode read-only reason json is fine here", mode::read_only, "json is fine here", std::nullopt,
         "set mode read-only reason \"json is fine here\""},
        {"set mode read-only reason say \\\"hi\\\" and C:\\\\", mode::read_only, "say \"hi\" and C:\\",
         std::nullopt, "set mode read-only reason \"say \\\"hi\\\" and C:\\\\\""},
        {"set mode read-only reason 'single \"quoted\"'", mode::read_only, "single \"quoted\"", std::nullopt,
         "set mode read-only reason \"single \\\"quoted\\\"\""},
        {"set mode maintenance reason mise à jour 日本 🚧", mode::maintenance, "mise à jour 日本 🚧",
         std::nullopt, "set mode maintenance reason \"mise à jour 日本 🚧\""},
        {"set mode maintenance reason upgrade --json for 10m", mode::maintenance, "upgrade",
         at(2026, 11, 22, 3, 10, 0), "set mode maintenance reason \"upgrade\" until 2026-11-22T03:10:00Z"},
        {"json set mode open", mode::open, "", std::nullopt, "set mode open"},
        {"set mode open reason " + std::string(max_reason_bytes, 'r'), mode::open,
         std::string(max_reason_bytes, 'r'), std::nullopt,
         "set mode open reason \"" + std::string(max_reason_bytes, 'r') + "\""},
    };
    for (const auto& c : cases) {
        INFO("line: " << c.line);
        const auto r = parse_command(c.line, now);
        REQUIRE(r.error.empty());
        REQUIRE(r.cmd);
        CHECK(r.cmd->what == verb::set_mode);
        CHECK(r.cmd->mode == c.m);
        CHECK(r.cmd->reason == c.reason);
        CHECK(r.cmd->until == c.until);
        CHECK(r.cmd->text == c.text);
        CHECK_FALSE(r.cmd->force);
        CHECK_FALSE(r.cmd->timeout);
        CHECK_FALSE(r.cmd->to);
    }
}

TEST_CASE("set mode for: rounded up to the second, still after now", "[admin_command]") {
    const sys_time odd = at(2026, 11, 22, 3, 0, 0) + milliseconds(250);
    struct rounding_case {
        const char* line;
        sys_time until;
    };
    const rounding_case cases[] = {
        {"set mode read-only for 45m", at(2026, 11, 22, 3, 45, 1)},
        {"set mode read-only for 250ms", at(2026, 11, 22, 3, 0, 1)},
        {"set mode read-only for 750ms", at(2026, 11, 22, 3, 0, 1)},
        {"set mode read-only for 751ms", at(2026, 11, 22, 3, 0, 2)},
        {"set mode read-only for 1ms", at(2026, 11, 22, 3, 0, 1)},
    };
    for (const auto& c : cases) {
        INFO("line: " << c.line);
        const auto r = parse_command(c.line, odd);
        REQUIRE(r.cmd);
        REQUIRE(r.cmd->until);
        CHECK(*r.cmd->until == c.until);
        CHECK(*r.cmd->until > odd);
        CHECK(r.cmd->text == "set mode read-only until " + format_iso8601(c.until));
    }
    // HH:MM against a clock just before midnight lands on the next day.
    const auto late = parse_command("set mode maintenance until 00:00", at(2026, 12, 31, 23, 59, 30));
    REQUIRE(late.cmd);
    CHECK(*late.cmd->until == at(2027, 1, 1, 0, 0, 0));
    // A time equal to now is not after it, whatever the sub-second part says.
    CHECK_FALSE(parse_command("set mode maintenance until 2026-11-22T03:00:00Z", odd).cmd);
}

TEST_CASE("freeze, reopen and history", "[admin_command]") {
    SECTION("freeze") {
        struct freeze_case {
            const char* line;
            std::optional<duration> timeout;
            const char* text;
        };
        const freeze_case cases[] = {
            {"freeze", std::nullopt, "freeze"},
            {"freeze timeout 30s", seconds(30), "freeze timeout 30s"},
            {"freeze timeout 90s", seconds(90), "freeze timeout 1m30s"},
            {"freeze timeout 1ms", milliseconds(1), "freeze timeout 1ms"},
            {"freeze timeout 1h", hours(1), "freeze timeout 1h"},
            {"freeze timeout 59m59s999ms", hours(1) - milliseconds(1), "freeze timeout 59m59s999ms"},
            {"json freeze timeout 5s", seconds(5), "freeze timeout 5s"},
        };
        for (const auto& c : cases) {
            INFO("line: " << c.line);
            const auto r = parse_command(c.line, now);
            REQUIRE(r.cmd);
            CHECK(r.cmd->what == verb::freeze);
            CHECK(r.cmd->timeout == c.timeout);
            CHECK(r.cmd->text == c.text);
        }
    }
    SECTION("reopen") {
        struct reopen_case {
            const char* line;
            std::optional<stage> to;
            bool force;
            const char* text;
        };
        const reopen_case cases[] = {
            {"reopen", std::nullopt, false, "reopen"},
            {"reopen --force", std::nullopt, true, "reopen --force"},
            {"reopen force", std::nullopt, true, "reopen --force"},
            {"reopen to maintenance", stage::maintenance, false, "reopen to maintenance"},
            {"reopen to operators", stage::operators, false, "reopen to operators"},
            {"reopen to read-only", stage::read_only, false, "reopen to read-only"},
            {"reopen to writes", stage::writes, false, "reopen to writes"},
            {"reopen to open", stage::open, false, "reopen to open"},
            {"reopen --force to writes", stage::writes, true, "reopen to writes --force"},
            {"reopen to writes force --json", stage::writes, true, "reopen to writes --force"},
            {"reopen to \"writes\"", stage::writes, false, "reopen to writes"},
        };
        for (const auto& c : cases) {
            INFO("line: " << c.line);
            const auto r = parse_command(c.line, now);
            REQUIRE(r.cmd);
            CHECK(r.cmd->what == verb::reopen);
            CHECK(r.cmd->to == c.to);
            CHECK(r.cmd->force == c.force);
            CHECK(r.cmd->text == c.text);
        }
    }
    SECTION("history") {
        struct history_case {
            const char* line;
            std::size_t count;
            const char* text;
        };
        const history_case cases[] = {
            {"history", 20, "history 20"},
            {"history 1", 1, "history 1"},
            {"history 5", 5, "history 5"},
            {"history 007", 7, "history 7"},
            {"history 10000", 10'000, "history 10000"},
            {"history \"50\"", 50, "history 50"},
        };
        for (const auto& c : cases) {
            INFO("line: " << c.line);
            const auto r = parse_command(c.line, now);
            REQUIRE(r.cmd);
            CHECK(r.cmd->what == verb::history);
            CHECK(r.cmd->count == c.count);
            CHECK(r.cmd->text == c.text);
        }
    }
}

TEST_CASE("freeze hold and no-hold, before or after the timeout", "[admin_command]") {
    const auto now = at(2026, 11, 22, 3, 0, 0);
    struct hold_case {
        const char* line;
        std::optional<bool> hold;
        std::optional<duration> timeout;
        const char* text;
    };
    const hold_case cases[] = {
        {"freeze", std::nullopt, std::nullopt, "freeze"},
        {"freeze hold", true, std::nullopt, "freeze hold"},
        {"freeze no-hold", false, std::nullopt, "freeze no-hold"},
        {"freeze hold timeout 5s", true, std::chrono::seconds(5), "freeze hold timeout 5s"},
        {"freeze timeout 5s hold", true, std::chrono::seconds(5), "freeze hold timeout 5s"},
        {"freeze timeout 5s no-hold --json", false, std::chrono::seconds(5), "freeze no-hold timeout 5s"},
    };
    for (const auto& c : cases) {
        INFO("line: " << c.line);
        const auto r = parse_command(c.line, now);
        REQUIRE(r.cmd);
        CHECK(r.cmd->what == verb::freeze);
        CHECK(r.cmd->hold == c.hold);
        CHECK(r.cmd->timeout == c.timeout);
        CHECK(r.cmd->text == c.text);
        // The canonical text parses back to the same command.
        const auto again = parse_command(r.cmd->text, now);
        REQUIRE(again.cmd);
        CHECK(again.cmd->hold == c.hold);
    }
    CHECK_FALSE(parse_command("freeze hold hold", now).cmd);
    CHECK_FALSE(parse_command("freeze hold timeout", now).cmd);
}

TEST_CASE("every error is precise and nothing is half-parsed", "[admin_command]") {
    struct bad_case {
        std::string line;
        std::vector<std::string> says;  // each must appear in the message
    };
    const std::string long_line = "history" + std::string(max_line_bytes - 7 + 1, ' ');
    const bad_case cases[] = {
        // The line itself.
        {"", {"empty command", "help"}},
        {"   \t ", {"empty command"}},
        {"json", {"empty command"}},
        {"--json", {"empty command"}},
        {"status \"unterminated", {"unterminated double quote", "column 8"}},
        {"status 'unterminated", {"unterminated single quote", "column 8"}},
        {"set mode open reason \"ends in backslash\\", {"unterminated double quote", "column 22"}},
        {"status \\", {"lone backslash"}},
        {"status \x01", {"control byte 0x01", "column 8"}},
        {"set mode open reason \"a\x1b[2Jb\"", {"control byte 0x1b", "column 24"}},
        {"status\x7f", {"control byte 0x7f", "column 7"}},
        {"status\rx", {"control byte 0x0d", "column 7"}},
        {"status\n\n", {"control byte 0x0a", "column 7"}},
        {"status\r\r\n", {"control byte 0x0d", "column 7"}},
        {"set mode open reason \xff", {"invalid UTF-8", "column 22"}},
        {"set mode open reason \xc0\xaf", {"invalid UTF-8", "column 22"}},  // overlong "/"
        {"set mode open reason \xed\xa0\x80", {"invalid UTF-8", "column 22"}},  // a surrogate
        {"set mode open reason \xf4\x90\x80\x80", {"invalid UTF-8", "column 22"}},  // past U+10FFFF
        {"set mode open reason \xe2\x82", {"invalid UTF-8", "column 22"}},  // cut short
        {long_line, {"4097 bytes", "at most 4096"}},
        // Commands.
        {"stats",
         {"unknown command 'stats'",
          "commands: help, status, set mode, freeze, reopen, reopen status, "
          "check, history, reload"}},
        {"STATUS", {"unknown command 'STATUS'"}},
        {"\"status\"", {"unknown command 'status'", "quoted words are never keywords"}},
        {"json json", {"unknown command 'json'"}},
        {"\"json\" status", {"unknown command 'json'", "quoted words are never keywords"}},
        {"status now", {"'status' takes no arguments; unexpected 'now'"}},
        {"status json", {"'status' takes no arguments; unexpected 'json'"}},
        {"status \"--json\"", {"unexpected '--json'"}},
        {"help me", {"'help' takes no arguments; unexpected 'me'"}},
        {"check all", {"'check' takes no arguments; unexpected 'all'"}},
        {"reload now", {"'reload' takes no arguments"}},
        {"reopen status now", {"'reopen status' takes no arguments; unexpected 'now'"}},
        {"set", {"'set' must be followed by 'mode'", "usage: set mode open|read-only|maintenance"}},
        {"set mod open", {"'set' must be followed by 'mode', not 'mod'"}},
        {"set \"mode\" open", {"'set' must be followed by 'mode', not 'mode'"}},
        // set mode.
        {"set mode", {"set mode needs a mode: open, read-only or maintenance"}},
        {"set mode closed", {"unknown mode 'closed'; expected open, read-only or maintenance"}},
        {"set mode readonly", {"unknown mode 'readonly'"}},
        {"set mode Open", {"unknown mode 'Open'"}},
        {"set mode open now", {"unexpected 'now'; expected reason, until or for"}},
        {"set mode open \"reason\" x", {"unexpected 'reason'", "quoted words are never keywords"}},
        {"set mode open reason", {"'reason' needs text"}},
        {"set mode open reason for 1h", {"'reason' needs text"}},
        {"set mode open reason \"\"", {"'reason' needs text"}},
        {"set mode open reason \" \t \"", {"'reason' needs text"}},
        {"set mode open reason a reason b", {"'reason' given twice"}},
        {"set mode open reason " + std::string(max_reason_bytes + 1, 'r'), {"501 bytes", "at most 500"}},
        {"set mode open reason " + std::string(250, 'r') + " " + std::string(250, 'r'), {"501 bytes"}},
        {"set mode open for 1h for 2h", {"'for' given twice"}},
        {"set mode open until 04:00 until 05:00", {"'until' given twice"}},
        {"set mode open until 04:00 for 1h", {"'until' and 'for' exclude each other"}},
        {"set mode open for 1h until 04:00", {"'until' and 'for' exclude each other"}},
        {"set mode open until", {"'until' needs a time", "2026-11-22T04:00:00Z", "HH:MM"}},
        {"set mode open until reason x", {"'until' needs a time"}},
        {"set mode open for", {"'for' needs a duration", "at most 30d"}},
        {"set mode open for reason x", {"'for' needs a duration"}},
        {"set mode open until 25:00", {"until '25:00' is not a time"}},
        {"set mode open until 12:60", {"until '12:60' is not a time"}},
        {"set mode open until 4:00", {"until '4:00' is not a time"}},
        {"set mode open until noon", {"until 'noon' is not a time"}},
        {"set mode open until +0s", {"until '+0s' is not a time"}},
        {"set mode open until +", {"until '+' is not a time"}},
        {"set mode open until +soon", {"until '+soon' is not a time"}},
        {"set mode open until 2026-11-22", {"until '2026-11-22' is not a time"}},
        {"set mode open until 2026-11-22T04:00:00", {"is not a time"}},
        {"set mode open until 2026-11-22 04:00", {"until '2026-11-22' is not a time"}},
        {"set mode open until 2026-02-30T04:00Z", {"until '2026-02-30T04:00Z' is not a time"}},
        {"set mode open until 2026-11-22T02:59:59Z",
         {"until 2026-11-22T02:59:59Z is not after now (2026-11-22T03:00:00Z)"}},
        {"set mode open until 2026-11-22T03:00:00Z", {"is not after now"}},
        {"set mode open until 2026-11-22T03:00Z", {"is not after now"}},
        {"set mode open for soon", {"for 'soon' is not a duration", "like 90s, 45m or 1h30m"}},
        {"set mode open for 45", {"for '45' is not a duration"}},
        {"set mode open for -5m", {"for '-5m' is not a duration"}},
        {"set mode open for 0s", {"for 0s: the duration must be more than 0"}},
        {"set mode open for 0ms", {"more than 0"}},
        {"set mode open for 30d1ms", {"for 30d1ms is more than 30d, the limit"}},
        {"set mode open for 31d", {"is more than 30d"}},
        {"set mode open for 99999999999999999999d", {"is not a duration"}},
        {"set mode open reason waiting for db", {"for 'db' is not a duration", "must be quoted"}},
        {"set mode open reason back until tomorrow", {"until 'tomorrow' is not a time", "must be quoted"}},
        // freeze.
        {"freeze 30s", {"freeze: unexpected '30s'; expected 'timeout DURATION'"}},
        {"freeze \"timeout\" 30s", {"unexpected 'timeout'", "quoted words are never keywords"}},
        {"freeze timeout", {"freeze timeout needs a duration", "at most 1h"}},
        {"freeze timeout thirty", {"freeze timeout 'thirty' is not a duration"}},
        {"freeze timeout 0s", {"freeze timeout 0s: the duration must be more than 0"}},
        {"freeze timeout 1h1ms", {"freeze timeout 1h1ms is more than 1h, the limit"}},
        {"freeze timeout 2h", {"is more than 1h"}},
        {"freeze timeout 30s extra", {"freeze: unexpected 'extra' after the timeout"}},
        // reopen.
        {"reopen to", {"reopen to needs a stage: maintenance, operators, read-only, writes or open"}},
        {"reopen to closed",
         {"unknown stage 'closed'; expected maintenance, operators, read-only, writes or open"}},
        {"reopen to read_only", {"unknown stage 'read_only'"}},
        {"reopen to open to writes", {"'to' given twice"}},
        {"reopen --force force", {"'force' given twice"}},
        {"reopen --force --force", {"'--force' given twice"}},
        {"reopen now", {"reopen: unexpected 'now'; expected 'to STAGE' or '--force'"}},
        {"reopen \"--force\"", {"unexpected '--force'", "quoted words are never keywords"}},
        {"reopen -f", {"unexpected '-f'"}},
        // history.
        {"history 0", {"history: 0 is out of range; expected a number from 1 to 10000"}},
        {"history 10001", {"history: 10001 is out of range"}},
        {"history -1", {"history: '-1' is not a count; expected a number from 1 to 10000"}},
        {"history ten", {"history: 'ten' is not a count"}},
        {"history 1e3", {"history: '1e3' is not a count"}},
        {"history \"\"", {"history: '' is not a count"}},
        {"history 99999999999999999999", {"is not a count"}},
        {"history 1 2", {"history takes at most one argument (N); unexpected '2'"}},
        // A long bad word is cut in the message, not echoed whole.
        {"frob" + std::string(200, 'x'), {"unknown command 'frobxxx", "...'"}},
    };
    for (const auto& c : cases) {
        INFO("line: " << c.line);
        const auto r = parse_command(c.line, now);
        CHECK_FALSE(r.cmd);
        REQUIRE_FALSE(r.error.empty());
        // The server adds the "error: " prefix; one line, so the text reply stays framed.
        CHECK(r.error.rfind("error:", 0) == std::string::npos);
        CHECK(r.error.find('\n') == std::string::npos);
        CHECK(r.error.size() < 400);
        for (const auto& s : c.says) {
            INFO("message: " << r.error);
            INFO("expected to contain: " << s);
            CHECK(r.error.find(s) != std::string::npos);
        }
    }
}

TEST_CASE("the reply format is known even for bad lines", "[admin_command]") {
    struct json_case {
        std::string line;
        bool json;
        bool valid;
    };
    const json_case cases[] = {
        {"status", false, true},
        {"status --json", true, true},
        {"--json status", true, true},
        {"json status", true, true},
        {"  json\tstatus", true, true},
        {"set mode open reason --json x", true, true},
        {"set mode open reason \"--json\"", false, true},
        {"set mode open reason json", false, true},
        {"status json", false, false},
        {"\"json\" status", false, false},
        {"json stats", true, false},
        {"json", true, false},
        {"frob --json", true, false},
        // Lines that do not even tokenize: decided on the raw words.
        {"--json status \"unterminated", true, false},
        {"json status 'unterminated", true, false},
        {"status \"unterminated", false, false},
        {"json status \x01", true, false},
        {"status\x01 --json", true, false},
        {"history --json" + std::string(max_line_bytes, ' '), true, false},
        {"history" + std::string(max_line_bytes, ' ') + "--json", true, false},
        {"status --jsonx \"", false, false},
    };
    for (const auto& c : cases) {
        INFO("line: " << c.line);
        const auto r = parse_command(c.line, now);
        CHECK(r.json == c.json);
        CHECK(bool(r.cmd) == c.valid);
        CHECK(wants_json(c.line) == c.json);
        if (r.cmd) CHECK(r.cmd->json == c.json);
    }
}

TEST_CASE("line terminators and the length limit", "[admin_command]") {
    for (const char* line : {"status", "status\n", "status\r\n", "status\r", "status \r\n"}) {
        INFO("line: " << line);
        const auto r = parse_command(line, now);
        REQUIRE(r.cmd);
        CHECK(r.cmd->what == verb::status);
    }
    const auto crlf = parse_command("set mode open reason telnet\r\n", now);
    REQUIRE(crlf.cmd);
    CHECK(crlf.cmd->reason == "telnet");

    // Exactly the limit passes, with or without a terminator; one byte more does not.
    const std::string at_limit = "history 5" + std::string(max_line_bytes - 9, ' ');
    REQUIRE(at_limit.size() == max_line_bytes);
    for (const std::string& line : {at_limit, at_limit + "\n", at_limit + "\r\n"}) {
        const auto r = parse_command(line, now);
        REQUIRE(r.cmd);
        CHECK(r.cmd->count == 5);
    }
    const auto over = parse_command(at_limit + "x", now);
    CHECK_FALSE(over.cmd);
    CHECK(over.error.find("4097 bytes") != std::string::npos);
}

TEST_CASE("the canonical text parses back to the same command", "[admin_command]") {
    const char* lines[] = {
        "help",
        "status --json",
        "reopen status",
        "check",
        "reload",
        "set mode maintenance",
        "set mode maintenance reason schema migration for 45m",
        "set mode read-only until 04:00 reason \"for\"",
        "set mode read-only reason 'say \"hi\"' and \\\\ C:\\\\ until 2026-12-01T00:00Z",
        "set mode open reason \"--json\" --json",
        "freeze",
        "freeze timeout 90s",
        "reopen force to writes",
        "reopen to operators",
        "history",
        "history 0100",
    };
    for (const char* line : lines) {
        INFO("line: " << line);
        const auto first = parse_command(line, now);
        REQUIRE(first.cmd);
        INFO("text: " << first.cmd->text);
        const auto again = parse_command(first.cmd->text, now);
        REQUIRE(again.cmd);
        command expected = *first.cmd;
        expected.json = false;  // the text leaves the reply format out
        require_same(*again.cmd, expected);
    }
}

TEST_CASE("quote_arg: the words ctl sends come back exactly", "[admin_command]") {
    const std::vector<std::string> hostile = {
        "",
        "plain",
        "two words",
        " leading",
        "trailing ",
        "   ",
        "tab\there",
        "\t",
        "\"",
        "'",
        "\\",
        "\\\\",
        "\\\"",
        "\"\"",
        "''",
        "a\"b'c\\d",
        "it's \"quoted\"",
        "end\\",
        "C:\\Program Files\\",
        "$HOME `id` $(id) ;|&<>*?#~",
        "--json",
        "json",
        "for",
        "reason",
        "mise à jour",
        "日本語のテキスト",
        "🚧 maintenance 🚧",
        "\xc3\xa9\"\xc3\xa9",
    };
    SECTION("each word alone") {
        for (const auto& h : hostile) {
            INFO("word: [" << h << "] quoted: [" << quote_arg(h) << "]");
            const auto s = split_words(quote_arg(h));
            REQUIRE(s.error.empty());
            REQUIRE(s.words.size() == 1);
            CHECK(s.words[0].text == h);
        }
    }
    SECTION("all of them on one line, through join_command too") {
        std::vector<std::string> argv = {"set", "mode", "open", "reason"};
        argv.insert(argv.end(), hostile.begin(), hostile.end());
        const auto s = split_words(join_quoted(argv));
        REQUIRE(s.error.empty());
        CHECK(texts(s) == argv);

        std::vector<std::string_view> views(argv.begin(), argv.end());
        const auto j = join_command(views, false);
        REQUIRE(j.error.empty());
        CHECK(j.line == join_quoted(argv));
        const auto j2 = join_command(views, true);
        REQUIRE(j2.error.empty());
        CHECK(j2.line == join_quoted(argv) + " --json");
        CHECK(parse_command(j2.line, now).json);
    }
    SECTION("as a reason, through parse_command") {
        for (const auto& h : hostile) {
            // Keywords are meant to stay keywords when ctl passes them bare; blank
            // reasons are refused.
            if (h == "--json" || h == "for" || h == "reason" ||
                h.find_first_not_of(" \t") == std::string::npos)
                continue;
            const std::string line = "set mode read-only reason " + quote_arg(h) + " for 10m";
            INFO("line: " << line);
            const auto r = parse_command(line, now);
            REQUIRE(r.cmd);
            CHECK(r.cmd->reason == h);
            CHECK(r.cmd->until == now + minutes(10));
        }
    }
    SECTION("random words from the hostile alphabet") {
        const std::vector<std::string> alphabet = {"a",  "Z", "0",  " ", "\t", "\"", "'",
                                                   "\\", "é", "日", "🚧", "-",  "="};
        std::mt19937 rng(20261122);
        for (int round = 0; round < 2000; ++round) {
            std::vector<std::string> argv(1 + rng() % 5);
            for (auto& w : argv) {
                const std::size_t len = rng() % 8;
                for (std::size_t i = 0; i < len; ++i) w += alphabet[rng() % alphabet.size()];
            }
            const std::string line = join_quoted(argv);
            INFO("line: [" << line << "]");
            const auto s = split_words(line);
            REQUIRE(s.error.empty());
            REQUIRE(texts(s) == argv);
        }
    }
    SECTION("bare only when it is safe") {
        CHECK(quote_arg("status") == "status");
        CHECK(quote_arg("read-only") == "read-only");
        CHECK(quote_arg("2026-11-22T04:00Z") == "2026-11-22T04:00Z");
        CHECK(quote_arg("--json") == "--json");
        CHECK(quote_arg("日本") == "日本");
        CHECK(quote_arg("") == "\"\"");
        CHECK(quote_arg("a b") == "\"a b\"");
        CHECK(quote_arg("a\"b") == "\"a\\\"b\"");
        CHECK(quote_arg("a\\b") == "\"a\\\\b\"");
        CHECK(quote_arg("it's") == "\"it's\"");
    }
}

TEST_CASE("split_words: quotes, escapes and literal words", "[admin_command]") {
    struct split_case {
        const char* line;
        std::vector<std::string> words;
        std::vector<bool> literal;
    };
    const split_case cases[] = {
        {"a b", {"a", "b"}, {false, false}},
        {"a\"b c\"d", {"ab cd"}, {true}},
        {"'a \\ b' c", {"a \\ b", "c"}, {true, false}},
        {"\"a \\\" \\\\ \\x\"", {"a \" \\ x"}, {true}},
        {"a\\ b", {"a b"}, {true}},
        {"\\for", {"for"}, {true}},
        {"\"\" ''", {"", ""}, {true, true}},
        {"x\"\"", {"x"}, {true}},
        {"\"tab\tinside\"", {"tab\tinside"}, {true}},
    };
    for (const auto& c : cases) {
        INFO("line: " << c.line);
        const auto s = split_words(c.line);
        REQUIRE(s.error.empty());
        CHECK(texts(s) == c.words);
        REQUIRE(s.words.size() == c.literal.size());
        for (std::size_t i = 0; i < c.literal.size(); ++i) CHECK(s.words[i].literal == c.literal[i]);
    }
}

TEST_CASE("join_command refuses what a line cannot carry", "[admin_command]") {
    const std::string_view with_newline[] = {"set", "mode", "open", "reason", "two\nlines"};
    const auto a = join_command(with_newline, false);
    CHECK(a.line.empty());
    CHECK(a.error.find("word 5") != std::string::npos);
    CHECK(a.error.find("'two\\x0alines'") != std::string::npos);
    CHECK(a.error.find("control byte 0x0a at byte 4") != std::string::npos);

    const std::string_view with_escape[] = {"status\x1b[2J"};
    CHECK(join_command(with_escape, false).error.find("control byte 0x1b") != std::string::npos);

    const std::string_view bad_utf8[] = {"status", "\xff"};
    CHECK(join_command(bad_utf8, false).error.find("word 2") != std::string::npos);
    CHECK(join_command(bad_utf8, false).error.find("invalid UTF-8") != std::string::npos);

    CHECK(unsendable("tab\tis fine").empty());
    CHECK(unsendable("日本").empty());
    CHECK_FALSE(unsendable("\r").empty());

    // The limit counts the quoted line, json flag included.
    const std::string fits(max_line_bytes - 8, 'x');  // after "history "
    const std::string_view at_limit[] = {"history", fits};
    CHECK(join_command(at_limit, false).error.empty());
    CHECK(join_command(at_limit, false).line.size() == max_line_bytes);
    const auto too_long = join_command(at_limit, true);
    CHECK(too_long.line.empty());
    CHECK(too_long.error.find("4103 bytes") != std::string::npos);
    const std::string quoted_over(max_line_bytes - 10, '"');  // each grows to two bytes
    const std::string_view grows[] = {"status", quoted_over};
    CHECK_FALSE(join_command(grows, false).error.empty());

    CHECK(join_command({}, true).line == "--json");
}

TEST_CASE("spool commands: ids, counts and --dry-run, each error precise", "[admin_command]") {
    const auto now = sys_time{};
    auto ok = [&](std::string_view line) {
        auto r = parse_command(line, now);
        INFO(line << ": " << r.error);
        REQUIRE(r.cmd);
        return *r.cmd;
    };
    CHECK(ok("spool status").what == verb::spool_status);
    CHECK(ok("spool list").count == maintgate::admin::default_spool_list);
    CHECK(ok("spool list 7").count == 7);
    CHECK(ok("spool list 7").text == "spool list 7");
    CHECK(ok("spool show 42").id == 42);
    CHECK(ok("spool drop 42").what == verb::spool_drop);
    CHECK(ok("spool requeue 42").text == "spool requeue 42");
    CHECK(ok("spool replay --dry-run").dry_run);
    CHECK_FALSE(ok("spool replay").dry_run);
    CHECK(ok("spool status --json").json);
    CHECK(parse_command("spool show", now).error == "'spool show' takes one spool id; usage: spool show ID");
    CHECK(parse_command("spool show x1", now).error.find("is not a spool id") != std::string::npos);
    CHECK(parse_command("spool list 0", now).error.find("is not a count") != std::string::npos);
    CHECK(parse_command("spool replay now", now).error.find("unexpected") != std::string::npos);
    CHECK(parse_command("spool", now).error.find("must be followed by") != std::string::npos);
}

TEST_CASE("help is generated from the one command table", "[admin_command]") {
    const auto table = command_table();
    REQUIRE(table.size() == maintgate::admin::verb_count);  // one row per verb
    const std::string help = help_text();

    std::vector<std::string> lines;
    for (std::size_t start = 0; start < help.size();) {
        const auto end = help.find('\n', start);
        REQUIRE(end != std::string::npos);  // every line ends in "\n"
        lines.push_back(help.substr(start, end - start));
        start = end + 1;
    }
    for (const auto& l : lines) CHECK_FALSE(l.empty());  // an empty line would end the text reply early

    std::set<verb> verbs;
    std::set<std::string_view> words;
    std::optional<std::size_t> summary_column;
    for (const auto& c : table) {
        INFO("command: " << c.words);
        CHECK(verbs.insert(c.what).second);
        CHECK(words.insert(c.words).second);
        CHECK(&info(c.what) == &c);
        CHECK(c.usage.rfind(c.words, 0) == 0);  // usage starts with the selecting words

        // Its usage line, marked when it changes state, and its summary.
        std::size_t usage_line = lines.size();
        for (std::size_t i = 0; i < lines.size(); ++i) {
            if (lines[i].substr(2) == c.usage ||
                lines[i].substr(2, c.usage.size() + 1) == std::string(c.usage) + " ") {
                usage_line = i;
                break;
            }
        }
        REQUIRE(usage_line < lines.size());
        CHECK(lines[usage_line].substr(0, 2) == (c.changes_state ? "* " : "  "));
        const std::size_t summary_line =
            lines[usage_line].find(c.summary) != std::string::npos ? usage_line : usage_line + 1;
        REQUIRE(summary_line < lines.size());
        const auto col = lines[summary_line].find(c.summary);
        REQUIRE(col != std::string::npos);
        if (summary_column) CHECK(col == *summary_column);  // aligned
        summary_column = col;

        // The entry's words select it (set mode needs its mode, the spool's ID verbs an id).
        // A window plan its id and times, a window report its id.
        const bool needs_id = c.what == verb::spool_show || c.what == verb::spool_drop || c.what == verb::spool_requeue;
        const char* args = c.what == verb::set_mode      ? " open"
                           : needs_id                    ? " 1"
                           : c.what == verb::window_plan ? " w1 start manual end 2099-01-01T00:00:00Z"
                           : c.what == verb::window_report ? " w1"
                           : c.what == verb::hook_run    ? " backup-db"
                                                         : "";
        const auto r = parse_command(std::string(c.words) + args, now);
        REQUIRE(r.cmd);
        CHECK(r.cmd->what == c.what);
    }
    CHECK(verbs.size() == maintgate::admin::verb_count);  // every verb has exactly one entry

    CHECK(info(verb::set_mode).changes_state);
    CHECK(info(verb::freeze).changes_state);
    CHECK(info(verb::reopen).changes_state);
    CHECK_FALSE(info(verb::status).changes_state);
    CHECK_FALSE(info(verb::history).changes_state);
    CHECK(help.find("maintenance, operators, read-only, writes, open") != std::string::npos);
    CHECK(help.find("at most 30d") != std::string::npos);
    CHECK(help.find("--json") != std::string::npos);
}

TEST_CASE("window commands parse to their canonical text", "[admin_command]") {
    const good_case cases[] = {
        {"window status", verb::window_status, "window status"},
        {"window start", verb::window_start, "window start"},
        {"window start db-1", verb::window_start, "window start db-1"},
        {"window abort db-1", verb::window_abort, "window abort db-1"},
        {"window history 5", verb::window_history, "window history 5"},
        {"window report db-1 --markdown", verb::window_report, "window report db-1 --markdown"},
        {"window plan db-1 start +10m end +1h30m", verb::window_plan,
         "window plan db-1 start 2026-11-22T03:10:00Z end 2026-11-22T04:30:00Z mode maintenance"},
        {"window plan db-1 start manual end 2026-11-22T05:00:00Z reason \"db upgrade\"", verb::window_plan,
         "window plan db-1 start manual end 2026-11-22T05:00:00Z mode maintenance reason \"db upgrade\""},
        {"window plan w start 2026-11-22T04:00Z end 2026-11-22T05:00:00Z announce 2026-11-22T03:30:00Z mode "
         "read-only",
         verb::window_plan,
         "window plan w start 2026-11-22T04:00:00Z end 2026-11-22T05:00:00Z announce 2026-11-22T03:30:00Z mode "
         "read-only"},
        // Hooks, in the order given, before the reason (which takes the rest of the line).
        {"window plan w start manual end +1h hook pre_freeze backup-db hook post_reopen backup-db hook pre_freeze "
         "snap reason db upgrade",
         verb::window_plan,
         "window plan w start manual end 2026-11-22T04:00:00Z mode maintenance hook pre_freeze backup-db hook "
         "post_reopen backup-db hook pre_freeze snap reason \"db upgrade\""},
    };
    for (const auto& c : cases) {
        INFO("line: " << c.line);
        const auto r = parse_command(c.line, now);
        REQUIRE(r.error == "");
        REQUIRE(r.cmd);
        CHECK(r.cmd->what == c.what);
        CHECK(r.cmd->text == c.text);
        // The canonical text parses back to the same command.
        const auto again = parse_command(r.cmd->text, now);
        REQUIRE(again.cmd);
        CHECK(again.cmd->text == c.text);
    }
    const std::pair<std::string, std::string> bad[] = {
        {"window plan", "needs an id"},
        {"window plan a/b start manual end 2026-11-22T05:00:00Z", "only letters"},
        {"window plan w end 2026-11-22T05:00:00Z", "'start TIME' (or 'start manual') is required"},
        {"window plan w start manual", "'end TIME' is required"},
        {"window plan w start manual end 2026-11-22T05:00:00Z mode open", "read-only or maintenance"},
        {"window plan w start 2026-11-22T06:00:00Z end 2026-11-22T05:00:00Z", "end must be after the start"},
        {"window plan w start manual end 2026-11-22T05:00:00Z start manual", "'start' given twice"},
        {"window plan w start manual end +1h hook", "'hook' needs a point and a [[hook]] name"},
        {"window plan w start manual end +1h hook pre_freeze", "'hook' needs a point and a [[hook]] name"},
        {"window plan w start manual end +1h hook writes start-worker", "'writes' is not a point; expected"},
        {"window plan w start manual end +1h hook \"pre_freeze\" b", "is not a point"},
        {"window plan w start manual end +1h hook pre_freeze a/b", "a hook name is 1 to 64 letters"},
        {"window plan w start manual end +1h hook on_abort x hook on_abort x", "hook on_abort x given twice"},
        {"window report", "needs a window id"},
        {"window start a b", "takes at most an id"},
    };
    for (const auto& [line, msg] : bad) {
        INFO("line: " << line);
        const auto r = parse_command(line, now);
        CHECK_FALSE(r.cmd);
        CHECK(r.error.find(msg) != std::string::npos);
    }
}

TEST_CASE("hooks and hook run NAME", "[admin_command]") {
    const auto list = parse_command("hooks --json", now);
    REQUIRE(list.cmd);
    CHECK(list.cmd->what == verb::hooks);
    CHECK(list.cmd->json);
    CHECK(list.cmd->text == "hooks");
    const auto run = parse_command("hook run \"backup db\"", now);
    REQUIRE(run.cmd);
    CHECK(run.cmd->what == verb::hook_run);
    CHECK(run.cmd->name == "backup db");
    CHECK(run.cmd->text == "hook run \"backup db\"");
    CHECK(info(verb::hook_run).changes_state);
    CHECK(parse_command("hook run", now).error ==
          "hook run needs the hook's NAME; usage: hook run NAME ('hooks' lists them)");
    CHECK(parse_command("hook run a b", now).error == "hook run takes one NAME; unexpected 'b'");
    CHECK(parse_command("hooks x", now).error == "'hooks' takes no arguments; unexpected 'x'");
}
