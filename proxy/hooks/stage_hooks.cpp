#include "proxy/hooks/stage_hooks.hpp"

#include "proxy/hooks/runner.hpp"

namespace maintgate::proxy {

std::string stage_phase(policy::stage s) { return "reopen:" + std::string(policy::to_string(s)); }

net::awaitable<std::optional<std::string>> run_stage_hooks(net::io_context& ioc, const config& cfg,
                                                           policy::stage reached, const std::string& actor,
                                                           std::optional<std::int64_t> write_boundary_ms,
                                                           std::vector<hook_result>& results) {
    const auto& names = cfg.reopen.stage_hooks[static_cast<std::size_t>(reached)];
    if (names.empty()) co_return std::nullopt;
    hook_context ctx{"", stage_phase(reached), write_boundary_ms, actor};
    results = co_await run_hooks(ioc, cfg, names, ctx);
    if (!results.empty() && !results.back().ok)
        co_return "stage " + std::string(policy::to_string(reached)) + " hook " + results.back().name +
            " failed: " + results.back().error;
    co_return std::nullopt;
}

}  // namespace maintgate::proxy
