#include "proxy/admin/admin_command.hpp"

#include <algorithm>

#include "proxy/admin/window_command.hpp"
#include <array>
#include <cstdint>

namespace maintgate::admin {

namespace {

// The one table. `words` select the command (longest match wins, so "reopen status" is
// not "reopen" with an argument); help shows `usage` and `summary` in this order.
constexpr std::array<command_info, verb_count> table{{
    {verb::help, "help", "help", "this list", false},
    {verb::status, "status", "status", "the mode and stage, why, since and until when, the write fence",
     false},
    {verb::set_mode, "set mode",
     "set mode open|read-only|maintenance [reason TEXT...] [until TIME | for DURATION]",
     "switch the mode now; the expected end feeds Retry-After", true},
    {verb::freeze, "freeze", "freeze [timeout DURATION] [hold|no-hold]",
     "refuse (or hold) new writes, wait for those in flight, report the boundary", true},
    {verb::reopen, "reopen", "reopen [to STAGE] [--force]",
     "gate checks, then the next stage (or STAGE); --force ignores failures", true},
    {verb::reopen_status, "reopen status", "reopen status",
     "the stage, its gate check results and error rate since it began", false},
    {verb::check, "check", "check", "run the health and smoke checks now; changes nothing", false},
    {verb::history, "history", "history [N]", "the last N audit log entries (default 20)", false},
    {verb::reload, "reload", "reload", "re-read the configuration file; mode and stage are kept", true},
    {verb::spool_status, "spool status", "spool status", "the webhook spool: stored, dead-lettered, replaying",
     false},
    {verb::spool_list, "spool list", "spool list [N]", "the first N pending and dead-lettered events (default 20)",
     false},
    {verb::spool_show, "spool show", "spool show ID", "one spooled event: its request, state and attempts", false},
    {verb::spool_replay, "spool replay", "spool replay [--dry-run]",
     "retry every due event now (--dry-run: list what would go next)", true},
    {verb::spool_drop, "spool drop", "spool drop ID", "never deliver this event (pending or dead-lettered)", true},
    {verb::spool_requeue, "spool requeue", "spool requeue ID", "put a dead-lettered event back in its queue", true},
    {verb::window_plan, "window plan",
     "window plan ID start TIME|manual end TIME [announce TIME] [mode M] [hook POINT NAME]... [reason TEXT...]",
     "plan a maintenance window (or plan one again before it starts)", true},
    {verb::window_start, "window start", "window start [ID]",
     "start a window now: backup gate, freeze, boundary hooks, then its mode", true},
    {verb::window_status, "window status", "window status", "the windows that are planned or under way", false},
    {verb::window_abort, "window abort", "window abort [ID]", "stop a window: on_abort hooks, then back to open",
     true},
    {verb::window_history, "window history", "window history [N]", "the last N windows (default 20)", false},
    {verb::window_report, "window report", "window report ID [--markdown]",
     "a window's timeline: backups, boundary, stages, refused writes", false},
    {verb::hooks, "hooks", "hooks", "the configured hooks, last good backups and recent runs", false},
    {verb::hook_run, "hook run", "hook run NAME", "run one hook now (try a backup script before the window)",
     true},
}};

constexpr std::string_view mode_names = "open, read-only or maintenance";
constexpr std::string_view stage_names = "maintenance, operators, read-only, writes or open";
constexpr std::string_view time_forms = "2026-11-22T04:00:00Z, 2026-11-22T04:00Z, HH:MM (UTC) or +45m (from now)";

bool is_blank(char c) noexcept { return c == ' ' || c == '\t'; }

bool is_control(unsigned char c) noexcept { return (c < 0x20 && c != '\t') || c == 0x7f; }

// The length of the valid UTF-8 sequence at text[i], or 0 when it is not one (overlong
// forms, surrogates and code points past U+10FFFF included): the line goes into the audit
// log and JSON replies, which must stay valid text.
std::size_t utf8_length(std::string_view text, std::size_t i) noexcept {
    const auto b0 = static_cast<unsigned char>(text[i]);
    if (b0 < 0x80) return 1;
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // the allowed range of the second byte
    if (b0 >= 0xc2 && b0 <= 0xdf) {
        len = 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        len = 3;
        if (b0 == 0xe0) lo = 0xa0;
        if (b0 == 0xed) hi = 0x9f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        len = 4;
        if (b0 == 0xf0) lo = 0x90;
        if (b0 == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (text.size() - i < len) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(text[i + k]);
        if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xbf)) return 0;
    }
    return len;
}

std::string hex_byte(unsigned char c) {
    constexpr char hex[] = "0123456789abcdef";
    return {'0', 'x', hex[c >> 4], hex[c & 0xf]};
}

// Where text stops being sendable: the problem, or empty. `at` names the place.
std::string first_bad_byte(std::string_view text, std::string_view at_what) {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (is_control(c))
            return "control byte " + hex_byte(c) + " " + std::string(at_what) + std::to_string(i + 1) +
                   "; only text and tabs are accepted";
        const std::size_t len = utf8_length(text, i);
        if (len == 0) return "invalid UTF-8 " + std::string(at_what) + std::to_string(i + 1);
        i += len;
    }
    return {};
}

std::string_view strip_terminator(std::string_view line) noexcept {
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    // socat and telnet send "\r\n".
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
}

// A word as an error message shows it: quoted, tabs and control bytes escaped, long
// ones cut on a character boundary so one pasted blob does not bury the message.
std::string show(std::string_view text) {
    constexpr std::size_t max_shown = 60;
    std::size_t shown = std::min(text.size(), max_shown);
    while (shown > 0 && shown < text.size() && (static_cast<unsigned char>(text[shown]) & 0xc0) == 0x80)
        --shown;
    std::string out = "'";
    for (std::size_t i = 0; i < shown; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '\t')
            out += "\\t";
        else if (is_control(c))
            out += "\\x" + hex_byte(c).substr(2);
        else
            out += text[i];
    }
    if (shown < text.size()) out += "...";
    out += '\'';
    return out;
}

std::string show(const word& w) { return show(w.text); }

std::string double_quoted(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
    return out;
}

// A keyword is a bare word: quoting a word is how a reason says "for" as a word.
bool is_keyword(const word& w, std::string_view keyword) noexcept { return !w.literal && w.text == keyword; }

// Every word some rule of the grammar treats as a keyword; used to explain why a quoted
// one was not taken as such.
bool looks_like_keyword(std::string_view text) noexcept {
    for (const auto& c : table) {
        std::string_view words = c.words;
        while (!words.empty()) {
            const auto space = words.find(' ');
            if (words.substr(0, space) == text) return true;
            words = space == std::string_view::npos ? std::string_view{} : words.substr(space + 1);
        }
    }
    constexpr std::array<std::string_view, 14> others{"reason", "until",   "for",  "timeout", "to",
                                                      "force",  "--force", "json", "--json", "start",
                                                      "end",    "announce", "mode", "--markdown"};
    return std::find(others.begin(), others.end(), text) != others.end();
}

std::string quoted_hint(const word& w) {
    if (w.literal && looks_like_keyword(w.text)) return " (quoted words are never keywords)";
    return {};
}

bool raw_wants_json(std::string_view line) {
    line = strip_terminator(line);
    bool first = true;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && is_blank(line[i])) ++i;
        if (i == line.size()) break;
        std::size_t end = i;
        while (end < line.size() && !is_blank(line[end])) ++end;
        const auto w = line.substr(i, end - i);
        if (w == "--json" || (first && w == "json")) return true;
        first = false;
        i = end;
    }
    return false;
}

// Drops the json flags; returns whether there were any.
bool take_json_flags(std::vector<word>& words) {
    bool json = false;
    std::vector<word> kept;
    kept.reserve(words.size());
    for (std::size_t i = 0; i < words.size(); ++i) {
        if (is_keyword(words[i], "--json") || (i == 0 && is_keyword(words[i], "json"))) {
            json = true;
            continue;
        }
        kept.push_back(std::move(words[i]));
    }
    words = std::move(kept);
    return json;
}

std::vector<std::string_view> split_table_words(std::string_view words) {
    std::vector<std::string_view> out;
    while (!words.empty()) {
        const auto space = words.find(' ');
        out.push_back(words.substr(0, space));
        words = space == std::string_view::npos ? std::string_view{} : words.substr(space + 1);
    }
    return out;
}

std::string command_list() {
    std::string out;
    for (const auto& c : table) {
        if (!out.empty()) out += ", ";
        out += c.words;
    }
    return out;
}

// The parse of one command's arguments: fills cmd (text included) or returns an error.
using args_t = std::span<const word>;

std::string no_arguments(const command_info& c, args_t args, command& cmd) {
    if (!args.empty())
        return "'" + std::string(c.words) + "' takes no arguments; unexpected " + show(args[0]);
    cmd.text = std::string(c.words);
    return {};
}

std::string parse_hook_run(args_t args, command& cmd) {
    if (args.empty()) return "hook run needs the hook's NAME; usage: hook run NAME ('hooks' lists them)";
    if (args.size() > 1) return "hook run takes one NAME; unexpected " + show(args[1]);
    cmd.name = args[0].text;
    cmd.text = "hook run " + quote_arg(cmd.name);
    return {};
}

std::string parse_history(args_t args, command& cmd) {
    if (args.size() > 1) return "history takes at most one argument (N); unexpected " + show(args[1]);
    if (!args.empty()) {
        const std::string& t = args[0].text;
        const std::string expected = "expected a number from 1 to " + std::to_string(max_history);
        // Digits only, and few enough of them that the value cannot overflow.
        if (t.empty() || t.size() > 9 ||
            !std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; }))
            return "history: " + show(t) + " is not a count; " + expected + quoted_hint(args[0]);
        const std::size_t n = std::stoul(t);
        if (n < 1 || n > max_history) return "history: " + t + " is out of range; " + expected;
        cmd.count = n;
    }
    cmd.text = "history " + std::to_string(cmd.count);
    return {};
}

// spool show|drop|requeue ID: one spool id.
std::string parse_spool_id(const command_info& c, args_t args, command& cmd) {
    if (args.size() != 1)
        return "'" + std::string(c.words) + "' takes one spool id; usage: " + std::string(c.usage);
    const std::string& t = args[0].text;
    if (t.empty() || t.size() > 18 || !std::all_of(t.begin(), t.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
        return std::string(c.words) + ": " + show(t) + " is not a spool id (a number, as 202 answered)";
    cmd.id = std::stoull(t);
    cmd.text = std::string(c.words) + " " + std::to_string(cmd.id);
    return {};
}

std::string parse_spool_list(args_t args, command& cmd) {
    cmd.count = default_spool_list;
    if (args.size() > 1) return "spool list takes at most one argument (N); unexpected " + show(args[1]);
    if (!args.empty()) {
        const std::string& t = args[0].text;
        if (t.empty() || t.size() > 9 || !std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
            std::stoul(t) < 1 || std::stoul(t) > max_history)
            return "spool list: " + show(t) + " is not a count; expected a number from 1 to " +
                   std::to_string(max_history);
        cmd.count = std::stoul(t);
    }
    cmd.text = "spool list " + std::to_string(cmd.count);
    return {};
}

std::string parse_spool_replay(args_t args, command& cmd) {
    for (const auto& a : args) {
        if (!a.literal && (a.text == "--dry-run" || a.text == "dry-run"))
            cmd.dry_run = true;
        else
            return "spool replay: unexpected " + show(a) + "; usage: spool replay [--dry-run]";
    }
    cmd.text = cmd.dry_run ? "spool replay --dry-run" : "spool replay";
    return {};
}

// A duration for `clause` (for, timeout): more than zero and at most `limit`.
std::string parse_bounded_duration(std::string_view clause, const word& value, duration limit,
                                   std::string_view hint, duration& out) {
    const auto d = parse_duration(value.text);
    if (!d)
        return std::string(clause) + " " + show(value) +
               " is not a duration; expected a number with a unit, like 90s, 45m or 1h30m" +
               std::string(hint);
    if (d->count() <= 0) return std::string(clause) + " " + value.text + ": the duration must be more than 0";
    if (*d > limit)
        return std::string(clause) + " " + value.text + " is more than " + format_duration(limit) +
               ", the limit";
    out = *d;
    return {};
}

std::string parse_freeze(args_t args, command& cmd) {
    cmd.text = "freeze";
    // hold / no-hold, before or after the timeout: whether new writes wait in their
    // sessions ([hold]) or are refused.
    auto hold_word = [](const word& w) { return is_keyword(w, "hold") || is_keyword(w, "no-hold"); };
    if (!args.empty() && hold_word(args.front())) {
        cmd.hold = is_keyword(args.front(), "hold");
        args = args.subspan(1);
    } else if (!args.empty() && hold_word(args.back())) {
        cmd.hold = is_keyword(args.back(), "hold");
        args = args.subspan(0, args.size() - 1);
    }
    if (cmd.hold) cmd.text += *cmd.hold ? " hold" : " no-hold";
    if (args.empty()) return {};
    if (!is_keyword(args[0], "timeout"))
        return "freeze: unexpected " + show(args[0]) + "; expected 'timeout DURATION'" + quoted_hint(args[0]);
    if (args.size() < 2)
        return "freeze timeout needs a duration, like 30s (at most " + format_duration(max_freeze_timeout) +
               ")";
    duration d{};
    if (auto e = parse_bounded_duration("freeze timeout", args[1], max_freeze_timeout, "", d); !e.empty())
        return e;
    if (args.size() > 2) return "freeze: unexpected " + show(args[2]) + " after the timeout";
    cmd.timeout = d;
    cmd.text += " timeout " + format_duration(d);
    return {};
}

std::string parse_reopen(args_t args, command& cmd) {
    bool seen_force = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const word& w = args[i];
        if (is_keyword(w, "to")) {
            if (cmd.to) return "reopen: 'to' given twice";
            if (i + 1 == args.size()) return "reopen to needs a stage: " + std::string(stage_names);
            const auto s = policy::parse_stage(args[i + 1].text);
            if (!s)
                return "reopen: unknown stage " + show(args[i + 1]) + "; expected " +
                       std::string(stage_names);
            cmd.to = *s;
            ++i;
        } else if (is_keyword(w, "--force") || is_keyword(w, "force")) {
            if (seen_force) return "reopen: " + show(w) + " given twice";
            seen_force = true;
            cmd.force = true;
        } else {
            return "reopen: unexpected " + show(w) + "; expected 'to STAGE' or '--force'" + quoted_hint(w);
        }
    }
    cmd.text = "reopen";
    if (cmd.to) cmd.text += " to " + std::string(policy::to_string(*cmd.to));
    if (cmd.force) cmd.text += " --force";
    return {};
}

bool all_digits(std::string_view t) noexcept {
    return std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// TIME: a full or minute-precision UTC timestamp, HH:MM meaning the next such time, or
// +DURATION from now (rounded up to the second, so that the canonical ISO text means it).
std::optional<sys_time> parse_time(std::string_view t, sys_time now) {
    using namespace std::chrono;
    if (t.size() > 1 && t[0] == '+') {
        const auto d = parse_duration(t.substr(1));
        if (!d || d->count() <= 0 || *d > hours{24 * 366}) return std::nullopt;
        return ceil<seconds>(now + *d);
    }
    if (t.size() == 5 && t[2] == ':' && all_digits(t.substr(0, 2)) && all_digits(t.substr(3, 2))) {
        const int h = (t[0] - '0') * 10 + (t[1] - '0');
        const int m = (t[3] - '0') * 10 + (t[4] - '0');
        if (h > 23 || m > 59) return std::nullopt;
        sys_time at = floor<days>(now) + hours{h} + minutes{m};
        if (at <= now) at += days{1};
        return at;
    }
    if (t.size() == 17 && t[16] == 'Z') return parse_iso8601(std::string(t.substr(0, 16)) + ":00Z");
    return parse_iso8601(t);
}

std::string parse_set_mode(args_t args, sys_time now, command& cmd) {
    if (args.empty()) return "set mode needs a mode: " + std::string(mode_names);
    const auto m = policy::parse_mode(args[0].text);
    if (!m) return "set mode: unknown mode " + show(args[0]) + "; expected " + std::string(mode_names);
    cmd.mode = *m;

    const auto is_clause = [](const word& w) {
        return is_keyword(w, "reason") || is_keyword(w, "until") || is_keyword(w, "for");
    };
    bool seen_reason = false;
    bool seen_until = false;
    bool seen_for = false;
    // A bare "for" or "until" inside an intended reason starts a clause; say how to avoid it.
    std::string reason_hint;
    for (std::size_t i = 1; i < args.size();) {
        const word& w = args[i];
        if (is_keyword(w, "reason")) {
            if (seen_reason) return "set mode: 'reason' given twice";
            seen_reason = true;
            std::string reason;
            std::size_t parts = 0;
            for (++i; i < args.size() && !is_clause(args[i]); ++i, ++parts) {
                if (parts > 0) reason += ' ';
                reason += args[i].text;
            }
            if (std::all_of(reason.begin(), reason.end(), is_blank))
                return "set mode: 'reason' needs text (quote it when it holds the words reason, until or for)";
            if (reason.size() > max_reason_bytes)
                return "set mode: the reason is " + std::to_string(reason.size()) + " bytes; at most " +
                       std::to_string(max_reason_bytes) + " are accepted";
            cmd.reason = std::move(reason);
            reason_hint = " (a reason holding the words until or for must be quoted)";
            continue;
        }
        if (is_keyword(w, "until") || is_keyword(w, "for")) {
            const bool is_until = w.text == "until";
            if ((is_until && seen_until) || (!is_until && seen_for))
                return "set mode: '" + w.text + "' given twice";
            if (seen_until || seen_for)
                return "set mode: 'until' and 'for' exclude each other; give one expected end";
            (is_until ? seen_until : seen_for) = true;
            if (i + 1 == args.size() || is_clause(args[i + 1])) {
                if (is_until) return "set mode: 'until' needs a time: " + std::string(time_forms);
                return "set mode: 'for' needs a duration, like 45m or 1h30m (at most " +
                       format_duration(max_mode_duration) + ")";
            }
            const word& value = args[i + 1];
            if (is_until) {
                const auto at = parse_time(value.text, now);
                if (!at)
                    return "set mode: until " + show(value) + " is not a time; expected " +
                           std::string(time_forms) + reason_hint;
                if (*at <= now)
                    return "set mode: until " + value.text + " is not after now (" + format_iso8601(now) +
                           ")";
                cmd.until = *at;
            } else {
                duration d{};
                if (auto e =
                        parse_bounded_duration("set mode: for", value, max_mode_duration, reason_hint, d);
                    !e.empty())
                    return e;
                // Rounded up to the second so the canonical text (an ISO time) means the
                // same instant, and is still after now.
                cmd.until = std::chrono::ceil<std::chrono::seconds>(now + d);
            }
            i += 2;
            continue;
        }
        return "set mode: unexpected " + show(w) + "; expected reason, until or for" + quoted_hint(w);
    }

    cmd.text = "set mode " + std::string(policy::to_string(cmd.mode));
    // Always quoted: a one-word reason such as "for" must read back as a reason.
    if (seen_reason) cmd.text += " reason " + double_quoted(cmd.reason);
    if (cmd.until) cmd.text += " until " + format_iso8601(*cmd.until);
    return {};
}

}  // namespace

namespace detail {
std::string show_word(const word& w) { return show(w); }
bool keyword(const word& w, std::string_view k) noexcept { return is_keyword(w, k); }
std::string hint_for(const word& w) { return quoted_hint(w); }
std::optional<sys_time> time_word(std::string_view t, sys_time now) { return parse_time(t, now); }
std::string quoted(std::string_view text) { return double_quoted(text); }
std::string history_count(std::span<const word> args, command& cmd) { return parse_history(args, cmd); }
}  // namespace detail

split_result split_words(std::string_view line) {
    split_result out;
    line = strip_terminator(line);
    if (line.size() > max_line_bytes) {
        out.error = "the line is " + std::to_string(line.size()) + " bytes; at most " +
                    std::to_string(max_line_bytes) + " are accepted";
        return out;
    }
    // Checked on the raw bytes, quotes or not: nothing of this kind belongs in a command.
    if (auto e = first_bad_byte(line, "at column "); !e.empty()) {
        out.error = std::move(e);
        return out;
    }

    std::size_t i = 0;
    const std::size_t n = line.size();
    while (true) {
        while (i < n && is_blank(line[i])) ++i;
        if (i == n) break;
        word w;
        while (i < n && !is_blank(line[i])) {
            const char c = line[i];
            if (c == '"' || c == '\'') {
                const std::size_t open = i++;
                w.literal = true;
                while (true) {
                    if (i == n) {
                        out.error = std::string("unterminated ") + (c == '"' ? "double" : "single") +
                                    " quote opened at column " + std::to_string(open + 1);
                        out.words.clear();
                        return out;
                    }
                    if (line[i] == c) {
                        ++i;
                        break;
                    }
                    if (c == '"' && line[i] == '\\' && i + 1 < n) {
                        w.text += line[i + 1];
                        i += 2;
                        continue;
                    }
                    // A backslash right before the end leaves the quote open: the next
                    // round reports it.
                    if (c == '"' && line[i] == '\\') {
                        ++i;
                        continue;
                    }
                    w.text += line[i++];
                }
            } else if (c == '\\') {
                if (i + 1 == n) {
                    out.error = "lone backslash at the end of the line";
                    out.words.clear();
                    return out;
                }
                w.literal = true;
                w.text += line[i + 1];
                i += 2;
            } else {
                w.text += c;
                ++i;
            }
        }
        out.words.push_back(std::move(w));
    }
    return out;
}

bool wants_json(std::string_view line) {
    auto s = split_words(line);
    if (!s.error.empty()) return raw_wants_json(line);
    return take_json_flags(s.words);
}

std::string quote_arg(std::string_view w) {
    const bool bare = !w.empty() && std::none_of(w.begin(), w.end(), [](char c) {
        return c == ' ' || c == '\t' || c == '"' || c == '\'' || c == '\\';
    });
    return bare ? std::string(w) : double_quoted(w);
}

std::string unsendable(std::string_view w) { return first_bad_byte(w, "at byte "); }

join_result join_command(std::span<const std::string_view> words, bool json) {
    join_result out;
    for (std::size_t i = 0; i < words.size(); ++i) {
        if (auto e = unsendable(words[i]); !e.empty()) {
            out.line.clear();
            out.error = "word " + std::to_string(i + 1) + " (" + show(words[i]) + "): " + e;
            return out;
        }
        if (i > 0) out.line += ' ';
        out.line += quote_arg(words[i]);
    }
    if (json) out.line += out.line.empty() ? "--json" : " --json";
    if (out.line.size() > max_line_bytes) {
        out.error = "the command is " + std::to_string(out.line.size()) + " bytes once quoted; at most " +
                    std::to_string(max_line_bytes) + " fit on one line";
        out.line.clear();
    }
    return out;
}

parse_result parse_command(std::string_view line, sys_time now) {
    parse_result out;
    auto split = split_words(line);
    if (!split.error.empty()) {
        out.json = raw_wants_json(line);
        out.error = std::move(split.error);
        return out;
    }
    auto& words = split.words;
    out.json = take_json_flags(words);
    if (words.empty()) {
        out.error = "empty command; 'help' lists the commands";
        return out;
    }

    // The longest table entry whose words open the line.
    const command_info* found = nullptr;
    std::size_t found_len = 0;
    for (const auto& c : table) {
        const auto kw = split_table_words(c.words);
        if (kw.size() > words.size() || kw.size() <= found_len) continue;
        bool match = true;
        for (std::size_t k = 0; k < kw.size() && match; ++k) match = is_keyword(words[k], kw[k]);
        if (match) {
            found = &c;
            found_len = kw.size();
        }
    }
    if (!found) {
        // A known first word whose entry needs more words ("set" without "mode").
        for (const auto& c : table) {
            const auto kw = split_table_words(c.words);
            if (kw.size() > 1 && is_keyword(words[0], kw[0])) {
                out.error = "'" + std::string(kw[0]) + "' must be followed by '" + std::string(kw[1]) + "'" +
                            (words.size() > 1 ? ", not " + show(words[1]) : std::string{}) +
                            "; usage: " + std::string(c.usage);
                return out;
            }
        }
        out.error =
            "unknown command " + show(words[0]) + quoted_hint(words[0]) + "; commands: " + command_list();
        return out;
    }

    command cmd;
    cmd.what = found->what;
    cmd.json = out.json;
    const args_t args{words.data() + found_len, words.size() - found_len};
    std::string error;
    switch (found->what) {
    case verb::help:
    case verb::status:
    case verb::reopen_status:
    case verb::check:
    case verb::hooks:
    case verb::reload: error = no_arguments(*found, args, cmd); break;
    case verb::hook_run: error = parse_hook_run(args, cmd); break;
    case verb::set_mode: error = parse_set_mode(args, now, cmd); break;
    case verb::freeze: error = parse_freeze(args, cmd); break;
    case verb::reopen: error = parse_reopen(args, cmd); break;
    case verb::history: error = parse_history(args, cmd); break;
    case verb::spool_status: error = no_arguments(*found, args, cmd); break;
    case verb::spool_list: error = parse_spool_list(args, cmd); break;
    case verb::spool_show:
    case verb::spool_drop:
    case verb::spool_requeue: error = parse_spool_id(*found, args, cmd); break;
    case verb::spool_replay: error = parse_spool_replay(args, cmd); break;
    case verb::window_status: error = no_arguments(*found, args, cmd); break;
    case verb::window_plan:
    case verb::window_start:
    case verb::window_abort:
    case verb::window_history:
    case verb::window_report: error = parse_window(found->what, args, now, cmd); break;
    }
    if (!error.empty()) {
        out.error = std::move(error);
        return out;
    }
    out.cmd = std::move(cmd);
    return out;
}

std::span<const command_info> command_table() noexcept { return table; }

const command_info& info(verb v) noexcept {
    for (const auto& c : table) {
        if (c.what == v) return c;
    }
    return table[0];  // unreachable: every verb has an entry (the tests check it)
}

std::string help_text() {
    // Usages wider than this get a line of their own, so one long entry does not push
    // every summary off the right of the terminal.
    constexpr std::size_t max_column = 30;
    std::size_t column = 0;
    for (const auto& c : table) {
        if (c.usage.size() <= max_column) column = std::max(column, c.usage.size());
    }

    std::string out;
    const auto pad = [&out](std::size_t n) { out.append(n, ' '); };
    for (const auto& c : table) {
        out += c.changes_state ? "* " : "  ";
        out += c.usage;
        if (c.usage.size() > column) {
            out += '\n';
            pad(2 + column + 2);
        } else {
            pad(column - c.usage.size() + 2);
        }
        out += c.summary;
        out += '\n';
    }

    std::string stages;
    for (auto s : {policy::stage::maintenance, policy::stage::operators, policy::stage::read_only,
                   policy::stage::writes, policy::stage::open}) {
        if (!stages.empty()) stages += ", ";
        stages += policy::to_string(s);
    }
    out += "* changes state and is written to the audit log\n";
    out += "TIME      " + std::string(time_forms) + "; HH:MM is the next such time\n";
    out += "DURATION  90s, 45m, 1h30m, 2d; for: at most " + format_duration(max_mode_duration) +
           ", freeze timeout: at most " + format_duration(max_freeze_timeout) + "\n";
    out += "STAGE     " + stages + " (the reopen order)\n";
    out += "N         1 to " + std::to_string(max_history) + "\n";
    out +=
        "Quote words holding spaces or keywords; add --json (or start the line with json) for a JSON reply.\n";
    return out;
}

}  // namespace maintgate::admin
