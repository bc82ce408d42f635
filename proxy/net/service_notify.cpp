#include "proxy/net/service_notify.hpp"

#include <time.h>

#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include "proxy/net/worker.hpp"

namespace maintgate::proxy {
namespace {

constexpr std::chrono::seconds status_period{1};

}  // namespace

service_notifier::service_notifier(net::io_context& admin_ioc, std::vector<worker*> workers,
                                   std::function<std::string()> status)
    : ioc_(admin_ioc), workers_(std::move(workers)), status_(std::move(status)), status_timer_(admin_ioc),
      watchdog_timer_(admin_ioc),
      answered_(std::make_shared<std::vector<std::atomic<std::uint64_t>>>(workers_.size())) {
    const char* socket = std::getenv("NOTIFY_SOCKET");
    enabled_ = socket != nullptr && *socket != '\0';
    std::uint64_t usec = 0;
    // Also checks WATCHDOG_PID: a watchdog meant for another process is not ours.
    if (enabled_ && sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
        watchdog_ = std::chrono::microseconds(usec);
}

void service_notifier::send(const std::string& state) const noexcept {
    if (!enabled_) return;
    // A lost notification is systemd's to time out on; it is no reason to stop serving.
    if (const int r = sd_notify(0, state.c_str()); r < 0)
        spdlog::warn("sd_notify: cannot send {}: {}", state.substr(0, state.find('\n')), std::strerror(-r));
}

void service_notifier::send_status(bool always) {
    std::string s = status_();
    if (!always && s == last_status_) return;
    last_status_ = s;
    send("STATUS=" + s);
}

void service_notifier::ready() {
    if (!enabled_) return;
    last_status_ = status_();
    send("READY=1\nSTATUS=" + last_status_);
    arm_status_timer();
    if (watchdog_.count() > 0) {
        spdlog::info("systemd watchdog: every {} ms while all {} worker(s) answer", watchdog_.count() / 2000,
                     workers_.size());
        watchdog_tick();
    }
}

void service_notifier::reloading() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    const auto now_usec = static_cast<unsigned long long>(ts.tv_sec) * 1'000'000ULL +
                          static_cast<unsigned long long>(ts.tv_nsec / 1000);
    send("RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=" + std::to_string(now_usec));
}

void service_notifier::reloaded() {
    if (!enabled_) return;
    last_status_ = status_();
    send("READY=1\nSTATUS=" + last_status_);
}

void service_notifier::stopping() {
    stopped_ = true;
    status_timer_.cancel();
    watchdog_timer_.cancel();
    send("STOPPING=1\nSTATUS=shutting down");
}

void service_notifier::arm_status_timer() {
    status_timer_.expires_after(status_period);
    status_timer_.async_wait([this](const error_code& ec) {
        if (ec || stopped_) return;
        send_status(false);
        arm_status_timer();
    });
}

void service_notifier::arm_watchdog_timer() {
    watchdog_timer_.expires_after(watchdog_ / 2);
    watchdog_timer_.async_wait([this](const error_code& ec) {
        if (ec || stopped_) return;
        watchdog_tick();
    });
}

// The admin thread runs this tick, so it is alive; each worker proves it is by running
// the no-op posted at the previous tick. One worker stuck for a whole period withholds
// the ping, and systemd restarts the service once WATCHDOG_USEC passes without one.
void service_notifier::watchdog_tick() {
    auto& answered = *answered_;
    std::size_t stuck = workers_.size();
    for (std::size_t i = 0; i < workers_.size(); ++i) {
        if (answered[i].load(std::memory_order_acquire) != probe_) {
            stuck = i;
            break;
        }
    }
    if (stuck == workers_.size()) {
        send("WATCHDOG=1");
        warned_stuck_ = false;
    } else if (!warned_stuck_) {
        spdlog::error("systemd watchdog: worker {} has not run for {} ms; withholding WATCHDOG=1", stuck,
                      watchdog_.count() / 2000);
        warned_stuck_ = true;
    }
    if (stuck == workers_.size()) {
        // A new probe only once the last one was answered, so a slow worker is measured
        // from when it was first asked, not from the latest tick.
        ++probe_;
        for (std::size_t i = 0; i < workers_.size(); ++i)
            net::post(workers_[i]->ioc(),
                      [a = answered_, i, p = probe_] { (*a)[i].store(p, std::memory_order_release); });
    }
    arm_watchdog_timer();
}

}  // namespace maintgate::proxy
