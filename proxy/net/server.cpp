#include "proxy/net/server.hpp"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <functional>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "proxy/admin/admin_server.hpp"
#include "proxy/admin/gate_control.hpp"
#include "proxy/admin/gate_state.hpp"
#include "proxy/window/window_control.hpp"
#include "proxy/window/window_metrics.hpp"
#include "proxy/admin/metrics.hpp"
#include "proxy/cluster/cluster_node.hpp"
#include "proxy/hooks/hook_report.hpp"
#include "proxy/logging.hpp"
#include "proxy/net.hpp"
#include "proxy/net/service_notify.hpp"
#include "proxy/net/tls.hpp"
#include "proxy/net/worker.hpp"
#include "proxy/spool/spool.hpp"

namespace maintgate::proxy {
namespace {

std::string endpoint_text(const tcp::endpoint& ep) {
    auto a = ep.address();
    if (a.is_v6()) return "[" + a.to_string() + "]:" + std::to_string(ep.port());
    return a.to_string() + ":" + std::to_string(ep.port());
}

// Opens one acceptor per worker on the same address. The first binds (port 0 means the
// kernel picks), the others reuse its actual port, so every worker listens on the
// same socket address and the kernel balances between them. Returns the port bound, or
// nothing on failure (logged).
std::optional<std::uint16_t> bind_listener(std::vector<std::unique_ptr<worker>>& workers,
                                           const listener_config& l, std::size_t index) {
    error_code ec;
    auto address = net::ip::make_address(l.host, ec);
    if (ec) {
        spdlog::error("listener {}: invalid address: {}", l.address, ec.message());
        return std::nullopt;
    }
    tcp::endpoint ep(address, l.port);
    for (auto& w : workers) {
        tcp::acceptor a(w->ioc());
        a.open(ep.protocol(), ec);
        if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
        if (!ec) {
            int one = 1;
            if (::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
                ec = error_code(errno, boost::system::system_category());
        }
        if (!ec && ep.address().is_v6()) a.set_option(net::ip::v6_only(true), ec);
        // Linux copies TCP_NODELAY from the listener to each accepted socket: set once
        // here instead of once per connection.
        if (!ec) a.set_option(tcp::no_delay(true), ec);
        // The accept loop calls accept4 itself until EAGAIN (worker::accept_loop).
        if (!ec) a.non_blocking(true, ec);
        if (!ec) a.bind(ep, ec);
        if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
        if (ec) {
            spdlog::error("listener {}: cannot listen: {}", l.address, ec.message());
            return std::nullopt;
        }
        ep = a.local_endpoint();
        w->add_acceptor(std::move(a), index);
    }
    if (l.https()) {
        std::string names;
        for (const auto& c : l.tls_context->certificates())
            for (const auto& n : c.names) names += (names.empty() ? "" : ", ") + n;
        spdlog::info("listening on {} (https: {})", endpoint_text(ep), names);
    } else if (l.redirect_https) {
        spdlog::info("listening on {} (http, redirecting to https)", endpoint_text(ep));
    } else {
        spdlog::info("listening on {}", endpoint_text(ep));
    }
    return ep.port();
}

// A coroutine of its own with named locals: GCC 12 frees a brace-initialised temporary
// bound to a reference parameter across co_await twice.
net::awaitable<void> reload_on_hangup(gate_control& gate, service_notifier& notify) {
    admin_peer who{-1, -1, "SIGHUP"};
    notify.reloading();
    auto r = co_await gate.reload(who, "reload");
    for (const auto& w : r.warnings) spdlog::warn("reload: {}", w);
    notify.reloaded();
}

// The STATUS= line systemd shows: the mode as `maintgate ctl status` would name it.
std::string service_status(const gate_record& r) {
    std::string s = "mode " + std::string(policy::to_string(r.mode)) + ", stage " +
                    std::string(policy::to_string(r.stage));
    if (r.fenced) s += ", writes fenced";
    if (!r.reason.empty()) s += ": " + r.reason.substr(0, 200);
    for (auto& c : s)
        if (c == '\n' || c == '\r') c = ' ';  // a newline would start another assignment
    return s;
}

}  // namespace

int run_server(std::shared_ptr<const config> cfg) {
    // Certificates and keys are read before anything listens: a bad pair stops the start
    // with the reason, rather than failing every handshake later.
    {
        auto with_tls = std::make_shared<config>(*cfg);
        auto report = build_tls(*with_tls, nullptr, true, std::chrono::system_clock::now());
        for (const auto& e : report.errors) spdlog::error("{}", e);
        if (!report.errors.empty()) {
            spdlog::error("TLS: {} error(s); not starting", report.errors.size());
            return 1;
        }
        for (const auto& e : report.expired)
            spdlog::error("{}; serving it anyway (clients will refuse it)", e);
        for (const auto& w : report.warnings) spdlog::warn("{}", w);
        cfg = std::move(with_tls);
    }

    // Resolve the upstream once: names are looked up at start-up, never per request.
    std::vector<tcp::endpoint> upstream;
    {
        net::io_context ioc;
        tcp::resolver resolver(ioc);
        error_code ec;
        auto results = resolver.resolve(cfg->upstream.host, std::to_string(cfg->upstream.port), ec);
        if (ec || results.empty()) {
            spdlog::error("upstream {}: cannot resolve {}: {}", cfg->upstream.url, cfg->upstream.host,
                          ec ? ec.message() : "no address");
            return 1;
        }
        for (const auto& r : results) upstream.push_back(r.endpoint());
    }

    // The admin thread's context: gate changes, the admin socket, metrics and signals.
    // It outlives the workers, whose acknowledgements are posted to it, and is destroyed
    // before gate, admin and metrics (after they have closed their own sockets and
    // timers), so coroutines still suspended in it unwind while what they refer to lives.
    auto main_ioc_owner = std::make_unique<net::io_context>(1);
    net::io_context& main_ioc = *main_ioc_owner;
    // Signals are taken on the admin thread only; workers never see them. Installed
    // before anything listens, so a SIGTERM right after "listening" is a clean stop.
    // SIGHUP reloads the config, as `reload` on the admin socket does.
    std::optional<net::signal_set> signals(std::in_place, main_ioc, SIGTERM, SIGINT);
    std::optional<net::signal_set> hangup(std::in_place, main_ioc, SIGHUP);
    // SIGUSR1 reopens the log files (logrotate's postrotate).
    std::optional<net::signal_set> usr1(std::in_place, main_ioc, SIGUSR1);

    // The mode comes back from the state file before the first connection is accepted:
    // a restart during a maintenance window stays in it.
    gate_record record = restore_gate_record(cfg->gate);
    std::atomic<std::size_t> connections{0};
    gate_control gate(main_ioc, cfg, record, {}, upstream, connections);
    // Before any hook can run: a hook that was running when maintgate died is reported
    // (log, audit line, status, ctl hooks), never re-run.
    open_hooks_journal(*cfg, [&gate] { return gate.record(); });

    std::vector<std::unique_ptr<worker>> workers;
    std::vector<worker*> worker_ptrs;
    for (unsigned i = 0; i < cfg->workers; ++i) {
        workers.push_back(std::make_unique<worker>(i, upstream, connections, gate.snapshot()));
        worker_ptrs.push_back(workers.back().get());
    }
    gate.set_workers(worker_ptrs);
    // The webhook spool: opened (torn tail cut, index rebuilt) before anything listens,
    // so every event acknowledged before a crash is there for the first request.
    std::unique_ptr<spool::spool> webhook_spool;
    if (!cfg->spool.dir.empty()) {
        webhook_spool = std::make_unique<spool::spool>(cfg->spool, upstream, cfg);
        if (auto err = webhook_spool->start(); !err.empty()) {
            spdlog::error("{}", err);
            return 1;
        }
        for (auto& w : workers) w->set_spool(webhook_spool.get());
        gate.set_spool(webhook_spool.get());
        webhook_spool->set_gate(gate.record(), cfg);
    }
    // The maintenance windows: restored from their file beside the state file; from
    // here on every snapshot carries what they publish.
    window::window_control windows(main_ioc, gate);
    service_notifier notify(main_ioc, worker_ptrs, [&gate] { return service_status(gate.record()); });
    std::uint16_t https_port = 0;
    std::uint16_t first_port = 0;
    for (std::size_t i = 0; i < cfg->listeners.size(); ++i) {
        auto port = bind_listener(workers, cfg->listeners[i], i);
        if (!port) return 1;
        if (i == 0) first_port = *port;
        if (cfg->listeners[i].https() && https_port == 0) https_port = *port;
    }
    for (auto& w : workers) w->set_https_port(https_port);

    // [cluster]: the node joins after the listeners are bound, so that the default
    // replica id can name the first listener's real port.
    std::optional<cluster::cluster_node> cluster_node;
    if (cfg->cluster) {
        std::string id = cfg->cluster->replica_id;
        if (id.empty()) {
            char host[256] = {};
            if (::gethostname(host, sizeof host - 1) != 0 || !host[0]) std::snprintf(host, sizeof host, "maintgate");
            id = std::string(host) + ":" + std::to_string(first_port);
        }
        cluster_node.emplace(main_ioc, gate, *cfg->cluster, id);
        if (auto err = cluster_node->prepare(); !err.empty()) {
            spdlog::error("cluster: {}", err);
            return 1;
        }
        gate.set_cluster(&*cluster_node, id);
    }

    admin_server admin(main_ioc, gate);
    if (!cfg->admin.socket.empty()) {
        if (auto err = admin.listen(cfg->admin); !err.empty()) {
            spdlog::error("{}", err);
            return 1;
        }
    } else {
        spdlog::warn(
            "no [admin] socket configured: the mode can change only through the state file and a restart");
    }
    if (cfg->gate.audit_log.empty())
        spdlog::warn("no audit_log configured ([gate] audit_log): mode changes are logged but not audited");

    // Its coroutines hold its state themselves, so it goes before the io_context.
    std::optional<metrics_listener> metrics(std::in_place, main_ioc, [&gate, &windows] {
        metrics_view v;
        v.totals = gate.totals();
        const auto& r = gate.record();
        v.mode = r.mode;
        v.stage = r.stage;
        v.fenced = r.fenced;
        v.connections = gate.connections();
        if (const auto& h = gate.health(); h.last) {
            v.upstream_healthy = h.last->ok;
            v.last_health_check = h.at;
        }
        if (auto b = gate.last_boundary_ms(); b && *b) v.last_write_boundary_ms = *b;  // 0: no write yet
        v.stage_since = r.since;
        v.extra = render_feature_metrics(v.totals) + gate.auto_ro().metrics_text();
        if (const auto* sp = gate.spool()) v.extra += sp->metrics_text();
        if (auto* c = gate.cluster()) v.extra += c->metrics_text(std::chrono::system_clock::now());
        v.windows = window::render_window_metrics(windows, std::chrono::system_clock::now());
        v.hooks = hook_metrics_text(gate.cfg(), std::chrono::system_clock::now());
        return v;
    });
    if (!cfg->admin.metrics.empty()) {
        if (auto err = metrics->listen(cfg->admin.metrics_host, cfg->admin.metrics_port); !err.empty()) {
            spdlog::error("metrics: {}", err);
            return 1;
        }
    }

    std::atomic<unsigned> running{0};
    std::vector<std::thread> threads;
    for (auto& w : workers) {
        w->start();
        running.fetch_add(1);
        threads.emplace_back([&w, &running] {
            w->ioc().run();
            running.fetch_sub(1);
        });
    }
    spdlog::info("maintgate started: {} worker(s), upstream {}, gate {} (stage {}{})", cfg->workers,
                 cfg->upstream.url, policy::to_string(record.mode), policy::to_string(record.stage),
                 record.fenced ? ", writes fenced" : "");
    gate.start();
    if (cluster_node) cluster_node->start();
    windows.start();
    admin.start();
    if (!cfg->admin.metrics.empty()) metrics->start();
    notify.ready();

    int received = 0;
    std::function<void()> wait_hangup = [&] {
        hangup->async_wait([&](const error_code& ec, int) {
            if (ec) return;
            net::co_spawn(main_ioc, reload_on_hangup(gate, notify), net::detached);
            wait_hangup();
        });
    };
    wait_hangup();
    std::function<void()> wait_usr1 = [&] {
        usr1->async_wait([&](const error_code& ec, int) {
            if (ec) return;
            const auto failed = reopen_logs();
            for (const auto& f : failed) spdlog::error("SIGUSR1: {}", f);
            if (failed.empty()) spdlog::info("SIGUSR1: log files reopened");
            wait_usr1();
        });
    };
    wait_usr1();
    signals->async_wait([&](const error_code& ec, int sig) {
        if (!ec) received = sig;
        notify.stopping();
        gate.stop();
        if (cluster_node) cluster_node->stop();
        windows.stop();
        admin.stop();
        metrics->stop();
        hangup->cancel();
        usr1->cancel();
        main_ioc.stop();
    });

    main_ioc.run();  // returns once a signal arrived
    spdlog::info("received {}, shutting down (deadline {} ms)", received == SIGINT ? "SIGINT" : "SIGTERM",
                 cfg->timeouts.shutdown.count());
    for (auto& w : workers) w->begin_shutdown();

    // In-flight requests finish on their own; past the deadline they are cut.
    auto deadline = std::chrono::steady_clock::now() + cfg->timeouts.shutdown;
    while (running.load() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (running.load() > 0) {
        spdlog::warn("shutdown deadline passed with requests in flight; closing them");
        for (auto& w : workers) w->ioc().stop();
    }
    for (auto& t : threads) t.join();
    signals.reset();
    hangup.reset();
    usr1.reset();
    metrics.reset();
    main_ioc_owner.reset();
    spdlog::info("stopped");
    return 0;
}

}  // namespace maintgate::proxy
