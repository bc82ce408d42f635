#pragma once
// Wires the workers together: binds every listener once per worker (SO_REUSEPORT, so
// the kernel spreads connections), runs one thread per worker, and handles signals.
#include <memory>

#include "proxy/config/config.hpp"

namespace maintgate::proxy {

// Serves until SIGTERM or SIGINT, then shuts down gracefully within
// timeouts.shutdown. Returns the process exit code; start-up errors are logged and
// give 1.
int run_server(std::shared_ptr<const config> cfg);

}  // namespace maintgate::proxy
