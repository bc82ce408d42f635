#pragma once
// The audit log: one JSON line per admin action that changes (or tried to change) the
// gate, appended and fsync'd before the reply, so that "who froze the app at 2am, and
// why" has an answer that survives a crash. `history` reads the end of it back.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "policy/gate.hpp"
#include "proxy/admin/state_file.hpp"

namespace maintgate {

struct audit_entry {
    sys_time time{};  // written with millisecond precision, UTC: "...T03:10:00.123Z"
    long uid = -1, pid = -1;  // the admin peer (SO_PEERCRED); -1 when not a socket peer
    std::string actor;  // "uid 1000 pid 4242", "watch" (automatic step back), "SIGHUP"
    std::string command;  // canonical command line: set mode maintenance reason "x"
    policy::mode old_mode{}, new_mode{};
    policy::stage old_stage{}, new_stage{};
    std::string reason;
    std::string outcome;  // "ok", "refused", "failed"
    std::string detail;  // why refused or failed, or e.g. the write boundary; may be empty
    std::string replica;  // [cluster]: this replica's id, written last; empty: not written
};

// One JSON object without a newline, fields in this order: time, uid, pid (numbers, or
// null when negative), actor, command, old_mode, new_mode, old_stage, new_stage, reason,
// outcome, detail, and replica (only in a cluster). Every string is escaped (json::serialize_line), so no field can break the
// line or forge another entry.
std::string audit_line(const audit_entry& e);

// Appends audit_line(e) + "\n" to path with one write(2) on an O_APPEND descriptor
// (the file is created 0640, less the umask, when missing), then fsyncs it. Returns ""
// on success, else what failed: "cannot open PATH: ...", "cannot write PATH: ...",
// "short write PATH: ...", "cannot fsync PATH: ...". A partial write is cut back to the
// previous size, so a failed append never leaves half a line for the next one to glue
// onto; when the file already ends without a newline (a crash before this code existed,
// a hand edit), the entry starts on a line of its own. One writer is assumed (the admin
// thread): the size taken before the write is only the previous end if nobody else appends.
// When fsync fails the complete line stays in the file: it is not torn, only not yet durable.
std::string append_audit(const std::string& path, const audit_entry& e);

struct audit_tail {
    std::vector<std::string> lines;  // oldest first, without their newlines
    std::string error;  // empty, or why reading stopped (lines holds what was read)
};

// The last n lines of the file, oldest first. The file is read backwards from its end in
// fixed-size blocks, so the cost follows n, not the file's size. Lines are whole, never a
// piece cut at a block boundary; empty lines are skipped; a last line without a newline
// (a hand edit, a crash mid-write) is still a line: history shows what the file holds.
// A line longer than 1 MiB stops the reading with an error (no entry we write is near
// that). A missing file is no lines and no error.
audit_tail read_audit_tail(const std::string& path, std::size_t n);

// One line for people:
//   "2026-11-22 03:10:00.123Z  uid 1000 pid 4242  set mode maintenance reason \"x\"  open/open -> maintenance/maintenance  ok  (detail)"
// that is: time, actor, command, old mode/stage -> new mode/stage, outcome, and the detail
// in parentheses when there is one. Control bytes are shown as escapes (\n, \x1b) so a
// hostile reason cannot move a terminal's cursor. A line that is not valid JSON is
// returned as it is (control bytes escaped the same way).
std::string format_audit_human(std::string_view line);

}  // namespace maintgate
