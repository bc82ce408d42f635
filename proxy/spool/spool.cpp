#include "proxy/spool/spool.hpp"

#include <algorithm>
#include <chrono>
#include <random>

#include <spdlog/spdlog.h>

#include "proxy/net/upstream_pool.hpp"

namespace maintgate::spool {
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// What one delivery came to.
struct delivery {
    unsigned status = 0;  // 0: no response
    std::string detail;
};

enum class next_step { done, retry, dead };

next_step classify(const delivery& d) noexcept {
    if (d.status >= 200 && d.status < 300) return next_step::done;
    if (d.status == 0 || d.status >= 500 || d.status == 408 || d.status == 429) return next_step::retry;
    return next_step::dead;
}

http::request<http::string_body> make_request(const event& e, const upstream_config& u) {
    http::request<http::string_body> req;
    req.method_string(e.method);
    req.target(e.target);
    req.version(11);
    for (const auto& [name, value] : e.headers) req.insert(name, value);
    if (!u.host_header.empty()) req.set(http::field::host, u.host_header);
    if (req.find(http::field::host) == req.end()) req.set(http::field::host, u.host + ":" + std::to_string(u.port));
    req.set("Maintgate-Spool-Id", std::to_string(e.id));
    req.set(http::field::connection, "close");
    req.body() = e.body;
    req.content_length(e.body.size());
    return req;
}

net::awaitable<delivery> send(const event& e, const std::vector<tcp::endpoint>& upstream,
                              std::shared_ptr<const config> cfg, duration timeout) {
    delivery d;
    const upstream_config& u = cfg->upstream;
    proxy::upstream_stream stream(co_await net::this_coro::executor, u.tls_context.get());
    stream.tcp().expires_after(timeout);
    auto [cec, ep] = co_await proxy::connect_any(stream.tcp(), upstream);
    if (cec) {
        d.detail = "connect: " + cec.message();
        co_return d;
    }
    std::string tls_detail;
    if (auto hec = co_await stream.handshake(tls_detail)) {
        d.detail = "TLS: " + (tls_detail.empty() ? hec.message() : tls_detail);
        co_return d;
    }
    auto req = make_request(e, u);
    if (auto [wec, n] = co_await http::async_write(stream, req, use_tuple); wec) {
        d.detail = "send: " + wec.message();
        co_return d;
    }
    beast::flat_buffer buf;
    std::optional<http::response_parser<http::string_body>> parser;
    // An interim 1xx precedes the answer; a few at most.
    for (int interim = 0; interim < 8; ++interim) {
        parser.emplace();
        parser->body_limit(1 << 20);
        auto [rec, n] = co_await http::async_read_header(stream, buf, *parser, use_tuple);
        if (rec) {
            d.detail = "response: " + rec.message();
            co_return d;
        }
        const unsigned s = parser->get().result_int();
        if (s < 100 || s >= 200 || s == 101) break;
    }
    d.status = parser->get().result_int();
    // The body is read (bounded) only so the exchange ends cleanly; it is not kept.
    auto [bec, bn] = co_await http::async_read(stream, buf, *parser, use_tuple);
    (void)bec;
    d.detail = std::to_string(d.status);
    co_return d;
}

}  // namespace

std::string_view to_string(reject_reason r) noexcept {
    switch (r) {
    case reject_reason::signature: return "signature";
    case reject_reason::too_large: return "too_large";
    case reject_reason::bytes: return "quota_bytes";
    case reject_reason::events: return "quota_events";
    case reject_reason::age: return "quota_age";
    case reject_reason::disk: return "disk";
    case reject_reason::no_key: return "no_key";
    }
    return "disk";
}

spool::spool(spool_settings settings, std::vector<tcp::endpoint> upstream, std::shared_ptr<const config> cfg)
    : settings_(std::move(settings)), upstream_(std::move(upstream)), cfg_(std::move(cfg)) {}

spool::~spool() { stop(); }

std::string spool::start() {
    {
        std::lock_guard lk(mutex_);
        if (auto err = log_.open(settings_.dir, settings_); !err.empty()) return "spool: " + err;
        if (log_.torn_bytes())
            spdlog::warn("spool: cut a torn tail of {} bytes (a write never acknowledged)", log_.torn_bytes());
        const auto c = log_.counts();
        spdlog::info("spool: {} pending, {} dead-lettered in {} ({} segment(s))", c.pending, c.dead,
                     settings_.dir, c.segments);
    }
    replay_wake_.emplace(replay_ioc_);
    writer_ = std::thread([this] { writer_loop(); });
    net::co_spawn(replay_ioc_, replay_loop(), net::detached);
    replayer_ = std::thread([this] { replay_ioc_.run(); });
    started_ = true;
    return {};
}

void spool::stop() {
    if (!started_) return;
    started_ = false;
    {
        std::lock_guard lk(queue_mutex_);
        stopping_ = true;
    }
    queue_cv_.notify_all();
    if (writer_.joinable()) writer_.join();
    replay_ioc_.stop();
    if (replayer_.joinable()) replayer_.join();
}

void spool::submit(job j) {
    {
        std::lock_guard lk(queue_mutex_);
        if (!stopping_) {
            queue_.push_back(std::move(j));
            j.ex = {};
        }
    }
    if (j.ex) {
        // Stopping: refuse instead of leaving the caller suspended.
        if (j.is_mark)
            net::post(j.ex, [h = std::move(j.on_mark)]() mutable { std::move(h)(std::string("spool stopping")); });
        else
            net::post(j.ex, [h = std::move(j.on_ingest)]() mutable {
                std::move(h)(ingest_outcome{admit_result::accepted, 0, "spool stopping"});
            });
        return;
    }
    queue_cv_.notify_one();
}

void spool::writer_loop() {
    std::vector<job> jobs;
    for (;;) {
        {
            std::unique_lock lk(queue_mutex_);
            queue_cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping with nothing left
            // Group commit: whatever arrives within commit_interval shares the fsync.
            if (settings_.commit_interval.count() > 0 && !stopping_)
                queue_cv_.wait_for(lk, std::chrono::milliseconds(settings_.commit_interval.count()),
                                   [&] { return stopping_; });
            jobs.swap(queue_);
        }
        run_batch(jobs);
        jobs.clear();
    }
}

void spool::run_batch(std::vector<job>& jobs) {
    std::string batch;
    std::vector<ingest_outcome> outcomes(jobs.size());
    std::vector<std::string> mark_errors(jobs.size());
    std::vector<std::uint64_t> admitted;
    const std::int64_t now = now_ms();
    std::string err;
    {
        std::lock_guard lk(mutex_);
        for (std::size_t i = 0; i < jobs.size(); ++i) {
            auto& j = jobs[i];
            if (j.is_mark) {
                if (!log_.stage_mark(j.mk, batch)) mark_errors[i] = "not in a state that allows it";
                continue;
            }
            outcomes[i].what = log_.admit(j.ev, now, batch);
            outcomes[i].id = j.ev.id;
            if (outcomes[i].what == admit_result::accepted) admitted.push_back(j.ev.id);
        }
        err = log_.commit(batch);
        if (!err.empty()) {
            spdlog::error("spool: {}", err);
            for (auto id : admitted) log_.forget(id);
        } else {
            log_.compact(now);
        }
    }
    for (std::size_t i = 0; i < jobs.size(); ++i) {
        auto& j = jobs[i];
        if (j.is_mark) {
            std::string e = mark_errors[i].empty() ? err : mark_errors[i];
            net::post(j.ex, [h = std::move(j.on_mark), e = std::move(e)]() mutable { std::move(h)(std::move(e)); });
            continue;
        }
        auto o = std::move(outcomes[i]);
        if (!err.empty() && o.what == admit_result::accepted) o.error = err;
        switch (o.what) {
        case admit_result::accepted:
            if (o.error.empty())
                counters_.accepted.fetch_add(1, std::memory_order_relaxed);
            else
                counters_.rejected[static_cast<std::size_t>(reject_reason::disk)].fetch_add(1);
            break;
        case admit_result::duplicate: counters_.duplicates.fetch_add(1, std::memory_order_relaxed); break;
        case admit_result::over_bytes:
        case admit_result::over_events:
        case admit_result::over_age: {
            const auto r = o.what == admit_result::over_bytes    ? reject_reason::bytes
                           : o.what == admit_result::over_events ? reject_reason::events
                                                                 : reject_reason::age;
            counters_.rejected[static_cast<std::size_t>(r)].fetch_add(1, std::memory_order_relaxed);
            counters_.last_quota_refusal_ms.store(now, std::memory_order_relaxed);
            break;
        }
        }
        net::post(j.ex, [h = std::move(j.on_ingest), o = std::move(o)]() mutable { std::move(h)(std::move(o)); });
    }
    if (!admitted.empty() && err.empty()) wake_replay();
}

void spool::set_gate(const gate_record& r, std::shared_ptr<const config> cfg) {
    {
        std::lock_guard lk(mutex_);
        cfg_ = std::move(cfg);
    }
    const bool pass = webhooks_pass(r);
    const bool was = open_.exchange(pass);
    if (pass != was) spdlog::info("spool: replay {}", pass ? "starts: webhooks pass the gate" : "stops: webhooks are held");
    wake_replay();
}

void spool::wake_replay() {
    net::post(replay_ioc_, [this] {
        if (replay_wake_) replay_wake_->cancel();
    });
}

net::awaitable<void> spool::replay_loop() {
    // Token bucket for the rate: one token per delivery, refilled at `rate` per second,
    // holding at most `concurrency` so a pause does not turn into a burst.
    double tokens = settings_.concurrency;
    auto last = std::chrono::steady_clock::now();
    for (;;) {
        auto wait = std::chrono::milliseconds(500);
        if (open_.load()) {
            const auto t = std::chrono::steady_clock::now();
            if (settings_.rate > 0) {
                tokens = std::min<double>(settings_.concurrency,
                                          tokens + settings_.rate * std::chrono::duration<double>(t - last).count());
            }
            last = t;
            std::vector<std::uint64_t> start;
            {
                std::lock_guard lk(mutex_);
                const std::int64_t now = now_ms();
                for (auto id : log_.heads()) {
                    if (in_flight_.size() + start.size() >= settings_.concurrency) break;
                    if (settings_.rate > 0 && tokens < 1) {
                        wait = std::chrono::milliseconds(
                            std::max<std::int64_t>(1, static_cast<std::int64_t>(1000.0 / settings_.rate)));
                        break;
                    }
                    if (in_flight_.count(id)) continue;
                    const entry* e = log_.find(id);
                    if (!e || e->segment == 0) continue;  // not committed yet
                    if (auto nt = next_try_ms_.find(id); nt != next_try_ms_.end() && nt->second > now) {
                        wait = std::min(wait, std::chrono::milliseconds(nt->second - now));
                        continue;
                    }
                    start.push_back(id);
                    if (settings_.rate > 0) tokens -= 1;
                }
                for (auto id : start) in_flight_.insert(id);
            }
            for (auto id : start) net::co_spawn(replay_ioc_, deliver(id), net::detached);
        }
        replay_wake_->expires_after(wait);
        co_await replay_wake_->async_wait(use_tuple);
    }
}

net::awaitable<void> spool::deliver(std::uint64_t id) {
    std::optional<event> ev;
    std::shared_ptr<const config> cfg;
    {
        std::lock_guard lk(mutex_);
        ev = log_.load(id);
        cfg = cfg_;
    }
    delivery d;
    if (!ev) {
        d.detail = "cannot read the event back from its segment";
    } else {
        try {
            d = co_await send(*ev, upstream_, cfg, settings_.delivery_timeout);
        } catch (const std::exception& e) {
            d.detail = std::string("delivery failed: ") + e.what();
        }
    }
    auto step = classify(d);
    unsigned attempts = 0;
    {
        std::lock_guard lk(mutex_);
        if (step != next_step::done) {
            log_.note_attempt(id, d.status, d.detail);
            if (const entry* e = log_.find(id)) attempts = e->attempts;
        }
    }
    if (step == next_step::retry && attempts >= settings_.max_attempts) step = next_step::dead;
    if (step == next_step::retry) {
        // Equal jitter (AWS's "exponential backoff and jitter"): uniform in [c/2, c],
        // c = min(cap, base * 2^n): spread out, yet never a retry at once.
        const std::int64_t base = settings_.retry_base.count();
        const std::int64_t cap = settings_.retry_cap.count();
        const std::int64_t ceiling = std::min<std::int64_t>(cap, base << std::min(attempts, 30u));
        thread_local std::mt19937_64 rng{std::random_device{}()};
        const std::int64_t delay = std::uniform_int_distribution<std::int64_t>(ceiling / 2, ceiling)(rng);
        counters_.retried.fetch_add(1, std::memory_order_relaxed);
        spdlog::info("spool: event {}: {}; retry {} in {} ms", id, d.detail, attempts, delay);
        std::lock_guard lk(mutex_);
        next_try_ms_[id] = now_ms() + delay;
        in_flight_.erase(id);
    } else {
        mark m;
        m.kind = step == next_step::done ? mark_kind::done : mark_kind::dead;
        m.id = id;
        m.status = d.status;
        m.detail = step == next_step::done ? std::string{} : d.detail;
        // Durable before the next event of its key may start.
        std::string err = co_await async_mark(std::move(m), net::use_awaitable);
        if (!err.empty()) spdlog::error("spool: event {}: cannot mark it: {}", id, err);
        if (step == next_step::done)
            counters_.delivered.fetch_add(1, std::memory_order_relaxed);
        else {
            counters_.dead_lettered.fetch_add(1, std::memory_order_relaxed);
            spdlog::warn("spool: event {} dead-lettered: {}", id, d.detail);
        }
        std::lock_guard lk(mutex_);
        next_try_ms_.erase(id);
        in_flight_.erase(id);
    }
    if (replay_wake_) replay_wake_->cancel();
}

spool_status spool::status() const {
    std::lock_guard lk(mutex_);
    spool_status s;
    s.counts = log_.counts();
    s.replaying = open_.load();
    s.in_flight = in_flight_.size();
    s.torn_bytes = log_.torn_bytes();
    s.dir = settings_.dir;
    const auto last = counters_.last_quota_refusal_ms.load(std::memory_order_relaxed);
    s.quota_alert = last && now_ms() - last < 60'000;
    return s;
}

std::vector<event_info> spool::list(std::size_t n) const {
    std::lock_guard lk(mutex_);
    std::vector<event_info> out;
    for (const auto& [id, e] : log_.entries()) {
        if (out.size() >= n) break;
        if (e.st != state::pending && e.st != state::dead) continue;
        event_info i{e, in_flight_.count(id) > 0, 0};
        if (auto nt = next_try_ms_.find(id); nt != next_try_ms_.end()) i.next_try_ms = nt->second;
        out.push_back(std::move(i));
    }
    return out;
}

std::optional<event_info> spool::info(std::uint64_t id) const {
    std::lock_guard lk(mutex_);
    const entry* e = log_.find(id);
    if (!e) return std::nullopt;
    event_info i{*e, in_flight_.count(id) > 0, 0};
    if (auto nt = next_try_ms_.find(id); nt != next_try_ms_.end()) i.next_try_ms = nt->second;
    return i;
}

std::optional<event> spool::load(std::uint64_t id) const {
    std::lock_guard lk(mutex_);
    return log_.load(id);
}

std::vector<event_info> spool::next_deliveries(std::size_t n) const {
    std::lock_guard lk(mutex_);
    std::vector<event_info> out;
    for (auto id : log_.heads()) {
        if (out.size() >= n) break;
        const entry* e = log_.find(id);
        if (!e) continue;
        event_info i{*e, in_flight_.count(id) > 0, 0};
        if (auto nt = next_try_ms_.find(id); nt != next_try_ms_.end()) i.next_try_ms = nt->second;
        out.push_back(std::move(i));
    }
    return out;
}

bool spool::replay_now() {
    {
        std::lock_guard lk(mutex_);
        next_try_ms_.clear();
    }
    wake_replay();
    return open_.load();
}

std::string spool::metrics_text() const {
    const spool_status s = status();
    std::string out;
    const auto family = [&out](std::string_view name, std::string_view type, std::string_view help) {
        out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ").append(name).append(" ");
        out.append(type).append("\n");
    };
    const auto sample = [&out](std::string_view name, std::string_view labels, std::uint64_t v) {
        out.append(name);
        if (!labels.empty()) out.append("{").append(labels).append("}");
        out.append(" ").append(std::to_string(v)).append("\n");
    };
    family("maintgate_spool_events", "gauge", "Webhook events in the spool, by state.");
    sample("maintgate_spool_events", "state=\"pending\"", s.counts.pending);
    sample("maintgate_spool_events", "state=\"dead\"", s.counts.dead);
    family("maintgate_spool_bytes", "gauge", "Bytes of pending and dead-lettered events on disk.");
    sample("maintgate_spool_bytes", {}, s.counts.stored_bytes);
    family("maintgate_spool_accepted_total", "counter", "Webhook events stored and answered 202.");
    sample("maintgate_spool_accepted_total", {}, counters_.accepted.load());
    family("maintgate_spool_duplicates_total", "counter", "Duplicates answered 202 with the first id, not stored.");
    sample("maintgate_spool_duplicates_total", {}, counters_.duplicates.load());
    family("maintgate_spool_rejected_total", "counter", "Webhook requests not stored, by reason.");
    for (std::size_t i = 0; i < reject_reason_count; ++i)
        sample("maintgate_spool_rejected_total",
               "reason=\"" + std::string(to_string(static_cast<reject_reason>(i))) + "\"",
               counters_.rejected[i].load());
    family("maintgate_spool_delivered_total", "counter", "Spooled events delivered (2xx) and marked done.");
    sample("maintgate_spool_delivered_total", {}, counters_.delivered.load());
    family("maintgate_spool_retried_total", "counter", "Deliveries that failed and will be retried.");
    sample("maintgate_spool_retried_total", {}, counters_.retried.load());
    family("maintgate_spool_dead_lettered_total", "counter", "Events moved to the dead-letter list.");
    sample("maintgate_spool_dead_lettered_total", {}, counters_.dead_lettered.load());
    family("maintgate_spool_quota_alert", "gauge", "1 while a quota refused a webhook in the last 60 s.");
    sample("maintgate_spool_quota_alert", {}, s.quota_alert ? 1 : 0);
    family("maintgate_spool_replaying", "gauge", "1 while the gate lets webhooks through and replay runs.");
    sample("maintgate_spool_replaying", {}, s.replaying ? 1 : 0);
    return out;
}

}  // namespace maintgate::spool
