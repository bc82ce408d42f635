#pragma once
// Runs hooks on the admin thread without ever blocking it: posix_spawn into a process
// group of the child's own, the output read through a pipe as an Asio stream descriptor,
// the exit seen through a pidfd (or a waitpid poll where pidfd_open is missing), and a
// timer that sends SIGTERM to the whole group at the timeout and SIGKILL after the grace.
//
// Every run goes through the hook journal (hook_store): "started <hook> <phase> <window>
// pid" is written durably before the child can do anything that matters, the result
// after; an audit line records each run. A backup hook's result file is checked against
// its [hook.backup] contract before the run counts as ok, and only a passing run replaces
// the last good record.
#include <string>
#include <vector>

#include "proxy/config/config.hpp"
#include "proxy/hooks/hook_spec.hpp"
#include "proxy/net.hpp"

namespace maintgate::proxy {

// One hook, to the end (including the kill after timeout + grace, and the backup gate).
// Never throws for the hook's own failures: a spawn that fails is a result with ok false
// and error set. Call on the admin thread's io_context.
net::awaitable<hook_result> run_hook(net::io_context& ioc, const hook_spec& spec, const hook_context& ctx);

// The named hooks of cfg in order, stopping at the first that fails (its result is the
// last one returned). A name that cfg does not define is a failed result with that
// error (the loader refuses such configs, so only a caller's typo gets here).
net::awaitable<std::vector<hook_result>> run_hooks(net::io_context& ioc, const config& cfg,
                                                   const std::vector<std::string>& names,
                                                   const hook_context& ctx);

// "ok", or the first failure's name and error: for replies and step-back reasons.
std::string summarize(const std::vector<hook_result>& results);

}  // namespace maintgate::proxy
