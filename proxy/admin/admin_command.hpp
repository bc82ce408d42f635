#pragma once
// The admin socket's command language: one line in, one parsed command (or one precise
// error) out. Pure: no I/O, no clock (the caller passes `now`), so the server runs what
// this understood and `maintgate ctl` builds lines this splits back exactly.
//
// Wire protocol (the server and ctl both follow it):
// - one command per line, UTF-8, "\n"-terminated, at most max_line_bytes before the "\n";
// - text reply: one or more non-empty lines, then one empty line; a failed or refused
//   command's first line starts with "error: ";
// - JSON reply (wants_json()): exactly one line holding one JSON object with "ok" (and
//   "error" when false), then "\n";
// - the connection stays open for more commands until the client closes it.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/gate.hpp"
#include "proxy/config/duration.hpp"
#include "proxy/admin/state_file.hpp"

namespace maintgate::admin {

inline constexpr std::size_t max_line_bytes = 4096;  // excluding the "\n" (or "\r\n")
inline constexpr std::size_t max_reason_bytes = 500;
inline constexpr duration max_mode_duration{30LL * 24 * 3600 * 1000};  // set mode ... for
inline constexpr duration max_freeze_timeout{3600 * 1000};
inline constexpr std::size_t default_history = 20;
inline constexpr std::size_t max_history = 10'000;

enum class verb {
    help, status, set_mode, freeze, reopen, reopen_status, check, history, reload,
    // The webhook spool (proxy/admin/commands/spool.cpp).
    spool_status, spool_list, spool_show, spool_replay, spool_drop, spool_requeue,
    // The maintenance window (proxy/admin/commands/window_*.cpp).
    window_plan, window_start, window_status, window_abort, window_history, window_report,
    // Hooks (proxy/admin/commands/hooks.cpp).
    hooks, hook_run,
};
inline constexpr std::size_t verb_count = std::size_t(verb::hook_run) + 1;
inline constexpr std::size_t default_spool_list = 20;

enum class report_format { text, json, markdown };

struct command {
    verb what = verb::help;
    bool json = false;  // --json anywhere, or a leading word "json"
    bool force = false;  // reopen --force (or a bare word "force")
    policy::mode mode = policy::mode::open;  // set mode
    std::string reason;  // set mode ... reason TEXT
    std::optional<sys_time> until;  // set mode ... until TIME | for DURATION, resolved
    std::optional<duration> timeout;  // freeze timeout DURATION; empty: the configured default
    std::optional<bool> hold;  // freeze hold / freeze no-hold; empty: [hold] enabled decides
    std::optional<policy::stage> to;  // reopen to STAGE; empty: the next stage
    std::size_t count = default_history;  // history [N], spool list [N], window history [N]
    std::uint64_t id = 0;  // spool show|drop|requeue ID
    bool dry_run = false;  // spool replay --dry-run
    // window plan|start|abort|report: the window's id (empty: the next or current one),
    // its times (plan; start empty: started by hand) and the report's format.
    std::string window_id;
    std::optional<sys_time> window_starts, window_ends, window_announce;
    // window plan ... hook POINT NAME: (point, [[hook]] name), in the order given.
    std::vector<std::pair<std::string, std::string>> window_hooks;
    report_format format = report_format::text;
    std::string name;  // hook run NAME
    std::string text;  // the canonical line, without json flags (audit log)
};

struct parse_result {
    std::optional<command> cmd;  // set when the line is a valid command
    std::string error;  // set otherwise: the message, without the "error: " prefix
    bool json = false;  // the reply format the client asked for, even when the line is bad
};

// Parses one line (with or without its "\n" or "\r\n") into a command. `now` resolves
// `until HH:MM` and `for DURATION` and rejects expected ends that are not after it.
// Every error names the bad word and what was expected; nothing is ever half-parsed.
// The resolved `until` is a whole second (`for` rounds up), so `text` parses back to the
// same command. Never throws (beyond std::bad_alloc).
parse_result parse_command(std::string_view line, sys_time now);

// Whether the client asked for a JSON reply: an unquoted `--json` word anywhere, or a
// leading unquoted `json`. Decided the same way even for lines that do not tokenize
// (then on the raw space-separated words), so a bad line still gets its error in the
// format the client reads.
bool wants_json(std::string_view line);

// One word of a line, after quotes and escapes are removed.
struct word {
    std::string text;
    bool literal = false;  // quoted or escaped somewhere: never a keyword or flag
};

struct split_result {
    std::vector<word> words;
    std::string error;  // empty on success
};

// The tokenizer: words split on spaces and tabs; "double" and 'single' quotes group
// words; a backslash takes the next byte literally in bare words and inside double quotes
// (single quotes take everything literally). Errors: an unterminated quote, a lone
// trailing backslash, control bytes other than tab (even quoted), invalid UTF-8, and
// lines over max_line_bytes. One trailing "\n" and then one "\r" are dropped first.
split_result split_words(std::string_view line);

// Quotes one word so that split_words gives it back exactly: bare when it is non-empty
// and holds no space, tab, quote or backslash, else double-quoted with `"` and `\`
// escaped. Words with control bytes (other than tab) cannot be carried by a line at all;
// check them with unsendable() first.
std::string quote_arg(std::string_view word);

// Why `word` cannot be sent as part of a command line (a control byte other than tab, or
// invalid UTF-8), or an empty string when it can.
std::string unsendable(std::string_view word);

struct join_result {
    std::string line;  // without the "\n"
    std::string error;  // empty on success
};

// ctl's side: quotes each word and joins them with single spaces, appending " --json"
// when json is set. Fails (naming the word by its 1-based position) when a word is
// unsendable or the line would exceed max_line_bytes.
join_result join_command(std::span<const std::string_view> words, bool json);

struct command_info {
    verb what;
    std::string_view words;  // the words that select it: "reopen status"
    std::string_view usage;  // words plus arguments, as help shows them
    std::string_view summary;  // one line, for help
    bool changes_state;  // audited; shown with a mark in help
};

// The one table of commands, in help order. parse_command selects commands by their
// `words` here, help_text() is generated from it; what runs each verb is
// proxy/admin/commands/commands.hpp's handler_for(), kept out of this pure table so the
// parser needs no I/O (config_tests and fuzz_admin_command link it without Asio's sockets).
std::span<const command_info> command_table() noexcept;

// The table entry of a verb.
const command_info& info(verb v) noexcept;

// The command list for `help` and `maintgate ctl --help`: one line per command (usage and
// summary in aligned columns; a usage too wide for the column gets its own line), then
// notes on TIME, DURATION and STAGE. Every line ends in "\n" and none is empty, so the
// server can send it as a text reply followed by the one empty line.
std::string help_text();

}  // namespace maintgate::admin
