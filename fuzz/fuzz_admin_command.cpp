// libFuzzer target: the admin command language (proxy/admin/admin_command.hpp) on arbitrary
// lines. The admin socket is mode 0600, but whoever can write to it can change the mode,
// and ctl builds its lines from an operator's shell words: the parser must never crash,
// throw or half-parse, and what it prints must read back the same.
//
// Beyond "no crash, no sanitizer report", it checks the header's promises:
// - parse_command gives a command or an error, never both or neither, and never throws;
// - the reply format it reports is wants_json()'s, even for a bad line;
// - a parsed command's canonical `text` parses back to the same command;
// - split_words' words survive quote_arg and join_command: split again, they come back
//   byte for byte.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/admin/admin_command.hpp"

using namespace maintgate;

namespace {

[[noreturn]] void broken(const char* property) {
    std::fprintf(stderr, "fuzz_admin_command: property broken: %s\n", property);
    std::abort();
}

void check(bool ok, const char* property) {
    if (!ok) broken(property);
}

// A fixed instant, so that a saved input replays the same way: 2026-11-22T03:00:00Z.
const sys_time now = std::chrono::sys_days{std::chrono::year{2026} / 11 / 22} + std::chrono::hours{3};

bool same(const admin::command& a, const admin::command& b) {
    return a.what == b.what && a.force == b.force && a.mode == b.mode && a.reason == b.reason &&
           a.until == b.until && a.timeout == b.timeout && a.to == b.to && a.count == b.count &&
           a.text == b.text;
}

std::vector<std::string> texts(const admin::split_result& s) {
    std::vector<std::string> out;
    for (const auto& w : s.words) out.push_back(w.text);
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    const std::string_view line(reinterpret_cast<const char*>(bytes), size);

    admin::parse_result r;
    try {
        r = admin::parse_command(line, now);
    } catch (const std::bad_alloc&) {
        return 0;
    } catch (...) {
        broken("parse_command threw");
    }
    check(r.cmd.has_value() == r.error.empty(), "a result with both or neither of command and error");
    check(r.json == admin::wants_json(line), "the reply format differs from wants_json()");

    if (r.cmd) {
        check(!r.cmd->text.empty(), "a command without its canonical text");
        const admin::parse_result again = admin::parse_command(r.cmd->text, now);
        check(again.cmd.has_value(), "a command's canonical text does not parse");
        check(same(*r.cmd, *again.cmd), "a command's canonical text parses to another command");
        check(!again.json, "the canonical text asks for JSON");
    }

    const admin::split_result split = admin::split_words(line);
    if (!split.error.empty()) return 0;
    std::vector<std::string_view> views;
    for (const auto& w : split.words) {
        if (!admin::unsendable(w.text).empty()) return 0;  // nothing to round-trip: ctl refuses such a word
        const admin::split_result one = admin::split_words(admin::quote_arg(w.text));
        check(one.error.empty() && one.words.size() == 1 && one.words[0].text == w.text,
              "quote_arg does not read back as the same word");
        views.push_back(w.text);
    }
    const admin::join_result joined = admin::join_command(views, false);
    if (joined.error.empty()) {
        const admin::split_result back = admin::split_words(joined.line);
        check(back.error.empty() && texts(back) == texts(split), "join_command does not read back");
    }
    return 0;
}
