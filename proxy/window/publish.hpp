#pragma once
// What the data path sees of the maintenance windows, rendered when a window changes and
// attached to every gate snapshot: the notice for the banner, the public feeds
// (windows.json in the shape of a hosted status page's scheduled maintenances, and
// windows.ics), the "window" field of the status JSON, and the jittered Retry-After
// heads while a window holds the gate. Nothing here runs per request.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxy/admin/gate_state.hpp"
#include "proxy/window/window.hpp"

namespace maintgate::window {

struct publication {
    std::shared_ptr<const window_notice> notice;  // from announce_from until the window ends
    std::shared_ptr<const window_feeds> feeds;
    std::string status_field = "null";  // the JSON value of the status endpoint's "window"
    bool jitter = false;  // a window holds the gate: spread Retry-After
};

// The notice's window: the one in progress, else the soonest announced one.
publication make_publication(const std::vector<window>& windows, sys_time now);

// The feeds alone (tests read them).
std::string feed_json(const std::vector<window>& windows, sys_time now);
std::string feed_ics(const std::vector<window>& windows, sys_time now);

// RFC 5545 text: escapes \ ; , and newlines; folds lines longer than 75 octets (CRLF and
// a space), never inside a UTF-8 sequence.
std::string ics_escape(std::string_view text);
std::string ics_fold(std::string_view line);

// How far past the expected end the k-th of `variants` heads sends its clients: spread
// over about 10% of retry, at most 60 s; 0 for every k when retry is too short to spread.
std::int64_t jitter_seconds(std::int64_t retry, std::size_t k, std::size_t variants) noexcept;
inline constexpr std::size_t jitter_variants = 8;

// Puts p on s: notice, feeds, status field; the jittered heads when p.jitter.
void decorate(gate_snapshot& s, const publication& p, std::int64_t retry);

}  // namespace maintgate::window
