#pragma once
// The gate's persisted state: written on every change so that a restart in the middle
// of a maintenance window comes back in that window, never silently open.
#include <chrono>
#include <optional>
#include <string>

#include <boost/json/fwd.hpp>

#include "policy/gate.hpp"

namespace maintgate {

using sys_time = std::chrono::system_clock::time_point;

struct gate_record {
    policy::mode mode = policy::mode::open;
    policy::stage stage = policy::stage::open;  // always consistent: mode == mode_of(stage)
    bool fenced = false;  // the write fence: set by freeze, lifted when writes are let in
    bool hold = false;  // with fenced: writes wait in their sessions ([hold]), lifted with the fence
    std::string reason;
    std::optional<sys_time> until;  // expected end
    std::string set_by;  // who: "config", "uid 1000 pid 4242", ...
    sys_time since{};  // when this mode was set

    policy::gate_view view() const noexcept { return {mode, stage == policy::stage::writes, fenced}; }
};

// The state file's object, through Boost.JSON (value_from(r), value_to<gate_record>(v)):
//   {"mode":"maintenance","stage":"operators","fenced":true,"reason":"...",
//    "until":"2026-11-22T03:00:00Z" or null,"set_by":"uid 1000 pid 4242","since":"..."}
// A stage that does not belong to the mode (a caller that set only the mode) is written
// as the mode's own stage, never as a contradiction. Reading throws std::invalid_argument
// naming the field that is of the wrong type, missing (mode) or malformed; a missing
// stage is the mode's own (files from before stages), unknown fields are ignored.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& v, const gate_record& r);
gate_record tag_invoke(const boost::json::value_to_tag<gate_record>&, const boost::json::value& v);

// Durable replace: write a temp file in the same folder, fsync it, rename it over the
// old one, fsync the folder. A crash at any point leaves the old or the new state, never
// a torn one. In two steps, so that a caller can put another write between them and
// still change nothing when that write fails (gate_control writes the audit line
// there): stage_gate_record writes and fsyncs "<path>.tmp"; then commit_gate_record
// renames it over path, or discard_gate_record removes it.
//
// A failure to stage, or a commit's error, changes nothing: the state file is as it
// was and no temp file is left.
std::string stage_gate_record(const std::string& path, const gate_record& r);
void discard_gate_record(const std::string& path) noexcept;

struct commit_result {
    std::string error;  // the rename failed: nothing changed
    std::string not_durable;  // renamed, but the folder could not be fsynced: the new
        // state is in place, and a power cut may still undo it
};
commit_result commit_gate_record(const std::string& path);

// Both steps at once; an error that leaves the new state in place (not_durable) is
// returned too.
std::string save_gate_record(const std::string& path, const gate_record& r);

enum class load_status { ok, missing, corrupt };

struct load_gate_result {
    load_status status = load_status::missing;
    gate_record record;
    std::string error;  // why it is corrupt (or could not be read)
};

load_gate_result load_gate_record(const std::string& path);

// "2026-11-22T03:00:00Z"; parse accepts exactly that form.
std::string format_iso8601(sys_time t);
std::optional<sys_time> parse_iso8601(std::string_view text);

// "2026-11-22T03:00:00.123Z", truncated to the millisecond: the precision of the write
// boundary and the audit log. The second form takes unix milliseconds.
std::string format_iso8601_ms(sys_time t);
std::string format_iso8601_ms(std::int64_t unix_ms);

// "2026-11-22 03:00 UTC", for people.
std::string format_human(sys_time t);

}  // namespace maintgate
