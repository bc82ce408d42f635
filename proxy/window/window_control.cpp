#include "proxy/window/window_control.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "proxy/cluster/cluster_node.hpp"
#include "proxy/window/publish.hpp"
#include "proxy/hooks/hook_store.hpp"
#include "proxy/window/window_hooks.hpp"
#include "proxy/window/window_store.hpp"

namespace maintgate::window {
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

sys_time now_sys() { return std::chrono::system_clock::now(); }

const proxy::admin_peer schedule_actor{-1, -1, "schedule"};
const proxy::admin_peer config_actor{-1, -1, "config"};

// What the other replicas of a [cluster] see of a window this replica runs.
proxy::cluster::shared_window shared_of(const window& w) {
    proxy::cluster::shared_window s;
    s.id = w.p.id;
    s.phase = std::string(to_string(w.ph));
    s.mode = w.p.mode;
    s.reason = w.p.reason;
    s.ends = w.p.ends;
    s.started_at = w.started_at;
    return s;
}

std::string route_label(const config& cfg, std::size_t slot) {
    if (slot == 0) return "(no rule)";
    const auto& rules = cfg.gate.policy.rules;
    if (slot == refused_route_slots - 1 && rules.size() >= refused_route_slots - 1)
        return "(rule " + std::to_string(slot) + " and later)";
    const std::size_t i = slot - 1;
    if (i >= rules.size()) return "rule " + std::to_string(i + 1);
    const auto& r = rules[i];
    std::string what = !r.path.empty() ? r.path : !r.path_prefix.empty() ? r.path_prefix + "*" : "rule";
    return "rule " + std::to_string(i + 1) + " " + what;
}

}  // namespace

window_control::window_control(net::io_context& ioc, proxy::gate_control& gate)
    : ioc_(ioc), gate_(gate), path_(store_path(gate.cfg().gate.state_file)) {
    if (!path_.empty()) {
        auto loaded = load_windows(path_);
        if (!loaded.ok) {
            // An unreadable file is kept for the operator; nothing is planned over it.
            store_error_ = loaded.error + "; windows are not persisted until it is fixed or removed";
            spdlog::error("windows: {}", store_error_);
        }
        windows_ = std::move(loaded.windows);
    }
    resume_after_restart();
    merged_cfg_ = &gate_.cfg();
    merge_configured(gate_.cfg().windows);
    gate_.set_windows(this);
    gate_.set_change_observer([this](const proxy::gate_control::change_seen& c) {
        on_gate_change(c.before, c.after, c.who, c.command, c.detail);
    });
    gate_.set_window_publication(std::make_shared<publication>(make_publication(windows_, now_sys())));
}

window_control::~window_control() {
    gate_.set_change_observer({});
    gate_.set_windows(nullptr);
}

void window_control::start() { net::co_spawn(ioc_, tick_loop(), net::detached); }

void window_control::stop() {
    stopped_ = true;
    if (timer_) timer_->cancel();
    timer_.reset();
}

window* window_control::find_mut(std::string_view id) noexcept {
    for (auto& w : windows_)
        if (w.p.id == id) return &w;
    return nullptr;
}
const window* window_control::find(std::string_view id) const noexcept {
    return const_cast<window_control*>(this)->find_mut(id);
}
window* window_control::current_mut() noexcept {
    for (auto& w : windows_)
        if (in_progress(w.ph)) return &w;
    return nullptr;
}
const window* window_control::current() const noexcept { return const_cast<window_control*>(this)->current_mut(); }

const window* window_control::next() const noexcept {
    const window* best = nullptr;
    for (const auto& w : windows_) {
        if (w.ph != phase::planned && w.ph != phase::announced) continue;
        if (!best) {
            best = &w;
            continue;
        }
        // Scheduled ones by their start; by-hand ones after them, in plan order.
        if (w.p.starts && (!best->p.starts || *w.p.starts < *best->p.starts)) best = &w;
    }
    return best;
}

void window_control::note(window& w, std::string what, const std::string& actor, std::string detail) {
    const auto now = now_sys();
    w.timeline.push_back({now, std::move(what), actor, std::move(detail)});
    w.updated_at = now;
}

void window_control::persist() {
    // Past windows beyond the cap go, oldest first; live ones always stay.
    std::size_t past = 0;
    for (const auto& w : windows_) past += finished(w.ph);
    for (auto it = windows_.begin(); past > max_kept_windows && it != windows_.end();) {
        if (finished(it->ph)) {
            it = windows_.erase(it);
            --past;
        } else {
            ++it;
        }
    }
    if (path_.empty() || !store_error_.empty()) return;
    if (auto err = save_windows(path_, windows_); !err.empty())
        spdlog::error("windows: cannot persist: {} (a restart would forget the last change)", err);
}

void window_control::publish() {
    gate_.set_window_publication(std::make_shared<publication>(make_publication(windows_, now_sys())));
}

void window_control::transition(window& w, phase to, const proxy::admin_peer& who, const std::string& command,
                                const std::string& detail) {
    const std::string& actor = who.name;
    const phase from = w.ph;
    w.ph = to;
    note(w, "phase " + std::string(to_string(to)), actor, detail);
    if (finished(to) && !w.ended_at) w.ended_at = now_sys();
    persist();
    const std::string line = "window " + w.p.id + ": " + std::string(to_string(from)) + " -> " +
                             std::string(to_string(to)) + (detail.empty() ? "" : "; " + detail);
    gate_.note(who, command, to == phase::aborted ? "failed" : "ok", line);
    spdlog::info("{} (by {})", line, actor);
    publish();
    // With [cluster], every phase from freezing on goes into the desired state, so that
    // each replica's status shows the window that holds the shared gate, and its end. A
    // plan, and an abort before the freeze began, stay this replica's own.
    if (auto* c = gate_.cluster(); c && (in_progress(to) || (finished(to) && in_progress(from))))
        c->share_window(shared_of(w));
}

result window_control::plan_window(plan p, const proxy::admin_peer& who, const std::string& command) {
    result r;
    r.id = p.id;
    if (auto e = check_plan(p); !e.empty()) {
        r.error = e;
        return r;
    }
    if (!store_error_.empty()) {
        r.error = "the windows file is unreadable: " + store_error_;
        return r;
    }
    const auto now = now_sys();
    if (p.starts && p.ends <= now) {
        r.error = "the window would be over already (its end is not after now)";
        return r;
    }
    if (!p.starts && p.ends <= now) {
        r.error = "the expected end must be after now";
        return r;
    }
    if (window* old = find_mut(p.id)) {
        if (old->ph != phase::planned && old->ph != phase::announced) {
            r.error = "window " + p.id + " is " + std::string(to_string(old->ph)) + "; only a window that has not "
                      "started can be planned again";
            return r;
        }
        p.source = "ctl";
        old->p = std::move(p);
        note(*old, "replanned", who.name, command);
        persist();
        gate_.note(who, command, "ok", "window " + old->p.id + " planned again");
        publish();
        r.ok = true;
        return r;
    }
    window w;
    p.source = p.source.empty() ? "ctl" : p.source;
    w.p = std::move(p);
    w.planned_at = w.updated_at = now;
    w.planned_by = who.name;
    note(w, "phase planned", who.name, command);
    windows_.push_back(std::move(w));
    persist();
    gate_.note(who, command, "ok", "window " + r.id + " planned");
    publish();
    r.ok = true;
    return r;
}

void window_control::merge_configured(const std::vector<plan>& plans) {
    bool changed = false;
    const auto now = now_sys();
    for (const auto& p : plans) {
        window* w = find_mut(p.id);
        if (!w) {
            if (p.ends <= now) continue;  // a config entry for a window long past
            window n;
            n.p = p;
            n.p.source = "config";
            n.planned_at = n.updated_at = now;
            n.planned_by = "config";
            n.timeline.push_back({now, "phase planned", "config", gate_.cfg().source});
            windows_.push_back(std::move(n));
            changed = true;
        } else if (w->p.source == "config" && (w->ph == phase::planned || w->ph == phase::announced)) {
            // A reload may move a configured window that has not started.
            plan np = p;
            np.source = "config";
            if (np.starts != w->p.starts || np.ends != w->p.ends || np.announce_from != w->p.announce_from ||
                np.mode != w->p.mode || np.reason != w->p.reason || np.messages != w->p.messages ||
                np.hooks != w->p.hooks) {
                w->p = std::move(np);
                note(*w, "replanned", "config", "reload");
                changed = true;
            }
        }
    }
    // A configured window that has not started and is no longer in the config was taken
    // out of it: it ends, aborted, with the reason in its record (one planned with ctl stays).
    std::vector<std::string> dropped;
    for (const auto& w : windows_)
        if (w.p.source == "config" && (w.ph == phase::planned || w.ph == phase::announced) &&
            std::none_of(plans.begin(), plans.end(), [&](const plan& p) { return p.id == w.p.id; }))
            dropped.push_back(w.p.id);
    for (const auto& id : dropped) {
        window* w = find_mut(id);
        w->outcome = "removed from the config before it started";
        transition(*w, phase::aborted, config_actor, "reload", w->outcome);
    }
    if (changed) persist();
}

void window_control::resume_after_restart() {
    bool changed = false;
    const auto& rec = gate_.record();
    // Hook runs of a window that the journal found half-done: into that window's
    // report, once (the journal reports each only in the process that found it).
    for (const auto& r : hooks_store().interrupted()) {
        window* w = r.window_id.empty() ? nullptr : find_mut(r.window_id);
        if (!w) continue;
        hook_run h;
        h.hook = r.name;
        h.point = r.phase;
        h.outcome = r.outcome();
        h.error = r.error;
        h.at = sys_time(std::chrono::milliseconds(r.started_ms));
        w->hook_runs.push_back(std::move(h));
        note(*w, "hook interrupted", "restart", r.name + " (" + r.phase + "): " + r.error);
        changed = true;
    }
    for (auto& w : windows_) {
        switch (w.ph) {
        case phase::freezing:
            // The backup gate or the freeze was under way: neither is re-run blindly.
            w.interrupted = "the process stopped while the window was freezing; the gate is " +
                            std::string(policy::to_string(rec.stage)) + (rec.fenced ? " with writes fenced" : "") +
                            ": 'window start " + w.p.id + "' runs the phase again, 'window abort " + w.p.id +
                            "' goes back to open";
            note(w, "restart", "restart", w.interrupted);
            changed = true;
            break;
        case phase::verifying:
            w.interrupted = "the process stopped during the post-reopen hooks: 'window start " + w.p.id +
                            "' runs them again";
            note(w, "restart", "restart", w.interrupted);
            changed = true;
            break;
        case phase::active:
        case phase::reopening:
            note(w, "restart", "restart",
                 "resumed; the gate came back " + std::string(policy::to_string(rec.stage)) +
                     (rec.fenced ? " with writes fenced" : ""));
            changed = true;
            break;
        default: break;
        }
    }
    if (changed) persist();
}

void window_control::on_gate_change(const gate_record& before, const gate_record& after,
                                    const proxy::admin_peer& who, const std::string& command,
                                    const std::string& detail) {
    window* w = current_mut();
    if (!w || w->p.id == aborting_) return;
    if (w->ph != phase::active && w->ph != phase::reopening) return;
    if (before.stage == after.stage) return;
    stage_step st;
    st.to = after.stage;
    st.at = now_sys();
    st.actor = who.name;
    st.detail = detail;
    st.step_back = after.stage < before.stage;
    const bool back = st.step_back;
    if (command.starts_with("reopen"))
        for (const auto& c : gate_.last_checks()) st.checks.push_back({c.name, c.ok, c.detail});
    w->stages.push_back(std::move(st));
    note(*w, back ? "step back" : "stage " + std::string(policy::to_string(after.stage)), who.name,
         command + (detail.empty() ? "" : ": " + detail));
    count_refused();
    if (w->ph == phase::active) {
        transition(*w, phase::reopening, who, command, "the gate left " +
                   std::string(policy::to_string(before.stage)));
        w = current_mut();
    }
    if (after.stage == policy::stage::open) {
        transition(*w, phase::verifying, who, command, "the gate is open");
        net::co_spawn(ioc_, verify(w->p.id, who), net::detached);
        return;
    }
    persist();
}

void window_control::count_refused() {
    const auto t = gate_.totals();
    window* w = current_mut();
    if (w && refused_baseline_ && w->ph != phase::verifying) {
        for (std::size_t i = 0; i < refused_route_slots; ++i) {
            const auto d = t.refused_by_rule[i] - refused_seen_[i];
            if (d == 0) continue;
            w->refused_by_route[route_label(gate_.cfg(), i)] += d;
            w->refused_total += d;
        }
    }
    refused_seen_ = t.refused_by_rule;
    refused_baseline_ = true;
}

net::awaitable<void> window_control::tick_loop() {
    while (!stopped_) {
        timer_ = std::make_shared<net::steady_timer>(ioc_);
        auto t = timer_;
        t->expires_after(std::chrono::seconds(1));
        co_await t->async_wait(use_tuple);
        if (stopped_) break;
        co_await tick();
    }
}

net::awaitable<void> window_control::tick() {
    const auto now = now_sys();
    if (merged_cfg_ != &gate_.cfg()) {  // a reload: the [[window]] tables may have changed
        merged_cfg_ = &gate_.cfg();
        merge_configured(gate_.cfg().windows);
        publish();
    }
    // Refused writes per route, while the window holds the gate.
    if (window* w = current_mut(); w && w->ph != phase::verifying) {
        const auto before = w->refused_total;
        count_refused();
        if (w->refused_total != before) persist();
    } else {
        count_refused();
    }
    // Announcements due.
    std::vector<std::string> announce;
    for (auto& w : windows_)
        if (w.ph == phase::planned && (!w.p.announce_from || *w.p.announce_from <= now)) announce.push_back(w.p.id);
    for (const auto& id : announce) {
        window* w = find_mut(id);
        if (!w || w->ph != phase::planned) continue;
        if (!w->p.hooks[std::size_t(hook_point::pre_announce)].empty()) {
            co_await run_point(id, hook_point::pre_announce, schedule_actor);
            w = find_mut(id);
            if (!w || w->ph != phase::planned) continue;
        }
        transition(*w, phase::announced, schedule_actor, "window announce " + id,
                   w->p.starts ? "starts " + format_iso8601(*w->p.starts) : "starts by hand");
    }
    // Starts due: one at a time, never over a window already holding the gate.
    if (!current() && running_.empty()) {
        for (auto& w : windows_) {
            if ((w.ph != phase::planned && w.ph != phase::announced) || !w.p.starts || *w.p.starts > now) continue;
            if (w.p.ends <= now) {
                // The process was down (or the gate busy) for the whole window.
                w.outcome = "missed: the window's end passed before it could start";
                transition(w, phase::aborted, schedule_actor, "window start " + w.p.id, w.outcome);
                break;
            }
            const std::string id = w.p.id;
            net::co_spawn(ioc_, run_start(id, schedule_actor, "window start " + id), net::detached);
            break;
        }
    }
}

net::awaitable<bool> window_control::run_point(std::string id, hook_point h, const proxy::admin_peer& who) {
    window* w = find_mut(id);
    if (!w) co_return false;
    const auto names = w->p.hooks[std::size_t(h)];
    if (names.empty()) co_return true;
    note(*w, "hooks " + std::string(to_string(h)), who.name, "running " + std::to_string(names.size()));
    persist();
    hook_request req{id, h, names, w->write_boundary_ms, who.name};
    auto out = co_await run_window_hooks(ioc_, gate_, req);
    w = find_mut(id);
    if (!w) co_return false;
    for (auto& b : out.backups) w->backups.push_back(std::move(b));
    for (auto& run : out.runs) w->hook_runs.push_back(std::move(run));
    hooks_failure_ = out.ok ? std::string() : out.detail;
    note(*w, "hooks " + std::string(to_string(h)), who.name, out.ok ? "passed: " + out.detail : "FAILED: " + out.detail);
    persist();
    co_return out.ok;
}

net::awaitable<result> window_control::start_window(std::optional<std::string> id, const proxy::admin_peer& who,
                                                    const std::string& command) {
    result r;
    if (!running_.empty()) {
        r.error = "a window change is in progress: " + running_;
        co_return r;
    }
    const window* w = nullptr;
    if (id) {
        w = find(*id);
        if (!w) {
            r.error = "no window " + *id + " ('window status' lists them)";
            co_return r;
        }
    } else {
        w = current();
        if (w && w->interrupted.empty()) w = nullptr;  // only an interrupted one is resumed without a name
        if (!w) w = next();
        if (!w) {
            r.error = "no window is planned ('window plan ID start TIME end TIME')";
            co_return r;
        }
    }
    r.id = w->p.id;
    const window* cur = current();
    if (cur && cur != w) {
        r.error = "window " + cur->p.id + " is " + std::string(to_string(cur->ph)) + "; one window at a time";
        co_return r;
    }
    if (finished(w->ph)) {
        r.error = "window " + w->p.id + " is " + std::string(to_string(w->ph)) + " already";
        co_return r;
    }
    if (in_progress(w->ph) && w->interrupted.empty()) {
        r.error = "window " + w->p.id + " is " + std::string(to_string(w->ph)) + " already";
        co_return r;
    }
    // A window kept from an older config may name hooks this one no longer has: refuse
    // before anything changes, rather than stop it at its backup gate.
    std::string missing;
    for (std::size_t i = 0; i < hook_point_count; ++i)
        for (const auto& name : w->p.hooks[i]) {
            bool known = false;
            for (const auto& h : gate_.cfg().hooks) known |= h.name == name;
            if (!known) missing += (missing.empty() ? "" : ", ") + name + " (" + std::string(to_string(hook_point(i))) + ")";
        }
    if (!missing.empty()) {
        r.error = "window " + w->p.id + " names hooks that no [[hook]] defines: " + missing +
                  "; add them to the config and reload, or plan the window again";
        co_return r;
    }
    const std::string start_id = w->p.id;
    co_return co_await run_start(start_id, who, command);
}

net::awaitable<result> window_control::run_start(std::string id, proxy::admin_peer who, std::string command) {
    result r;
    r.id = id;
    if (!running_.empty()) {
        r.error = "a window change is in progress: " + running_;
        co_return r;
    }
    struct running_scope {
        std::string& slot;
        ~running_scope() { slot.clear(); }
    } scope{running_};
    running_ = command + " by " + who.name;

    window* w = find_mut(id);
    if (!w) co_return r;
    if (const auto* c = gate_.cluster(); c && (w->ph == phase::planned || w->ph == phase::announced)) {
        // One window at a time holds the shared gate, whichever replica runs it.
        if (const auto& sw = c->shared(); sw && c->shared_window_held() && sw->replica != c->id()) {
            r.error = "window " + sw->id + " is " + sw->phase + " on replica " + sw->replica +
                      "; one window at a time across the cluster";
            co_return r;
        }
    }
    if (w->ph == phase::verifying) {
        // Resumed after a restart: the gate is open; only the post-reopen hooks remain.
        w->interrupted.clear();
        note(*w, "resumed", who.name, command);
        persist();
        co_await verify(id, who);
        r.ok = true;
        co_return r;
    }
    if (w->ph == phase::active || w->ph == phase::reopening) {
        w->interrupted.clear();
        persist();
        r.ok = true;
        co_return r;
    }
    if (w->ph == phase::freezing) {
        w->interrupted.clear();
        note(*w, "resumed", who.name, command);
    }
    w->started_at = now_sys();
    w->started_by = who.name;
    transition(*w, phase::freezing, who, command, "started by " + who.name);

    // The backup gate: nothing is frozen until the pre-freeze hooks pass.
    if (!co_await run_point(id, hook_point::pre_freeze, who)) {
        const std::string why = hooks_failure_;
        co_await stop_window(id, "the backup gate failed (pre_freeze hooks); nothing was frozen: " + why, false, who,
                             command);
        r.error = "window " + id + " stopped before the freeze: the backup gate failed: " + why + " ('window report " +
                  id + "')";
        co_return r;
    }
    auto f = co_await gate_.freeze(std::nullopt, std::nullopt, who, command);
    w = find_mut(id);
    if (!w) co_return r;
    if (!f.fenced) {
        co_await stop_window(id, "the freeze was refused: " + f.error, false, who, command);
        r.error = "window " + id + " stopped: the freeze was refused: " + f.error;
        co_return r;
    }
    if (!f.ok) {
        co_await stop_window(id, "the freeze timed out with " + std::to_string(f.pending) + " write(s) in flight",
                             true, who, command);
        r.error = "window " + id + " aborted: the freeze timed out with writes in flight";
        co_return r;
    }
    w->write_boundary_ms = f.boundary_ms;
    note(*w, "write boundary", who.name,
         f.boundary_ms ? format_iso8601_ms(f.boundary_ms) : std::string("no write since start-up"));
    persist();
    if (!co_await run_point(id, hook_point::at_boundary, who)) {
        const std::string why = hooks_failure_;
        co_await stop_window(id, "the at_boundary hooks failed: " + why, true, who, command);
        r.error = "window " + id + " aborted at the write boundary: its hooks failed: " + why + " ('window report " +
                  id + "')";
        co_return r;
    }
    w = find_mut(id);
    if (!w) co_return r;
    const std::string reason = w->p.reason.empty() ? "maintenance window " + id : w->p.reason;
    auto closed = co_await gate_.set_mode(w->p.mode, reason, w->p.ends, who, command);
    w = find_mut(id);
    if (!w) co_return r;
    if (!closed.ok) {
        co_await stop_window(id, "the gate could not be closed: " + closed.error, true, who, command);
        r.error = "window " + id + " aborted: " + closed.error;
        co_return r;
    }
    count_refused();  // the window's refused writes count from here
    transition(*w, phase::active, who, command,
               std::string(policy::to_string(w->p.mode)) + " until " + format_iso8601(w->p.ends));
    r.ok = true;
    co_return r;
}

net::awaitable<void> window_control::verify(std::string id, proxy::admin_peer who) {
    const bool ok = co_await run_point(id, hook_point::post_reopen, who);
    window* w = find_mut(id);
    if (!w || w->ph != phase::verifying) co_return;
    count_refused();
    w->outcome = ok ? "completed" : "completed; the post-reopen hooks FAILED: " + hooks_failure_;
    transition(*w, phase::completed, who, "window complete " + id, w->outcome);
}

net::awaitable<void> window_control::stop_window(std::string id, std::string why, bool reopen,
                                                 proxy::admin_peer who, std::string command) {
    co_await run_point(id, hook_point::on_abort, who);
    window* w = find_mut(id);
    if (!w) co_return;
    if (reopen && gate_.record().mode != policy::mode::open) {
        aborting_ = id;
        auto back = co_await gate_.set_mode(policy::mode::open, {}, std::nullopt, who, command);
        aborting_.clear();
        w = find_mut(id);
        if (!w) co_return;
        if (!back.ok) why += "; going back to open failed: " + back.error;
    }
    count_refused();
    w->interrupted.clear();
    w->outcome = why;
    transition(*w, phase::aborted, who, command, why);
}

net::awaitable<result> window_control::abort_window(std::optional<std::string> id, const proxy::admin_peer& who,
                                                    const std::string& command) {
    result r;
    if (!running_.empty()) {
        r.error = "a window change is in progress: " + running_;
        co_return r;
    }
    const window* w = id ? find(*id) : current();
    if (!w && !id) w = next();
    if (!w) {
        r.error = id ? "no window " + *id : "no window to abort";
        co_return r;
    }
    r.id = w->p.id;
    if (finished(w->ph)) {
        r.error = "window " + w->p.id + " is " + std::string(to_string(w->ph)) + " already";
        co_return r;
    }
    if (w->ph == phase::verifying) {
        r.error = "window " + w->p.id + " is verifying: the gate is open already";
        co_return r;
    }
    struct running_scope {
        std::string& slot;
        ~running_scope() { slot.clear(); }
    } scope{running_};
    running_ = command + " by " + who.name;
    const bool holds_gate = in_progress(w->ph);
    co_await stop_window(r.id, "aborted by " + who.name, holds_gate, who, command);
    r.ok = true;
    co_return r;
}

}  // namespace maintgate::window
