#pragma once
// A window as the admin replies show it: one summary object for status and history, the
// full report (the post-mortem's starting record) as JSON, and the text and Markdown
// forms rendered from that same JSON.
#include <string>
#include <string_view>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "proxy/window/window.hpp"

namespace maintgate::window {

// {id, phase, mode, reason, announce_from, starts, ends, started_at, ended_at,
//  started_by, outcome, interrupted, message}
boost::json::object summary_json(const window& w);
// The summary plus planned_by, hooks, write_boundary, backups, stages (with checks),
// step_backs, refused_writes {total, by_route}, post_window_backup, timeline.
boost::json::object report_json(const window& w);

std::string report_text(const boost::json::object& report);
std::string report_markdown(const boost::json::object& report);
// The report's lines for backups ("backup      ok  hook: artifact, N bytes, sha256 X")
// and hook runs (with their error and output), from report_json's arrays; window start's
// reply shows them too.
std::string backup_lines(std::string_view label, const boost::json::array& backups);
std::string hook_run_lines(const boost::json::array& hook_runs);
// One line per window: "w1  active  maintenance  2026-11-22T03:00:00Z .. 04:00:00Z  reason".
std::string summary_line(const boost::json::object& summary);

}  // namespace maintgate::window
