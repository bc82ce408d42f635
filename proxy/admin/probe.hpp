#pragma once
// The health and smoke checks that gate each reopen step: one configured request sent
// straight to the upstream (never through the gate, whose mode would answer instead),
// and a verdict on what came back.
#include <chrono>
#include <string>
#include <vector>

#include "proxy/config/config.hpp"
#include "proxy/net.hpp"

namespace maintgate::proxy {

struct probe_result {
    std::string name;  // check_request::name, or "METHOD path"
    bool ok = false;
    unsigned status = 0;  // 0 when no response came
    std::string detail;  // why it failed, or a short "200 in 12 ms" on success
    std::chrono::milliseconds elapsed{0};
};

// Connects to the first endpoint of `upstream` that accepts (in order) and sends the check:
// Host is check.host, else u.host_header, else the upstream's host:port; then
// `User-Agent: maintgate-check` (unless the check sets its own), `Connection: close`, the
// configured headers, and the body with Content-Length. Reads the response head, and the
// body only when body_contains is set (at most its first 1 MiB), all within check.timeout
// counted from the start. The check passes when the status is expect_status and the body
// contains body_contains.
// Never throws: every failure is a result whose detail says what happened, such as
// "connect: Connection refused", "timed out after 2s", "expected 200, got 503",
// "body does not contain \"Welcome\"" or "bad response: <parser error>".
net::awaitable<probe_result> run_probe(const check_request& check, const std::vector<tcp::endpoint>& upstream,
                                       const upstream_config& u);

// Runs the health check (if configured) and then every smoke check, one after another in
// that order, without stopping at a failure, so the operator sees every failure at once.
// One result per check, in the same order. Never throws.
net::awaitable<std::vector<probe_result>> run_checks(const reopen_config& r,
                                                     const std::vector<tcp::endpoint>& upstream,
                                                     const upstream_config& u);

}  // namespace maintgate::proxy
