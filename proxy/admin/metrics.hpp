#pragma once
// Prometheus metrics: the gate's counters and state rendered in the text exposition
// format, and a small HTTP/1.1 listener that serves them on GET /metrics. The listener
// runs on the admin thread's io_context, never on a worker, so a scrape costs the data
// path nothing but the relaxed loads of sum_stats().
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "policy/gate.hpp"
#include "proxy/net.hpp"
#include "proxy/admin/state_file.hpp"
#include "proxy/net/stats.hpp"

namespace maintgate::proxy {

struct metrics_view {
    stats_totals totals;
    policy::mode mode = policy::mode::open;
    policy::stage stage = policy::stage::open;  // consistent with mode: mode_of(stage) == mode
    bool fenced = false;
    std::size_t connections = 0;  // open client connections
    std::optional<bool> upstream_healthy;  // nullopt: no health check configured or run yet
    std::optional<sys_time> last_health_check;
    std::optional<std::int64_t> last_write_boundary_ms;  // unix ms of the last freeze's boundary
    sys_time stage_since{};
    std::string extra;  // more families, rendered by their owners (spool, cluster, [auto_read_only]), or empty
    // Families rendered elsewhere (proxy/window/window_metrics.cpp), appended as they are.
    std::string windows;
    std::string hooks;  // the hooks' families (hook_metrics_text), appended as they are
};

// The text exposition format 0.0.4, every family with # HELP and # TYPE, in this order:
//   maintgate_requests_total{mode,decision} counter: all 3 x 6 series, zeros included, so
//     a rate() never starts from a missing series
//   maintgate_in_flight_requests{kind="read|write"} gauge
//   maintgate_refused_writes_total, maintgate_upstream_responses_total,
//   maintgate_upstream_5xx_responses_total, maintgate_upstream_errors_total,
//   maintgate_banners_inserted_total counters
//   maintgate_banners_skipped_total{reason} counter: every banner_skip, zeros included
//   maintgate_mode{mode}, maintgate_stage{stage} gauges: 1 for the current one, 0 for the others
//   maintgate_write_fence gauge 0/1
//   maintgate_last_write_completed_timestamp_seconds (omitted while no write has completed)
//   maintgate_last_write_boundary_timestamp_seconds (omitted while there is none)
//   maintgate_stage_since_timestamp_seconds
//   maintgate_upstream_healthy 0/1 and maintgate_last_health_check_timestamp_seconds
//     (each omitted while unknown)
//   maintgate_connections gauge
//   then v.extra as given (the spool's maintgate_spool_* families, spool.hpp)
//   then, in a cluster, the node's maintgate_cluster_* families are appended to v.extra
//   then v.windows: the maintenance windows' families (window_metrics.hpp)
// Timestamps are unix seconds with three decimals. An omitted family has no HELP or TYPE
// line either. Ends with a newline.
std::string render_metrics(const metrics_view& v);

// The families of MAINTGATE_FEATURE_COUNTERS and the held-writes gauge, for
// metrics_view::extra.
std::string render_feature_metrics(const stats_totals& t);

// An HTTP/1.1 listener for operators: GET or HEAD /metrics (a query string is ignored)
// answers 200 "text/plain; version=0.0.4; charset=utf-8" with render_metrics(snapshot());
// any other path 404; any other method on /metrics 405 with "Allow: GET, HEAD". Keep-alive;
// a request head over 8 KiB is answered 431 and a request with a body 413, both closing the
// connection; a malformed head gets 400 and a close. A connection idle (or slow to send its
// head) for idle_timeout is closed; past 64 open connections a new one is closed at once.
//
// Everything runs on the io_context given; snapshot() is called there, once per GET or
// HEAD. The io_context must outlive this object. listen() and start() are called before
// the io_context runs or on its thread; stop() and the destructor from any thread.
class metrics_listener {
public:
    static constexpr std::size_t max_connections = 64;
    static constexpr std::size_t max_head_size = 8 * 1024;

    metrics_listener(net::io_context& ioc, std::function<metrics_view()> snapshot,
                     std::chrono::milliseconds idle_timeout = std::chrono::seconds(10));
    ~metrics_listener();
    metrics_listener(const metrics_listener&) = delete;
    metrics_listener& operator=(const metrics_listener&) = delete;

    // Binds and listens on host (a literal address) and port (0: the kernel picks).
    // Returns "" and logs "metrics listening on HOST:PORT" at info, or the error text.
    std::string listen(const std::string& host, std::uint16_t port);

    // The bound address (with the real port after port 0); empty before listen().
    tcp::endpoint local_endpoint() const;

    // Starts the accept loop on the io_context and returns at once.
    void start();

    // Closes the acceptor and every open connection. Runs at once when called on the
    // io_context's thread, else as soon as the io_context runs it.
    void stop();

private:
    struct state;  // shared with the coroutines, which may outlive this object briefly

    net::io_context& ioc_;
    std::shared_ptr<state> state_;
};

}  // namespace maintgate::proxy
