#include "proxy/window/window_hooks.hpp"

namespace maintgate::window {

net::awaitable<hook_outcome> run_window_hooks(net::io_context&, const proxy::gate_control&,
                                              const hook_request& req) {
    hook_outcome out;
    // Without the hook runner no named hook can run, and a window must never pass its
    // backup gate on hooks it did not run: fail closed.
    out.ok = req.names.empty();
    out.detail = out.ok ? "no hooks" : "hooks are not available in this build";
    co_return out;
}

}  // namespace maintgate::window
