#pragma once
// What the data path needs to know of a maintenance window that is announced or under
// way: enough to put a banner on HTML pages and a Maintgate-Window header on API
// replies. The window itself (its phases, hooks, report) lives on the admin thread; this
// is the part it publishes with every snapshot, from announce_from until the window ends.
#include <chrono>
#include <optional>
#include <string>

namespace maintgate {

struct window_notice {
    std::string id;  // the window's id, also the banner's dismissal cookie's key
    std::string phase;  // "announced" (before start), "active", "verifying"
    std::chrono::system_clock::time_point announce_from{};
    std::optional<std::chrono::system_clock::time_point> starts;  // empty: started by hand, not yet
    std::chrono::system_clock::time_point ends{};  // expected end
    std::string message;  // the current phase's message, plain text (escaped when rendered)
};

}  // namespace maintgate
