#include "proxy/admin/auto_read_only.hpp"

#include <algorithm>
#include <cstdio>

#include <spdlog/spdlog.h>

#include "proxy/admin/gate_control.hpp"

namespace maintgate::proxy {
namespace {

sys_time now_sys() { return std::chrono::system_clock::now(); }

const admin_peer& auto_peer() {
    static const admin_peer p{-1, -1, "auto"};
    return p;
}

std::string percent(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%%", x * 100.0);
    return buf;
}

}  // namespace

const char* to_string(auto_cause c) noexcept {
    switch (c) {
    case auto_cause::header: return "header";
    case auto_cause::errors: return "errors";
    case auto_cause::probe: return "probe";
    }
    return "header";
}

auto_read_only::auto_read_only(gate_control& gate) : gate_(gate) {
    samples_.push_back({std::chrono::steady_clock::now(), 0, 0});
}

net::awaitable<void> auto_read_only::run() {
    while (!gate_.stopped_) {
        co_await gate_.sleep(std::chrono::seconds(1));
        if (gate_.stopped_) break;
        co_await tick();
    }
}

net::awaitable<void> auto_read_only::probe_loop() {
    while (!gate_.stopped_) {
        const auto& c = gate_.cfg().auto_read_only;
        if (!c.enabled || !c.probe) {
            co_await gate_.sleep(std::chrono::seconds(1));  // a reload may turn it on
            continue;
        }
        const check_request probe = *c.probe;
        const duration interval = c.probe_interval.count() > 0 ? c.probe_interval : duration(5'000);
        auto r = co_await run_probe(probe, gate_.upstream_, gate_.cfg().upstream);
        if (gate_.stopped_) break;
        probe_failing_ = !r.ok;
        if (!r.ok) {
            last_bad_ = now_sys();
            std::string why = "probe " + probe.name + " failed: " + r.detail;
            last_probe_ = std::move(r);
            co_await trigger(auto_cause::probe, std::move(why), gate_.cfg().auto_read_only.ttl);
        } else {
            last_probe_ = std::move(r);
        }
        co_await gate_.sleep(interval);
    }
}

net::awaitable<void> auto_read_only::trigger(auto_cause c, std::string why, duration ttl) {
    const auto now = now_sys();
    last_bad_ = now;
    const gate_record& rec = gate_.record();
    if (active_) {
        // Re-confirmed: it lasts longer. In the writes stage on the way out, back to read-only.
        expires_ = std::max(expires_.value_or(now), now + ttl);
        detail_ = std::move(why);
        if (rec.mode == policy::mode::open && gate_.busy().empty()) {
            auto r = co_await gate_.set_mode(policy::mode::read_only, "auto: " + detail_, std::nullopt,
                                             auto_peer(), std::string("auto read-only (") + to_string(c) + ")");
            if (r.ok) leaving_ = false;
        }
        co_return;
    }
    // Only from open (the open stage), and never over another change in progress: any
    // other mode is an operator's (or the config's) and stays.
    if (rec.mode != policy::mode::open || rec.stage != policy::stage::open || !gate_.busy().empty()) co_return;
    auto r = co_await gate_.set_mode(policy::mode::read_only, "auto: " + why, std::nullopt, auto_peer(),
                                     std::string("auto read-only (") + to_string(c) + ")");
    if (!r.ok) {
        spdlog::error("auto read-only: could not go read-only: {}", r.error);
        co_return;
    }
    spdlog::warn("auto read-only: read-only now ({}): {}", to_string(c), why);
    active_ = true;
    leaving_ = false;
    cause_ = c;
    detail_ = std::move(why);
    since_ = now;
    expires_ = now + ttl;
    ++entries_[static_cast<std::size_t>(c)];
    samples_.clear();
}

net::awaitable<void> auto_read_only::tick() {
    const auto& c = gate_.cfg().auto_read_only;
    const auto t = gate_.totals();
    const auto now = now_sys();
    const gate_record& rec = gate_.record();
    if (!started_) {
        // The counters start at 0 with the process (the constructor's baseline): a
        // signal or a failed write before this first tick still counts.
        started_ = true;
        // A restart in the automatic state resumes it: it still expires and recovers.
        if (rec.set_by == "auto" && !(rec.mode == policy::mode::open && rec.stage == policy::stage::open)) {
            active_ = true;
            leaving_ = rec.stage == policy::stage::writes;
            detail_ = rec.reason;
            since_ = rec.since;
            expires_ = now + c.ttl;
            last_bad_ = now;
        }
    }
    if (active_ && rec.set_by != "auto") {
        // An operator's command always wins, and ends the automatic state.
        spdlog::info("auto read-only: ended by {} ({})", rec.set_by, policy::to_string(rec.mode));
        active_ = leaving_ = false;
        cause_.reset();
        expires_.reset();
    }
    if (!c.enabled) {
        seen_signals_ = t.write_state_signals;
        samples_.clear();
        co_return;
    }

    // (a) the app's header: any new signal since the last tick.
    if (t.write_state_signals != seen_signals_) {
        seen_signals_ = t.write_state_signals;
        const duration ttl = t.write_state_ttl_s > 0 ? duration(t.write_state_ttl_s * 1000) : c.ttl;
        co_await trigger(auto_cause::header,
                         "the app asked for read-only (" + c.header + ", ttl " + format_duration(ttl) + ")", ttl);
    }

    // (b) the 5xx share of write responses over the window, with a minimum volume.
    const auto steady = std::chrono::steady_clock::now();
    samples_.push_back({steady, t.write_responses, t.write_5xx});
    while (samples_.size() > 2 && samples_[1].at <= steady - c.window) samples_.pop_front();
    if (samples_.size() >= 2 && !active_) {
        const auto writes = samples_.back().writes - samples_.front().writes;
        const auto errors = samples_.back().errors - samples_.front().errors;
        if (writes >= c.min_writes && double(errors) >= c.error_threshold * double(writes)) {
            co_await trigger(auto_cause::errors,
                             "5xx on " + std::to_string(errors) + " of " + std::to_string(writes) + " writes (" +
                                 percent(double(errors) / double(writes)) + ") over " +
                                 format_duration(c.window) + ", at or above " + percent(c.error_threshold),
                             c.ttl);
        }
    }

    // Recovery: expired, then healthy for recover_after (the probe passing when there is one).
    if (!active_ || !expires_ || now < *expires_ || probe_failing_ || !gate_.busy().empty()) co_return;
    const sys_time healthy_from = std::max(*expires_, last_bad_);
    if (now - healthy_from < c.recover_after) co_return;
    if (!leaving_ && rec.stage == policy::stage::read_only) {
        auto r = co_await gate_.reopen(policy::stage::writes, false, auto_peer(), "auto reopen to writes");
        if (r.ok) {
            leaving_ = true;
            spdlog::info("auto read-only: expired and healthy; writes open again (stage writes)");
        } else {
            last_bad_ = now_sys();  // try again after another recover_after
            spdlog::warn("auto read-only: not reopening yet: {}", r.error);
        }
    } else if (rec.stage == policy::stage::writes) {
        auto r = co_await gate_.reopen(policy::stage::open, false, auto_peer(), "auto reopen to open");
        if (r.ok) {
            spdlog::info("auto read-only: over; the gate is open");
            active_ = leaving_ = false;
            cause_.reset();
            expires_.reset();
            samples_.clear();
        } else {
            last_bad_ = now_sys();
            spdlog::warn("auto read-only: not opening yet: {}", r.error);
        }
    }
}

std::string auto_read_only::metrics_text() const {
    std::string out;
    out += "# HELP maintgate_auto_read_only_entries_total Automatic moves to read-only, by cause.\n";
    out += "# TYPE maintgate_auto_read_only_entries_total counter\n";
    for (std::size_t i = 0; i < auto_cause_count; ++i)
        out += "maintgate_auto_read_only_entries_total{cause=\"" +
               std::string(to_string(static_cast<auto_cause>(i))) + "\"} " + std::to_string(entries_[i]) + "\n";
    out += "# HELP maintgate_auto_read_only_active 1 while the gate is read-only by itself.\n";
    out += "# TYPE maintgate_auto_read_only_active gauge\n";
    out += std::string("maintgate_auto_read_only_active ") + (active_ ? "1" : "0") + "\n";
    return out;
}

}  // namespace maintgate::proxy
