#pragma once
// The maintenance window's state machine, on the admin thread beside gate_control. It
// moves a window through its phases and drives the gate through gate_control's normal
// paths (freeze, set mode, the staged reopen the operator runs), records everything
// that happens to the gate while the window owns it, and publishes what the data path
// shows of it (the notice, the feeds, the jittered Retry-After) with every snapshot.
//
// Every transition is persisted first (window_store), then audited with its actor,
// then published. A restart in the middle of a phase resumes it where nothing has to be
// redone (planned, announced, active, reopening) and reports it otherwise (freezing,
// verifying: `window start ID` resumes, `window abort ID` goes back to open); it never
// reopens the gate by itself.
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/admin/gate_control.hpp"
#include "proxy/net.hpp"
#include "proxy/net/stats.hpp"
#include "proxy/window/window.hpp"

namespace maintgate::window {

struct result {
    bool ok = false;
    std::string error;
    std::string id;  // the window concerned
};

class window_control {
public:
    // Loads the store next to the gate's state file and merges the configured windows.
    window_control(net::io_context& ioc, proxy::gate_control& gate);
    ~window_control();

    // The schedule's timer (announce, start at its time, refused-write counts); stop()
    // cancels it.
    void start();
    void stop();

    // window plan: a new window, or a new plan for one that has not started.
    result plan_window(plan p, const proxy::admin_peer& who, const std::string& command);
    // window start [ID]: now, the named window or the next one due; resumes one that a
    // restart interrupted. Returns once the window is active, or why it stopped.
    net::awaitable<result> start_window(std::optional<std::string> id, const proxy::admin_peer& who,
                                        const std::string& command);
    // window abort [ID]: on_abort hooks, then back to open through set mode.
    net::awaitable<result> abort_window(std::optional<std::string> id, const proxy::admin_peer& who,
                                        const std::string& command);

    const std::vector<window>& windows() const noexcept { return windows_; }
    const window* find(std::string_view id) const noexcept;
    // The window the gate belongs to (freezing .. verifying), or null.
    const window* current() const noexcept;
    // The next live window not yet started, or null.
    const window* next() const noexcept;
    const std::string& store_error() const noexcept { return store_error_; }
    const std::string& running() const noexcept { return running_; }

private:
    window* find_mut(std::string_view id) noexcept;
    window* current_mut() noexcept;
    void on_gate_change(const gate_record& before, const gate_record& after, const proxy::admin_peer& who,
                        const std::string& command, const std::string& detail);
    // Moves w to `to`: timeline, persist, audit, publish.
    void transition(window& w, phase to, const proxy::admin_peer& who, const std::string& command,
                    const std::string& detail);
    void note(window& w, std::string what, const std::string& actor, std::string detail);
    void persist();
    void publish();
    void merge_configured(const std::vector<plan>& plans);
    void resume_after_restart();
    void count_refused();
    net::awaitable<void> tick_loop();
    net::awaitable<void> tick();
    // The hooks of point `h` for window id; true when every one passed (none is a pass).
    // The point's hooks through window_hooks; false when one failed, with its reason in
    // hooks_failure_ (for the window's outcome and the reply).
    net::awaitable<bool> run_point(std::string id, hook_point h, const proxy::admin_peer& who);
    net::awaitable<void> verify(std::string id, proxy::admin_peer who);
    net::awaitable<result> run_start(std::string id, proxy::admin_peer who, std::string command);
    net::awaitable<void> stop_window(std::string id, std::string why, bool reopen, proxy::admin_peer who,
                                     std::string command);

    net::io_context& ioc_;
    proxy::gate_control& gate_;
    std::string path_;
    std::string store_error_;
    std::vector<window> windows_;
    const config* merged_cfg_ = nullptr;  // the config whose [[window]] tables are merged
    std::string running_;  // a start or abort in progress: "window start w1 by ..."
    std::string aborting_;  // the id whose abort is moving the gate back to open
    std::string hooks_failure_;  // the last run_point that failed: "hook backup: backup refused: ..."
    bool stopped_ = false;
    std::shared_ptr<net::steady_timer> timer_;
    std::array<std::uint64_t, refused_route_slots> refused_seen_{};
    bool refused_baseline_ = false;
};

}  // namespace maintgate::window
