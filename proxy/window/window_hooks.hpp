#pragma once
// The one place the window runs hooks: the phase's [[hook]] names through the hook
// runner (proxy/hooks/, run_hooks), and what the window keeps of the results (the
// backups with their size and checksum, a line for the timeline).
#include <optional>
#include <string>
#include <vector>

#include "proxy/admin/gate_control.hpp"
#include "proxy/net.hpp"
#include "proxy/window/window.hpp"

namespace maintgate::window {

struct hook_request {
    std::string window_id;
    hook_point point{};
    std::vector<std::string> names;
    std::optional<std::int64_t> write_boundary_ms;
    std::string actor;
};

struct hook_outcome {
    bool ok = false;  // every hook ran and passed (a backup hook: its gate passed)
    std::string detail;  // "ok", or the first failure
    std::vector<backup> backups;  // each backup hook's verdict, passed or refused
    std::vector<hook_run> runs;  // every hook that ran (or could not), in order
};

net::awaitable<hook_outcome> run_window_hooks(net::io_context& ioc, const proxy::gate_control& gate,
                                              const hook_request& req);

}  // namespace maintgate::window
