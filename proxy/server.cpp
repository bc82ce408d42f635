#include "proxy/server.hpp"

#include <csignal>
#include <functional>
#include <thread>

#include <spdlog/spdlog.h>

#include "proxy/gate_state.hpp"
#include "proxy/net.hpp"
#include "proxy/worker.hpp"

namespace maintgate::proxy {
namespace {

std::string endpoint_text(const tcp::endpoint& ep) {
    auto a = ep.address();
    if (a.is_v6()) return "[" + a.to_string() + "]:" + std::to_string(ep.port());
    return a.to_string() + ":" + std::to_string(ep.port());
}

// Opens one acceptor per worker on the same address. The first binds (port 0 means the
// kernel picks), the others reuse its actual port, so every worker listens on the
// same socket address and the kernel balances between them.
bool bind_listener(std::vector<std::unique_ptr<worker>>& workers, const listener_config& l) {
    error_code ec;
    auto address = net::ip::make_address(l.host, ec);
    if (ec) {
        spdlog::error("listener {}: invalid address: {}", l.address, ec.message());
        return false;
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
        if (!ec) a.bind(ep, ec);
        if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
        if (ec) {
            spdlog::error("listener {}: cannot listen: {}", l.address, ec.message());
            return false;
        }
        ep = a.local_endpoint();
        w->acceptors().push_back(std::move(a));
    }
    spdlog::info("listening on {}", endpoint_text(ep));
    return true;
}

}  // namespace

int run_server(std::shared_ptr<const config> cfg) {
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

    // The mode comes back from the state file before the first connection is accepted:
    // a restart during a maintenance window stays in it.
    gate_record record = restore_gate_record(cfg->gate);
    auto snapshot = render_snapshot(record, cfg->gate, std::chrono::system_clock::now());

    std::atomic<std::size_t> connections{0};
    std::vector<std::unique_ptr<worker>> workers;
    for (unsigned i = 0; i < cfg->workers; ++i)
        workers.push_back(std::make_unique<worker>(i, cfg, upstream, connections, snapshot));
    for (const auto& l : cfg->listeners)
        if (!bind_listener(workers, l)) return 1;

    // Signals are taken on the main thread only; workers never see them.
    net::io_context main_ioc(1);
    net::signal_set signals(main_ioc, SIGTERM, SIGINT);
    int received = 0;

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
    spdlog::info("maintgate started: {} worker(s), upstream {}, gate {}", cfg->workers, cfg->upstream.url,
                 policy::to_string(record.mode));

    // Retry-After and the page's refresh count down to the expected end; re-render the
    // replies now and then rather than format anything per request.
    net::steady_timer rerender(main_ioc);
    std::function<void()> schedule_rerender = [&] {
        rerender.expires_after(std::chrono::seconds(15));
        rerender.async_wait([&](const error_code& ec) {
            if (ec) return;
            if (record.until) {
                auto fresh = render_snapshot(record, cfg->gate, std::chrono::system_clock::now());
                for (auto& w : workers) w->publish_gate(fresh);
            }
            schedule_rerender();
        });
    };
    schedule_rerender();
    signals.async_wait([&](const error_code& ec, int sig) {
        if (!ec) received = sig;
        rerender.cancel();
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
    spdlog::info("stopped");
    return 0;
}

}  // namespace maintgate::proxy
