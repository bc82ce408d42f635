#pragma once
// The gate's current state as one immutable snapshot, with every local reply it needs
// rendered in advance: a refused write or a maintenance page costs one write and no
// formatting. A new snapshot replaces the old one on every change; workers read theirs
// once per request.
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "policy/accept.hpp"
#include "proxy/config/config.hpp"
#include "proxy/admin/state_file.hpp"
#include "proxy/admin/window_notice.hpp"

namespace maintgate {

// A complete response except for the connection handling: head holds the status line
// and header lines (each ending in CRLF) but not the blank line, so the writer can add
// "Connection: close" when it must without copying anything.
struct rendered_reply {
    std::string head;
    std::string body;
    // While a maintenance window is under way: copies of head whose Retry-After is spread
    // a little past the expected end, so clients do not all come back in the same second.
    // The writer picks one by a hash of the peer's address; empty: head for everyone.
    std::vector<std::string> jittered_heads;
};

// The public feeds of maintenance windows, rendered when a window changes.
struct window_feeds {
    rendered_reply json;  // status_path + "/windows.json": scheduled_maintenances
    rendered_reply ics;  // status_path + "/windows.ics": iCalendar (RFC 5545)
};

struct gate_snapshot {
    gate_record record;
    // The configuration the data path uses while this snapshot is current: a reload
    // publishes a new snapshot, so a request sees one consistent config and gate.
    std::shared_ptr<const config> cfg;
    std::array<rendered_reply, 3> refusal;  // 503 for refused writes, by policy::body_format
    std::array<rendered_reply, 3> page;  // 503 maintenance page, by policy::body_format
    rendered_reply status;  // 200 JSON for the public status endpoint
    // The maintenance window that is announced or under way, or null: set by the
    // window code on the admin thread, read by the banner on the data path.
    std::shared_ptr<const window_notice> notice;
    // 200s for /.maintgate/banner.css and banner.js (banner_config), served in every mode.
    std::array<rendered_reply, 2> banner_assets;
    // The windows' feeds (rendered by proxy/window/publish.cpp), or null: none served.
    std::shared_ptr<const window_feeds> feeds;
};

// Going from before to after closes the gate to upgraded connections: the mode leaves
// open, or the write fence rises. A tunnel (an upgrade is a write) must not outlive that.
inline bool gate_closes(const gate_record& before, const gate_record& after) noexcept {
    return (before.mode == policy::mode::open && after.mode != policy::mode::open) ||
           (!before.fenced && after.fenced);
}

// Renders the snapshot for record at time now (Retry-After and the page's refresh count
// down to the expected end).
std::shared_ptr<const gate_snapshot> render_snapshot(const gate_record& record, const gate_settings& settings,
                                                     sys_time now);
// The same, rendered from cfg->gate and carrying cfg.
std::shared_ptr<const gate_snapshot> render_snapshot(const gate_record& record,
                                                     std::shared_ptr<const config> cfg, sys_time now);

// The JSON object the status endpoint serves: mode, reason, since, until, retry_after.
std::string status_json(const gate_record& record, std::int64_t retry_after);

// Seconds a client should wait: until the expected end when one is set and ahead
// (at least 1), else the configured default.
std::int64_t retry_after_seconds(const gate_record& record, const gate_settings& settings, sys_time now);

// Restores the state at start-up: the state file when it exists; the configured initial
// mode when it does not (and writes the file); the configured corrupt_state_mode, never
// open, when it cannot be read. Logs what it did and why.
gate_record restore_gate_record(const gate_settings& settings);

}  // namespace maintgate
