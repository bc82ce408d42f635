#pragma once
// The gate's persisted state: written on every change so that a restart in the middle
// of a maintenance window comes back in that window, never silently open.
#include <chrono>
#include <optional>
#include <string>

#include "policy/gate.hpp"

namespace maintgate {

using sys_time = std::chrono::system_clock::time_point;

struct gate_record {
    policy::mode mode = policy::mode::open;
    policy::stage stage = policy::stage::open;  // always consistent: mode == mode_of(stage)
    bool fenced = false;            // the write fence: set by freeze, lifted by opening
    std::string reason;
    std::optional<sys_time> until;  // expected end
    std::string set_by;             // who: "config", "uid 1000 pid 4242", ...
    sys_time since{};               // when this mode was set

    policy::gate_view view() const noexcept {
        return {mode, stage == policy::stage::writes, fenced};
    }
};

// Durable replace: write a temp file in the same folder, fsync it, rename it over the
// old one, fsync the folder. A crash at any point leaves the old or the new state, never
// a torn one. Returns an empty string on success, else what failed (the caller refuses
// the change and says so).
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
