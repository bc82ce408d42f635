#include "proxy/cluster/cluster_node.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "proxy/admin/commands/reply.hpp"

namespace maintgate::proxy::cluster {
namespace js = boost::json;
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
using steady = std::chrono::steady_clock;

sys_time now_sys() { return std::chrono::system_clock::now(); }

std::int64_t unix_ms(sys_time t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// What a replica serves: the rest (since, set_by) is bookkeeping.
bool same_gate(const gate_record& a, const gate_record& b) {
    return a.mode == b.mode && a.stage == b.stage && a.fenced == b.fenced && a.reason == b.reason &&
           a.until == b.until;
}

// Prometheus label values: backslash, quote and newline escaped.
std::string label(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

// Marks something in progress for the length of a scope: an apply (serialised so that
// revisions land in order even when the watch and a proposal deliver the same one), a
// write of the desired key (one writer at a time), the window's share loop.
// The gate a fenced replica serves for a desired state: no less restrictive than the
// fence. The replica leaves the fence (and serves the desired state as it is) only once
// its acknowledgement is written, in session().
gate_record fenced_view(const gate_record& r, policy::mode fence_mode) {
    const auto m = more_restrictive(r.mode, fence_mode);
    if (m == r.mode) return r;
    gate_record v = r;
    v.mode = m;
    v.stage = policy::stage_of(m);
    v.set_by = "cluster fence";
    if (v.reason.empty()) v.reason = "replica fenced: no etcd";
    return v;
}

struct flag_scope {
    bool& flag;
    explicit flag_scope(bool& f) : flag(f) { flag = true; }
    ~flag_scope() { flag = false; }
};

}  // namespace

cluster_node::cluster_node(net::io_context& ioc, gate_control& gate, const cluster_config& c, std::string replica_id)
    : ioc_(ioc), gate_(gate), cfg_(c), id_(std::move(replica_id)), etcd_(ioc, c), watch_client_(ioc, c) {}

cluster_node::~cluster_node() {
    if (!stopped_) stop();
}

std::string cluster_node::prepare() {
    if (auto err = etcd_.prepare(); !err.empty()) return err;
    return watch_client_.prepare();
}

void cluster_node::start() {
    spdlog::info("cluster: replica {} with etcd {} (prefix {}, lease {}, keep-alive {})", id_,
                 cfg_.etcd.front().url, cfg_.prefix, format_duration(cfg_.lease_ttl),
                 format_duration(cfg_.keepalive));
    net::co_spawn(ioc_, run(), net::detached);
    net::co_spawn(ioc_, fence_loop(), net::detached);
    net::co_spawn(ioc_, ack_loop(), net::detached);
    net::co_spawn(ioc_, peers_loop(), net::detached);
}

void cluster_node::stop() {
    stopped_ = true;
    ++generation_;
    watch_client_.cancel_watch();
    for (auto& t : timers_) t->cancel();
    timers_.clear();
}

net::awaitable<void> cluster_node::sleep(std::chrono::milliseconds d) {
    auto t = std::make_shared<net::steady_timer>(ioc_);
    timers_.push_back(t);
    t->expires_after(d);
    co_await t->async_wait(use_tuple);
    if (auto it = std::find(timers_.begin(), timers_.end(), t); it != timers_.end()) timers_.erase(it);
}

net::awaitable<void> cluster_node::run() {
    bool first = true;
    while (!stopped_) {
        const bool reached = co_await session();
        if (stopped_) break;
        if (first && !reached && !self_fenced_)
        {
            // Named: GCC 12 frees temporaries in a co_await's arguments twice.
            std::string why = "etcd unreachable at start-up (" + last_error_ + "): serving the persisted state, fenced";
            co_await fence_self(std::move(why));
        }
        first = false;
        co_await sleep(std::min<std::chrono::milliseconds>(cfg_.keepalive, std::chrono::seconds(1)));
    }
}

// One lease's life: grant, register, read, acknowledge, watch, keep alive. Returns
// whether etcd was reached at all (false: nothing worked, the fence stays as it is).
net::awaitable<bool> cluster_node::session() {
    const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(cfg_.lease_ttl).count();
    const auto granted_at = steady::now();
    auto g = co_await etcd_.lease_grant(ttl);
    if (!g.ok()) {
        last_error_ = g.error;
        co_return false;
    }
    lease_ = json_int(g.body, "ID");
    last_keepalive_ = granted_at;
    last_keepalive_sys_ = now_sys();
    js::object me{{"id", id_}, {"pid", std::int64_t(::getpid())}, {"started", format_iso8601(now_sys())}};
    std::string me_key = replicas_prefix(cfg_.prefix) + id_;
    std::string me_value = js::serialize(me);
    if (auto r = co_await etcd_.put(std::move(me_key), std::move(me_value), lease_); !r.ok()) {
        last_error_ = r.error;
        co_return false;
    }
    if (!co_await fresh_read()) co_return false;
    const std::uint64_t gen = ++generation_;
    connected_ = true;
    ack_dirty_ = true;
    if (!co_await write_ack()) {
        connected_ = false;
        co_return false;
    }
    if (self_fenced_) {
        // The fresh read and this replica's acknowledgement are done: only now does the
        // gate go from the fence to what the desired state asks (fenced_view).
        self_fenced_ = false;
        fenced_since_.reset();
        if (!same_gate(gate_.record(), desired_record_)) {
            while (applying_) co_await sleep(std::chrono::milliseconds(1));
            flag_scope busy(applying_);
            admin_peer who{-1, -1, "cluster fence"};
            const std::string command = "fence lifted";
            std::string detail = "etcd reachable again; desired state revision " + std::to_string(applied_rev_);
            auto out = co_await gate_.apply_shared(desired_record_, who, command, detail);
            if (!out.ok) spdlog::error("cluster: the desired state could not be applied: {}", out.error);
            ack_dirty_ = true;
            co_await write_ack();  // at once, for a freeze waiting on it; else the keep-alive loop's
        }
        spdlog::warn("cluster: etcd reachable again; fence lifted at desired revision {} ({})", applied_rev_,
                     policy::to_string(gate_.record().mode));
        fence_reason_.clear();
    }
    last_error_.clear();
    net::co_spawn(ioc_, watch_loop(gen, watch_from_), net::detached);
    if (pending_window_ && !sharing_) net::co_spawn(ioc_, share_loop(), net::detached);

    auto last_resync = steady::now();
    while (!stopped_ && !self_fenced_ && gen == generation_) {
        co_await sleep(cfg_.keepalive);
        if (stopped_ || self_fenced_) break;
        const auto sent = steady::now();
        auto k = co_await etcd_.lease_keepalive(lease_);
        if (!k.ok()) {
            last_error_ = k.error;
            spdlog::warn("cluster: keep-alive failed: {}", k.error);
            continue;  // fence_loop fences at the deadline; until then, keep trying
        }
        if (json_int(k.body, "TTL") <= 0) {
            last_error_ = "the lease expired on the etcd side";
            spdlog::error("cluster: {}; registering again", last_error_);
            std::string why = "lease " + std::to_string(lease_) + " expired";
            if (!self_fenced_) co_await fence_self(std::move(why));
            break;
        }
        // The deadline counts from when the acknowledged keep-alive was sent.
        last_keepalive_ = sent;
        last_keepalive_sys_ = now_sys();
        if (steady::now() - last_resync >= cfg_.resync) {
            last_resync = steady::now();
            if (!co_await fresh_read()) spdlog::warn("cluster: resync failed: {}", last_error_);
        }
    }
    connected_ = false;
    ++generation_;
    watch_client_.cancel_watch();
    co_return true;
}

// Reads the desired state and applies it if it differs from what runs here; the watch
// then starts from this read's revision + 1 (never from an unrelated read's).
net::awaitable<bool> cluster_node::fresh_read() {
    const std::string key = desired_key(cfg_.prefix);
    auto r = co_await etcd_.range(key);
    if (!r.ok()) {
        last_error_ = r.error;
        co_return false;
    }
    if (r.kvs.empty()) {
        // The first replica ever: its own state becomes everyone's (the one it had before
        // a fence at start-up, not the fence).
        desired_state d;
        d.record = self_fenced_ && prefence_ ? *prefence_ : gate_.record();
        d.epoch = 1;
        d.command = "initial state";
        d.asked_by = "cluster";
        d.origin = id_;
        std::string value = encode_desired(d);
        auto c = co_await etcd_.put_if(key, std::move(value), 0);
        if (!c.ok()) {
            last_error_ = c.error;
            co_return false;
        }
        const auto* ok = c.body.if_contains("succeeded");
        if (ok && ok->is_bool() && ok->as_bool()) {
            spdlog::info("cluster: no desired state under {}; wrote this replica's (revision {})", cfg_.prefix,
                         c.revision);
            watch_from_ = c.revision + 1;
            auto out = co_await apply_desired(c.revision, d, true);
            co_return out.ok;
        }
        r.kvs = c.kvs;  // another replica was first
        r.revision = c.revision;
        if (r.kvs.empty()) {
            last_error_ = "the desired state vanished while it was written";
            co_return false;
        }
    }
    std::string error;
    auto d = decode_desired(r.kvs.front().value, error);
    if (!d) {
        last_error_ = "the desired state at " + key + " is unreadable: " + error;
        spdlog::error("cluster: {}", last_error_);
        co_return false;
    }
    watch_from_ = r.revision + 1;
    auto out = co_await apply_desired(r.kvs.front().mod_revision, *d, true);
    if (!out.ok) last_error_ = out.error;
    co_return out.ok;
}

net::awaitable<change_outcome> cluster_node::apply_desired(std::int64_t rev, const desired_state& d, bool fresh) {
    while (applying_) co_await sleep(std::chrono::milliseconds(1));
    if (rev < applied_rev_ || (!fresh && rev == applied_rev_)) co_return change_outcome{true, {}};
    flag_scope busy(applying_);
    seen_rev_ = std::max(seen_rev_, rev);
    epoch_ = std::max(epoch_, d.epoch);
    desired_record_ = d.record;
    if (d.window != shared_window_) {
        // Another replica's window: its audit line here says what this replica serves under.
        if (d.window && d.window->replica != id_)
            gate_.note(admin_peer{-1, -1, "cluster rev " + std::to_string(rev)}, d.command, "ok",
                       "window " + d.window->id + " is " + d.window->phase + " on replica " + d.window->replica +
                           " (desired state revision " + std::to_string(rev) + ")");
        shared_window_ = d.window;
    }
    const gate_record target = self_fenced_ ? fenced_view(d.record, cfg_.fence_mode) : d.record;
    if (same_gate(gate_.record(), target)) {
        applied_rev_ = rev;
        ack_dirty_ = true;
        co_return change_outcome{true, {}};
    }
    admin_peer who{-1, -1, "cluster rev " + std::to_string(rev)};
    std::string detail = "desired state revision " + std::to_string(rev) + " (epoch " + std::to_string(d.epoch) +
                         "), asked by " + d.asked_by + " on replica " + d.origin;
    auto out = co_await gate_.apply_shared(target, who, d.command, detail);
    if (out.ok) {
        applied_rev_ = rev;
        ack_dirty_ = true;
    } else {
        spdlog::error("cluster: cannot apply desired revision {}: {}", rev, out.error);
    }
    co_return out;
}

net::awaitable<change_outcome> cluster_node::propose(gate_record next, const admin_peer& who,
                                                     const std::string& command, const std::string& detail) {
    if (!connected_ || self_fenced_) {
        std::string why = self_fenced_ ? fence_reason_ : last_error_.empty() ? "not connected yet" : last_error_;
        co_return change_outcome{false, "replica " + id_ + " has no etcd (" + why +
                                            "): the shared gate cannot be changed from here; nothing changed"};
    }
    co_await wait_writer();
    flag_scope writing(writing_);
    desired_state d;
    d.record = std::move(next);
    d.epoch = epoch_ + 1;
    d.command = command;
    d.asked_by = who.name;
    d.origin = id_;
    etcd_reply r;
    // A window's phase written meanwhile (by the replica that runs it) leaves the gate
    // as it was: the change asked here still holds, so it goes on top of that revision
    // (a few times at most). Any change of the gate itself is the operator's to see.
    for (int attempt = 0;; ++attempt) {
        // The window rides along as it is (this replica's newest phase if one is waiting).
        d.window = pending_window_ ? pending_window_ : shared_window_;
        const gate_record base = desired_record_;
        std::string key = desired_key(cfg_.prefix);
        std::string value = encode_desired(d);
        r = co_await etcd_.put_if(std::move(key), std::move(value), seen_rev_);
        if (!r.ok()) co_return change_outcome{false, r.error + "; nothing changed"};
        const auto* ok = r.body.if_contains("succeeded");
        if (ok && ok->is_bool() && ok->as_bool()) break;
        std::string by;
        bool window_only = false;
        if (!r.kvs.empty()) {
            std::string error;
            if (auto now = decode_desired(r.kvs.front().value, error)) {
                by = " by \"" + now->command + "\" on replica " + now->origin;
                window_only = same_gate(now->record, base) && now->window != d.window;
                co_await apply_desired(r.kvs.front().mod_revision, *now, false);
                d.epoch = std::max(d.epoch, now->epoch + 1);
            }
        }
        if (window_only && attempt < 3) {
            spdlog::info("cluster: the desired state moved on only by a window's phase (revision {}); writing "
                         "\"{}\" on top of it", seen_rev_, command);
            continue;
        }
        co_return change_outcome{false, "the shared gate changed meanwhile (revision " +
                                            std::to_string(r.kvs.empty() ? 0 : r.kvs.front().mod_revision) + by +
                                            "); nothing changed: check status and ask again"};
    }
    last_proposed_ = r.revision;
    if (pending_window_ == d.window) pending_window_.reset();
    spdlog::info("cluster: desired revision {} written: {} ({})", r.revision, command, detail.empty() ? "-" : detail);
    co_return co_await apply_desired(r.revision, d, false);
}

net::awaitable<void> cluster_node::wait_writer() {
    // Bounded by the writer's etcd calls (each under request_timeout).
    while (writing_ && !stopped_) co_await sleep(std::chrono::milliseconds(1));
}

void cluster_node::share_window(shared_window w) {
    w.replica = id_;
    pending_window_ = std::move(w);
    if (!sharing_ && !stopped_) net::co_spawn(ioc_, share_loop(), net::detached);
}

net::awaitable<void> cluster_node::share_loop() {
    if (sharing_) co_return;
    flag_scope running(sharing_);
    // A few lost races or failed calls at most; without etcd, session() starts this again
    // once it has read the desired state.
    for (int attempt = 0; attempt < 10 && pending_window_ && !stopped_; ++attempt) {
        if (pending_window_ == shared_window_) {
            pending_window_.reset();
            break;
        }
        if (!connected_ || self_fenced_) break;
        co_await wait_writer();
        if (!pending_window_ || !connected_ || self_fenced_) break;
        bool failed = false;
        {
            flag_scope writing(writing_);
            desired_state d;
            d.record = desired_record_;
            d.window = pending_window_;
            d.epoch = epoch_ + 1;
            d.command = "window " + d.window->id + " " + d.window->phase;
            d.asked_by = "window";
            d.origin = id_;
            std::string key = desired_key(cfg_.prefix);
            std::string value = encode_desired(d);
            auto r = co_await etcd_.put_if(std::move(key), std::move(value), seen_rev_);
            const auto* ok = r.ok() ? r.body.if_contains("succeeded") : nullptr;
            if (!r.ok()) {
                spdlog::warn("cluster: cannot write window {} {} into the desired state: {}", d.window->id,
                             d.window->phase, r.error);
                failed = true;
            } else if (ok && ok->is_bool() && ok->as_bool()) {
                spdlog::info("cluster: desired revision {} written: window {} {}", r.revision, d.window->id,
                             d.window->phase);
                const bool same = pending_window_ == d.window;
                co_await apply_desired(r.revision, d, false);
                if (same) pending_window_.reset();
            } else if (!r.kvs.empty()) {
                // Another change landed first: take it, then write the window over it.
                std::string error;
                if (auto now = decode_desired(r.kvs.front().value, error))
                    co_await apply_desired(r.kvs.front().mod_revision, *now, false);
            }
        }
        if (failed) co_await sleep(std::chrono::milliseconds(200));
    }
    if (pending_window_ && pending_window_ != shared_window_ && connected_ && !self_fenced_ && !stopped_)
        spdlog::error("cluster: window {} {} is not in the desired state yet; writing it again after the next "
                      "change or reconnection", pending_window_->id, pending_window_->phase);
}

net::awaitable<void> cluster_node::watch_loop(std::uint64_t gen, std::int64_t from) {
    std::int64_t next = from;
    const std::string key = desired_key(cfg_.prefix);
    while (!stopped_ && gen == generation_) {
        bool compacted = false;
        std::int64_t compact_rev = 0;
        std::string cancelled;  // etcd cancelled the watch for another reason (its token, a permission)
        std::function<net::awaitable<bool>(const watch_message&)> on_message =
            [&](const watch_message& m) -> net::awaitable<bool> {
            if (gen != generation_) co_return false;
            if (m.compact_revision) {
                compacted = true;
                compact_rev = m.compact_revision;
                co_return false;
            }
            if (m.canceled) {
                // Not a compaction: nothing was lost, but reading again would not help
                // either; the same watch again, after the pause below.
                cancelled = m.cancel_reason.empty() ? std::string("no reason given") : m.cancel_reason;
                co_return false;
            }
            for (const auto& ev : m.events) {
                next = std::max(next, ev.kv.mod_revision + 1);
                if (ev.deleted) {
                    spdlog::error("cluster: {} was deleted (revision {}); keeping the gate as it is", key,
                                  ev.kv.mod_revision);
                    continue;
                }
                std::string error;
                auto d = decode_desired(ev.kv.value, error);
                if (!d) {
                    spdlog::error("cluster: desired revision {} unreadable: {}", ev.kv.mod_revision, error);
                    continue;
                }
                co_await apply_desired(ev.kv.mod_revision, *d, false);
            }
            // A progress notification: every change up to its revision has been sent.
            if (m.events.empty() && !m.created && m.revision) next = std::max(next, m.revision + 1);
            co_return true;
        };
        auto err = co_await watch_client_.watch(key, next, std::move(on_message));
        if (stopped_ || gen != generation_) break;
        if (compacted) {
            ++watch_restarts_;
            spdlog::warn("cluster: the watch from revision {} was cancelled (compacted at {}); reading again", next,
                         compact_rev);
            if (co_await fresh_read()) {
                next = watch_from_;
                continue;
            }
        } else if (!cancelled.empty()) {
            ++watch_restarts_;
            last_error_ = "etcd cancelled the watch: " + cancelled;
            spdlog::warn("cluster: etcd cancelled the watch from revision {} ({}); watching again", next, cancelled);
            watch_client_.forget_token_if_refused(cancelled);
        } else if (!err.empty()) {
            ++watch_restarts_;
            spdlog::warn("cluster: {}; watching again from revision {}", err, next);
        }
        co_await sleep(std::chrono::milliseconds(200));
    }
}

net::awaitable<void> cluster_node::fence_loop() {
    // Before etcd can expire the lease (ttl after the last acknowledged keep-alive was
    // sent), with a margin of two keep-alive intervals for clocks and a slow answer.
    const auto margin = cfg_.lease_ttl - 2 * cfg_.keepalive;
    while (!stopped_) {
        co_await sleep(std::chrono::milliseconds(50));
        if (stopped_) break;
        if (connected_ && !self_fenced_ && steady::now() >= last_keepalive_ + margin) {
            std::string why = "lost etcd: no keep-alive acknowledged since ";
            why += last_keepalive_sys_ ? format_iso8601_ms(*last_keepalive_sys_) : std::string("start");
            if (!last_error_.empty()) why += " (" + last_error_ + ")";
            co_await fence_self(std::move(why));
        }
    }
}

net::awaitable<void> cluster_node::fence_self(std::string why) {
    if (self_fenced_) co_return;
    self_fenced_ = true;
    connected_ = false;
    ++fences_;
    ++generation_;
    watch_client_.cancel_watch();
    fence_reason_ = why;
    fenced_since_ = now_sys();
    while (applying_) co_await sleep(std::chrono::milliseconds(1));
    flag_scope busy(applying_);
    const gate_record cur = gate_.record();
    prefence_ = cur;
    const auto m = more_restrictive(cur.mode, cfg_.fence_mode);
    spdlog::error("cluster: {}; this replica fences itself: {} until etcd answers again", why,
                  policy::to_string(m));
    if (m == cur.mode) co_return;
    gate_record next = cur;
    next.mode = m;
    next.stage = policy::stage_of(m);
    next.since = now_sys();
    next.set_by = "cluster fence";
    if (next.reason.empty()) next.reason = "replica fenced: no etcd";
    admin_peer who{-1, -1, "cluster fence"};
    const std::string command = "fence";
    auto out = co_await gate_.apply_shared(std::move(next), who, command, why);
    if (!out.ok) spdlog::error("cluster: the fence could not be applied: {}", out.error);
}

replica_ack cluster_node::current_ack() const {
    const auto t = gate_.totals();
    const auto& r = gate_.record();
    replica_ack a;
    a.id = id_;
    a.revision = applied_rev_;
    a.mode = r.mode;
    a.stage = r.stage;
    a.fenced = r.fenced;
    a.in_flight_writes = t.writes_in_flight();
    a.write_boundary_ms = t.last_write_done_ms;
    a.self_fenced = self_fenced_;
    return a;
}

net::awaitable<bool> cluster_node::write_ack() {
    auto a = current_ack();
    a.at_ms = unix_ms(now_sys());
    std::string key = acks_prefix(cfg_.prefix) + id_;
    std::string value = encode_ack(a);
    auto r = co_await etcd_.put(std::move(key), std::move(value), lease_);
    if (!r.ok()) {
        last_error_ = r.error;
        co_return false;
    }
    last_ack_ = a;
    last_ack_at_ = steady::now();
    ack_dirty_ = false;
    co_return true;
}

net::awaitable<void> cluster_node::ack_loop() {
    // Written when what a freeze waits for changes (the revision, the mode, writes in
    // flight reaching zero), and once per keep-alive interval so its age means "alive".
    while (!stopped_) {
        co_await sleep(std::chrono::milliseconds(5));
        if (stopped_) break;
        if (!connected_ || self_fenced_) continue;
        const auto a = current_ack();
        const bool changed = !last_ack_ || last_ack_->revision != a.revision || last_ack_->mode != a.mode ||
                             last_ack_->stage != a.stage || last_ack_->fenced != a.fenced ||
                             (last_ack_->in_flight_writes == 0) != (a.in_flight_writes == 0) ||
                             (a.fenced && last_ack_->in_flight_writes != a.in_flight_writes);
        if (ack_dirty_ || changed || steady::now() - last_ack_at_ >= cfg_.keepalive) co_await write_ack();
    }
}

net::awaitable<bool> cluster_node::refresh_peers() {
    std::string rk = replicas_prefix(cfg_.prefix), rend = prefix_end(rk);
    auto reps = co_await etcd_.range(std::move(rk), std::move(rend));
    if (!reps.ok()) {
        last_error_ = reps.error;
        co_return false;
    }
    std::string ak = acks_prefix(cfg_.prefix), aend = prefix_end(ak);
    auto acks = co_await etcd_.range(std::move(ak), std::move(aend));
    if (!acks.ok()) {
        last_error_ = acks.error;
        co_return false;
    }
    std::map<std::string, peer> by_id;
    const auto rp = replicas_prefix(cfg_.prefix).size();
    const auto ap = acks_prefix(cfg_.prefix).size();
    for (const auto& kv : reps.kvs) {
        auto& p = by_id[kv.key.substr(rp)];
        p.id = kv.key.substr(rp);
        p.live = true;
    }
    for (const auto& kv : acks.kvs) {
        auto& p = by_id[kv.key.substr(ap)];
        p.id = kv.key.substr(ap);
        p.ack = decode_ack(kv.value);
    }
    peers_.clear();
    for (auto& [id, p] : by_id) peers_.push_back(std::move(p));
    co_return true;
}

net::awaitable<void> cluster_node::peers_loop() {
    while (!stopped_) {
        if (connected_) co_await refresh_peers();
        co_await sleep(std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.keepalive));
    }
}

net::awaitable<acks_outcome> cluster_node::wait_acks(std::int64_t revision, steady::time_point deadline) {
    acks_outcome out;
    for (;;) {
        out = acks_outcome{};
        if (!co_await refresh_peers()) {
            out.error = "etcd cannot be read: " + last_error_;
        } else {
            for (const auto& p : peers_) {
                if (!p.live) continue;
                if (p.ack && p.ack->revision >= revision && !p.ack->self_fenced && p.ack->in_flight_writes == 0)
                    out.done.push_back(p);
                else if (p.ack && p.ack->revision >= revision && !p.ack->self_fenced)
                    out.draining.push_back(p);
                else
                    out.silent.push_back(p);
            }
            out.ok = out.draining.empty() && out.silent.empty() && !out.done.empty();
            if (out.ok) co_return out;
        }
        if (steady::now() >= deadline || stopped_) co_return out;
        co_await sleep(std::chrono::milliseconds(10));
    }
}

bool cluster_node::shared_window_held() const noexcept {
    if (!shared_window_ || !shared_window_->in_progress()) return false;
    if (shared_window_->replica == id_) return true;
    for (const auto& p : peers_)
        if (p.id == shared_window_->replica) return p.live;
    return false;
}

js::value cluster_node::shared_window_json() const {
    if (!shared_window_) return nullptr;
    const auto& w = *shared_window_;
    return js::object{{"id", w.id},
                      {"phase", w.phase},
                      {"mode", policy::to_string(w.mode)},
                      {"reason", w.reason},
                      {"starts", nullptr},
                      {"ends", iso_or_null(w.ends)},
                      {"started_at", iso_or_null(w.started_at)},
                      {"replica", w.replica},
                      {"held", shared_window_held()},
                      {"source", "cluster"}};
}

js::object cluster_node::status_json(sys_time now) const {
    js::array replicas;
    for (const auto& p : peers_) {
        js::object o{{"id", p.id}, {"live", p.live}};
        if (p.ack) {
            o["applied_revision"] = p.ack->revision;
            o["mode"] = policy::to_string(p.ack->mode);
            o["stage"] = policy::to_string(p.ack->stage);
            o["fenced"] = p.ack->fenced;
            o["self_fenced"] = p.ack->self_fenced;
            o["in_flight_writes"] = p.ack->in_flight_writes;
            o["write_boundary"] = p.ack->write_boundary_ms ? js::value(format_iso8601_ms(p.ack->write_boundary_ms))
                                                           : js::value(nullptr);
            o["ack_age_ms"] = std::max<std::int64_t>(0, unix_ms(now) - p.ack->at_ms);
        } else {
            o["applied_revision"] = nullptr;
            o["ack_age_ms"] = nullptr;
        }
        replicas.push_back(std::move(o));
    }
    return js::object{{"replica", id_},
                      {"etcd", etcd_.endpoint_url()},
                      {"connected", connected_},
                      {"self_fenced", self_fenced_},
                      {"fence_reason", fence_reason_},
                      {"fenced_since", iso_or_null(fenced_since_)},
                      {"applied_revision", applied_rev_},
                      {"desired_revision", seen_rev_},
                      {"epoch", epoch_},
                      {"last_keepalive", iso_or_null(last_keepalive_sys_)},
                      {"last_error", last_error_},
                      {"window", shared_window_json()},
                      {"replicas", std::move(replicas)}};
}

std::string cluster_node::metrics_text(sys_time now) const {
    std::string out;
    const auto gauge = [&out](const char* name, const char* type, const char* help) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    };
    gauge("maintgate_cluster_connected", "gauge", "1 while this replica holds its etcd lease and has read the state.");
    out += "maintgate_cluster_connected " + std::to_string(connected_ ? 1 : 0) + "\n";
    gauge("maintgate_cluster_self_fenced", "gauge", "1 while this replica has fenced itself for want of etcd.");
    out += "maintgate_cluster_self_fenced " + std::to_string(self_fenced_ ? 1 : 0) + "\n";
    gauge("maintgate_cluster_fences_total", "counter", "Times this replica fenced itself.");
    out += "maintgate_cluster_fences_total " + std::to_string(fences_) + "\n";
    gauge("maintgate_cluster_watch_restarts_total", "counter", "Watches of the desired state started again.");
    out += "maintgate_cluster_watch_restarts_total " + std::to_string(watch_restarts_) + "\n";
    gauge("maintgate_cluster_applied_revision", "gauge", "The desired state's revision this replica runs.");
    out += "maintgate_cluster_applied_revision " + std::to_string(applied_rev_) + "\n";
    gauge("maintgate_cluster_window_in_progress", "gauge",
          "1 while the desired state carries a maintenance window that holds the gate.");
    const bool window_on = shared_window_ && shared_window_->in_progress();
    out += std::string("maintgate_cluster_window_in_progress ") + (window_on ? "1" : "0") + "\n";
    gauge("maintgate_cluster_window_info", "gauge", "The window the desired state carries: id, phase, replica.");
    if (shared_window_)
        out += "maintgate_cluster_window_info{window=\"" + label(shared_window_->id) + "\",phase=\"" +
               label(shared_window_->phase) + "\",replica=\"" + label(shared_window_->replica) + "\"} 1\n";
    gauge("maintgate_cluster_replica_live", "gauge", "1 per replica whose replicas/ key exists.");
    for (const auto& p : peers_)
        out += "maintgate_cluster_replica_live{replica=\"" + label(p.id) + "\"} " + (p.live ? "1" : "0") + "\n";
    gauge("maintgate_cluster_replica_applied_revision", "gauge", "Each replica's acknowledged revision.");
    for (const auto& p : peers_)
        if (p.ack)
            out += "maintgate_cluster_replica_applied_revision{replica=\"" + label(p.id) + "\"} " +
                   std::to_string(p.ack->revision) + "\n";
    gauge("maintgate_cluster_replica_ack_age_seconds", "gauge", "Age of each replica's last acknowledgement.");
    for (const auto& p : peers_)
        if (p.ack) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.3f", std::max<std::int64_t>(0, unix_ms(now) - p.ack->at_ms) / 1000.0);
            out += "maintgate_cluster_replica_ack_age_seconds{replica=\"" + label(p.id) + "\"} " + buf + "\n";
        }
    gauge("maintgate_cluster_replica_in_flight_writes", "gauge", "Writes in flight at each replica's last ack.");
    for (const auto& p : peers_)
        if (p.ack)
            out += "maintgate_cluster_replica_in_flight_writes{replica=\"" + label(p.id) + "\"} " +
                   std::to_string(p.ack->in_flight_writes) + "\n";
    return out;
}

}  // namespace maintgate::proxy::cluster
