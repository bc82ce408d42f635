#pragma once
// What systemd (Type=notify, WatchdogSec=) hears from maintgate, through sd_notify(3):
// READY=1 once every listener is bound and the mode restored, RELOADING=1 and READY=1
// around a SIGHUP reload, STOPPING=1 on SIGTERM or SIGINT, STATUS= with the mode, and
// WATCHDOG=1 at half of WATCHDOG_USEC for as long as every worker's event loop answers.
// Without NOTIFY_SOCKET (not started by systemd) every call is a no-op and no timer runs.
// Everything here runs on the admin thread; a worker only runs one posted no-op per
// watchdog period, so the data path is untouched.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/net.hpp"

namespace maintgate::proxy {

class worker;

class service_notifier {
public:
    // `status` gives the STATUS= text (the mode); it is read on the admin thread, once
    // a second, and sent when it changed.
    service_notifier(net::io_context& admin_ioc, std::vector<worker*> workers,
                     std::function<std::string()> status);

    // Whether NOTIFY_SOCKET was set at start-up.
    bool enabled() const noexcept { return enabled_; }

    // READY=1 with the status; starts the status refresh and the watchdog.
    void ready();
    // RELOADING=1 (with MONOTONIC_USEC, as Type=notify-reload wants it).
    void reloading();
    // READY=1 again after a reload, with the status as it now is.
    void reloaded();
    // STOPPING=1; stops the timers.
    void stopping();

    // The watchdog period systemd asked for (WATCHDOG_USEC, when meant for this process),
    // or zero.
    std::chrono::microseconds watchdog_usec() const noexcept { return watchdog_; }

private:
    void send(const std::string& state) const noexcept;
    void send_status(bool always);
    void arm_status_timer();
    void arm_watchdog_timer();
    void watchdog_tick();

    net::io_context& ioc_;
    std::vector<worker*> workers_;
    std::function<std::string()> status_;
    bool enabled_ = false;
    bool stopped_ = false;
    std::chrono::microseconds watchdog_{0};
    std::string last_status_;
    net::steady_timer status_timer_;
    net::steady_timer watchdog_timer_;
    // Probe number each worker last answered; shared with the posted handlers, which may
    // outlive this object inside a worker's io_context that is never run again.
    std::shared_ptr<std::vector<std::atomic<std::uint64_t>>> answered_;
    std::uint64_t probe_ = 0;
    bool warned_stuck_ = false;
};

}  // namespace maintgate::proxy
