#include "proxy/admin/window_command.hpp"

#include <algorithm>

#include "proxy/window/window.hpp"

namespace maintgate::admin {
namespace {

using detail::keyword;
using detail::show_word;

constexpr std::string_view time_forms = "2026-11-22T04:00:00Z, 2026-11-22T04:00Z, HH:MM (UTC) or +45m (from now)";

std::string window_id(std::string_view what, const word& w, command& cmd) {
    if (auto e = window::check_id(w.text); !e.empty()) return std::string(what) + ": " + show_word(w) + ": " + e;
    cmd.window_id = w.text;
    return {};
}

std::string parse_plan(std::span<const word> args, sys_time now, command& cmd) {
    if (args.empty()) return "window plan needs an id, then start TIME|manual end TIME";
    if (auto e = window_id("window plan", args[0], cmd); !e.empty()) return e;
    cmd.mode = policy::mode::maintenance;
    bool seen_start = false, seen_end = false, seen_mode = false, seen_announce = false, manual = false;
    for (std::size_t i = 1; i < args.size();) {
        const word& w = args[i];
        if (keyword(w, "reason")) {
            std::string reason;
            for (++i; i < args.size(); ++i) {
                if (!reason.empty()) reason += ' ';
                reason += args[i].text;
            }
            if (std::all_of(reason.begin(), reason.end(), [](char c) { return c == ' ' || c == '\t'; }))
                return "window plan: 'reason' needs text (it takes the rest of the line)";
            if (reason.size() > max_reason_bytes)
                return "window plan: the reason is " + std::to_string(reason.size()) + " bytes; at most " +
                       std::to_string(max_reason_bytes) + " are accepted";
            cmd.reason = std::move(reason);
            break;
        }
        if (keyword(w, "hook")) {
            if (i + 2 >= args.size())
                return "window plan: 'hook' needs a point and a [[hook]] name, such as hook pre_freeze backup-db";
            const word& point = args[i + 1];
            const word& name = args[i + 2];
            const auto hp = point.literal ? std::nullopt : window::parse_hook_point(point.text);
            if (!hp)
                return "window plan: hook " + show_word(point) +
                       " is not a point; expected pre_announce, pre_freeze, at_boundary, post_reopen or on_abort "
                       "(reopen stages' hooks are [reopen.hooks])";
            // A [[hook]] name's syntax is a window id's; that the config has it, run_window_plan checks.
            if (!window::check_id(name.text).empty())
                return "window plan: hook " + point.text + " " + show_word(name) +
                       ": a hook name is 1 to 64 letters, digits, '.', '_' or '-'";
            std::pair<std::string, std::string> h{std::string(window::to_string(*hp)), name.text};
            if (std::find(cmd.window_hooks.begin(), cmd.window_hooks.end(), h) != cmd.window_hooks.end())
                return "window plan: hook " + h.first + " " + h.second + " given twice";
            cmd.window_hooks.push_back(std::move(h));
            i += 3;
            continue;
        }
        const bool is_start = keyword(w, "start"), is_end = keyword(w, "end"), is_announce = keyword(w, "announce"),
                   is_mode = keyword(w, "mode");
        if (!is_start && !is_end && !is_announce && !is_mode)
            return "window plan: unexpected " + show_word(w) + "; expected start, end, announce, mode, hook or reason" +
                   detail::hint_for(w);
        bool& seen = is_start ? seen_start : is_end ? seen_end : is_announce ? seen_announce : seen_mode;
        if (seen) return "window plan: '" + w.text + "' given twice";
        seen = true;
        if (i + 1 == args.size())
            return "window plan: '" + w.text + "' needs " +
                   (is_mode ? std::string("read-only or maintenance") : "a time: " + std::string(time_forms));
        const word& value = args[i + 1];
        if (is_mode) {
            auto m = policy::parse_mode(value.text);
            if (!m || *m == policy::mode::open)
                return "window plan: mode " + show_word(value) + "; expected read-only or maintenance";
            cmd.mode = *m;
        } else if (is_start && keyword(value, "manual")) {
            manual = true;
        } else {
            auto t = detail::time_word(value.text, now);
            if (!t)
                return "window plan: " + w.text + " " + show_word(value) + " is not a time; expected " +
                       std::string(time_forms) + (is_start ? " or manual" : "");
            (is_start ? cmd.window_starts : is_end ? cmd.window_ends : cmd.window_announce) = *t;
        }
        i += 2;
    }
    if (!seen_start) return "window plan: 'start TIME' (or 'start manual') is required";
    if (!seen_end) return "window plan: 'end TIME' is required: the expected end feeds Retry-After";
    if (*cmd.window_ends <= now)
        return "window plan: end " + format_iso8601(*cmd.window_ends) + " is not after now (" + format_iso8601(now) +
               ")";
    if (cmd.window_starts && *cmd.window_ends <= *cmd.window_starts) return "window plan: the end must be after the start";
    if (cmd.window_starts && cmd.window_announce && *cmd.window_announce > *cmd.window_starts)
        return "window plan: the announcement must not be after the start";
    cmd.text = "window plan " + cmd.window_id + " start " +
               (manual ? std::string("manual") : format_iso8601(*cmd.window_starts)) + " end " +
               format_iso8601(*cmd.window_ends);
    if (cmd.window_announce) cmd.text += " announce " + format_iso8601(*cmd.window_announce);
    cmd.text += " mode " + std::string(policy::to_string(cmd.mode));
    for (const auto& [point, name] : cmd.window_hooks) cmd.text += " hook " + point + " " + name;
    if (!cmd.reason.empty()) cmd.text += " reason " + detail::quoted(cmd.reason);
    return {};
}

std::string parse_optional_id(std::string_view what, std::span<const word> args, command& cmd) {
    if (args.size() > 1) return std::string(what) + " takes at most an id; unexpected " + show_word(args[1]);
    cmd.text = std::string(what);
    if (args.empty()) return {};
    if (auto e = window_id(what, args[0], cmd); !e.empty()) return e;
    cmd.text += " " + cmd.window_id;
    return {};
}

std::string parse_report(std::span<const word> args, command& cmd) {
    bool seen_id = false;
    for (const auto& w : args) {
        if (keyword(w, "--markdown") || keyword(w, "markdown")) {
            cmd.format = report_format::markdown;
        } else if (!seen_id) {
            if (auto e = window_id("window report", w, cmd); !e.empty()) return e;
            seen_id = true;
        } else {
            return "window report: unexpected " + show_word(w) + "; expected an id and --markdown or --json";
        }
    }
    if (!seen_id) return "window report needs a window id ('window history' lists them)";
    if (cmd.json) cmd.format = report_format::json;
    cmd.text = "window report " + cmd.window_id + (cmd.format == report_format::markdown ? " --markdown" : "");
    return {};
}

}  // namespace

std::string parse_window(verb v, std::span<const word> args, sys_time now, command& cmd) {
    switch (v) {
    case verb::window_plan: return parse_plan(args, now, cmd);
    case verb::window_start: return parse_optional_id("window start", args, cmd);
    case verb::window_abort: return parse_optional_id("window abort", args, cmd);
    case verb::window_report: return parse_report(args, cmd);
    case verb::window_history: {
        auto e = detail::history_count(args, cmd);
        if (e.empty()) cmd.text = "window " + cmd.text;
        else if (e.starts_with("history")) e = "window " + e;
        return e;
    }
    default: return "not a window command";
    }
}

}  // namespace maintgate::admin
