#pragma once
// [reopen.hooks]: what runs once a reopen step has reached a stage (start the workers at
// `writes`, re-enable cron at `open`). gate_control calls this after the step's checks
// passed and the stage was published; on a failure it steps back to the previous stage
// the way the automatic step back does.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "policy/gate.hpp"
#include "proxy/config/config.hpp"
#include "proxy/hooks/hook_spec.hpp"
#include "proxy/net.hpp"

namespace maintgate::proxy {

// Runs the stage's hooks in order into `results` (phase "reopen:<stage>"). nullopt when
// every one passed (or there are none), else the reason to step back, naming the hook
// and its error.
net::awaitable<std::optional<std::string>> run_stage_hooks(net::io_context& ioc, const config& cfg,
                                                           policy::stage reached, const std::string& actor,
                                                           std::optional<std::int64_t> write_boundary_ms,
                                                           std::vector<hook_result>& results);

// "reopen:writes"
std::string stage_phase(policy::stage s);

}  // namespace maintgate::proxy
