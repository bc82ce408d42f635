#pragma once
// What a client session may touch of its worker, and nothing more (in the manner of
// envoy's StreamDecoderFilterCallbacks): the counters, the upstream pool, the gate
// snapshot, whether the worker is stopping, the HTTPS port for redirects, and the
// session list. The worker owns one and hands it to each session at accept; the session
// never names the worker, so the only include between the two runs downwards
// (proxy/net/worker.cpp includes proxy/http/client_session.hpp, not the reverse).
//
// Every accessor is inline and non-virtual: the session pays what it paid when it held
// worker& (a load), on the worker's own thread, with no lock.
#include <cstdint>
#include <memory>
#include <vector>

#include "proxy/admin/gate_state.hpp"
#include "proxy/http/banner.hpp"
#include "proxy/http/hold.hpp"
#include "proxy/net.hpp"
#include "proxy/net/buffer_pool.hpp"
#include "proxy/net/stats.hpp"
#include "proxy/net/upstream_pool.hpp"

namespace maintgate::proxy {

class session_base;
class worker;
}  // namespace maintgate::proxy
namespace maintgate::spool {
class spool;
}  // namespace maintgate::spool
namespace maintgate::proxy {

class worker_context {
public:
    // `buffers` outlives the io_context (the worker declares it first): sessions cut by a
    // forced shutdown (io_context::stop) die with the io_context, after this, and give
    // their buffers back to it then.
    worker_context(net::any_io_executor ex, buffer_pool& buffers, const upstream_config& upstream,
                   std::vector<tcp::endpoint> endpoints, std::shared_ptr<const gate_snapshot> gate)
        : pool_executor_(ex),
          buffers_(&buffers),
          pool_(std::move(ex), upstream, std::move(endpoints)),
          gate_(std::move(gate)) {}
    worker_context(const worker_context&) = delete;
    worker_context& operator=(const worker_context&) = delete;

    // This worker's counters: written only on its thread, read by the admin thread.
    worker_stats& stats() noexcept { return stats_; }
    const worker_stats& stats() const noexcept { return stats_; }

    upstream_pool& pool() noexcept { return pool_; }

    // This worker's held writes ([hold], proxy/http/hold.hpp); touched only when one is held.
    hold_queue& holds() noexcept { return holds_; }
    net::any_io_executor executor() noexcept { return pool_executor_; }

    // This worker's I/O buffers (sessions take them per request, give them back idle).
    buffer_pool& buffers() noexcept { return *buffers_; }

    // The gate as this worker sees it. Read once per request on the worker's thread; a
    // reply that writes from the snapshot's buffers holds gate_shared() across the write.
    const gate_snapshot& gate() const noexcept { return *gate_; }
    const gate_snapshot* gate_ptr() const noexcept { return gate_.get(); }
    std::shared_ptr<const gate_snapshot> gate_shared() const noexcept { return gate_; }

    // The banner for the snapshot's window notice, or null: rendered on this thread
    // when a snapshot with a new notice arrives (refresh_banner), never per request.
    const std::shared_ptr<const banner_render>& banner() const noexcept { return banner_; }

    // Shutdown has begun: no new request is read, a response ends its connection.
    bool stopping() const noexcept { return stopping_; }

    // The port of the first HTTPS listener as bound (0 when there is none), for
    // `redirect_https = true`.
    std::uint16_t https_port() const noexcept { return https_port_; }

    // The process's webhook spool, or nullptr when there is none ([spool] dir unset).
    spool::spool* spool() const noexcept { return spool_; }

    // The session list, for graceful shutdown, the deadline tick and cutting tunnels;
    // touched only on this worker's thread. Defined in proxy/net/worker.cpp.
    void link(session_base* s) noexcept;
    void unlink(session_base* s) noexcept;

private:
    friend class worker;  // the only writer of the gate, the stopping flag and the port

    void refresh_banner() {
        const auto& n = gate_->notice;
        if (!n)
            banner_.reset();
        else if (!banner_ || banner_->notice != n)
            banner_ = render_banner(n);
    }

    net::any_io_executor pool_executor_;
    buffer_pool* buffers_;  // the worker's, which outlives its io_context
    upstream_pool pool_;
    std::shared_ptr<const gate_snapshot> gate_;
    std::shared_ptr<const banner_render> banner_;
    hold_queue holds_;
    session_base* sessions_ = nullptr;
    std::uint16_t https_port_ = 0;
    spool::spool* spool_ = nullptr;
    bool stopping_ = false;
    worker_stats stats_;
};

}  // namespace maintgate::proxy
