#include "proxy/admin/metrics.hpp"

#include <cstdio>
#include <list>

#include <spdlog/spdlog.h>

#include "proxy/http/http_date.hpp"

namespace maintgate::proxy {
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr auto linger_deadline = std::chrono::seconds(1);
constexpr std::size_t linger_max = 64 * 1024;

constexpr std::size_t stage_count = static_cast<std::size_t>(policy::stage::open) + 1;
static_assert(static_cast<std::size_t>(policy::stage::maintenance) == 0, "stages are indexed from 0");

// HELP and TYPE head every family; the texts hold no backslash or newline, so they need
// no escaping.
void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

void sample_head(std::string& out, std::string_view name, std::string_view labels) {
    out += name;
    if (!labels.empty()) {
        out += '{';
        out += labels;
        out += '}';
    }
    out += ' ';
}

void sample(std::string& out, std::string_view name, std::string_view labels, std::uint64_t v) {
    sample_head(out, name, labels);
    out += std::to_string(v);
    out += '\n';
}

// Unix milliseconds as seconds with three decimals: exact, no floating point.
void sample_ms(std::string& out, std::string_view name, std::int64_t ms) {
    sample_head(out, name, {});
    if (ms < 0) {
        out += '-';
        ms = -ms;
    }
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(ms % 1000));
    out += std::to_string(ms / 1000);
    out += frac;
    out += '\n';
}

std::int64_t unix_ms(sys_time t) {
    return std::chrono::floor<std::chrono::milliseconds>(t).time_since_epoch().count();
}

std::string label(std::string_view name, std::string_view value) {
    std::string s(name);
    s += "=\"";
    s += value;
    s += '"';
    return s;
}

std::string endpoint_text(const tcp::endpoint& ep) {
    auto a = ep.address();
    if (a.is_v6()) return "[" + a.to_string() + "]:" + std::to_string(ep.port());
    return a.to_string() + ":" + std::to_string(ep.port());
}

// Out of file descriptors or memory: accepting again at once would spin.
bool is_resource_exhaustion(const error_code& ec) noexcept {
    return ec == net::error::no_descriptors || ec == net::error::no_buffer_space ||
           ec == net::error::no_memory || ec.value() == ENFILE;
}

// A complete response; with_body false for HEAD (Content-Length still says what GET
// would send).
std::string response(unsigned status, std::string_view reason, std::string_view fields,
                     std::string_view content_type, std::string_view body, bool with_body, bool keep,
                     unsigned version) {
    std::string out = "HTTP/1.1 ";
    out += std::to_string(status);
    out += ' ';
    out += reason;
    out += "\r\n";
    out += date_field();
    out += "Content-Type: ";
    out += content_type;
    out += "\r\nContent-Length: ";
    out += std::to_string(body.size());
    out += "\r\nCache-Control: no-store\r\n";
    out += fields;
    if (!keep)
        out += "Connection: close\r\n";
    else if (version == 10)
        out += "Connection: keep-alive\r\n";
    out += "\r\n";
    if (with_body) out += body;
    return out;
}

std::string error_response(unsigned status, std::string_view reason, bool with_body = true, bool keep = false,
                           unsigned version = 11, std::string_view fields = {}) {
    std::string body(reason);
    body += '\n';
    return response(status, reason, fields, "text/plain; charset=utf-8", body, with_body, keep, version);
}

bool is_parse_error(const error_code& ec) {
    static const auto& http_category = make_error_code(http::error::end_of_stream).category();
    return ec.category() == http_category && ec != http::error::end_of_stream &&
           ec != http::error::partial_message;
}

}  // namespace

namespace {

// The counters of [hold] and [auto_read_only] are in the one list (stats.hpp) but are
// exported by render_feature_metrics, after the gate's families, so that the gate's
// rendering stays as it was.
constexpr bool is_feature_metric(std::string_view metric) noexcept {
    return metric.starts_with("maintgate_held_") || metric.starts_with("maintgate_write_") ||
           metric.starts_with("maintgate_app_read_only_");
}

}  // namespace

std::string render_metrics(const metrics_view& v) {
    std::string out;
    out.reserve(4096);
    const auto& t = v.totals;

    family(out, "maintgate_requests_total", "counter",
           "Requests by the gate mode they were decided in and the gate's decision.");
    for (std::size_t m = 0; m < mode_count; ++m) {
        auto mode_label = label("mode", policy::to_string(static_cast<policy::mode>(m)));
        for (std::size_t d = 0; d < verdict_count; ++d)
            sample(out, "maintgate_requests_total",
                   mode_label + "," + label("decision", policy::to_string(static_cast<policy::verdict>(d))),
                   t.decisions[m][d]);
    }

    // Started is read after finished, so it is never behind; the guard keeps a broken
    // sum from showing as 2^64.
    auto in_flight = [](std::uint64_t started, std::uint64_t finished) {
        return started >= finished ? started - finished : 0;
    };
    family(out, "maintgate_in_flight_requests", "gauge",
           "Forwarded requests not yet finished upstream, by kind.");
#define MAINTGATE_X(label, prefix)                                     \
    sample(out, "maintgate_in_flight_requests", "kind=\"" #label "\"", \
           in_flight(t.prefix##_started, t.prefix##_finished));
    MAINTGATE_IN_FLIGHT_KINDS(MAINTGATE_X)
#undef MAINTGATE_X

#define MAINTGATE_X(name, metric, help)       \
    if (!is_feature_metric(metric)) {         \
        family(out, metric, "counter", help); \
        sample(out, metric, {}, t.name);      \
    }
    MAINTGATE_WORKER_COUNTERS(MAINTGATE_X)
#undef MAINTGATE_X
    family(out, "maintgate_banners_skipped_total", "counter",
           "Navigations relayed without the maintenance window's banner, by reason.");
    for (std::size_t i = 0; i < banner_skip_count; ++i)
        sample(out, "maintgate_banners_skipped_total", label("reason", to_string(static_cast<banner_skip>(i))),
               t.banner_skipped[i]);

    family(out, "maintgate_mode", "gauge", "The gate's mode: 1 for the current one.");
    for (std::size_t m = 0; m < mode_count; ++m) {
        auto mode = static_cast<policy::mode>(m);
        sample(out, "maintgate_mode", label("mode", policy::to_string(mode)), mode == v.mode ? 1 : 0);
    }
    family(out, "maintgate_stage", "gauge", "The stage of the staged reopen: 1 for the current one.");
    for (std::size_t s = 0; s < stage_count; ++s) {
        auto stage = static_cast<policy::stage>(s);
        sample(out, "maintgate_stage", label("stage", policy::to_string(stage)), stage == v.stage ? 1 : 0);
    }
    family(out, "maintgate_write_fence", "gauge", "1 while the write fence set by freeze is up.");
    sample(out, "maintgate_write_fence", {}, v.fenced ? 1 : 0);

    if (t.last_write_done_ms != 0) {
        family(out, "maintgate_last_write_completed_timestamp_seconds", "gauge",
               "When the last forwarded write finished upstream, in unix time.");
        sample_ms(out, "maintgate_last_write_completed_timestamp_seconds", t.last_write_done_ms);
    }
    if (v.last_write_boundary_ms) {
        family(out, "maintgate_last_write_boundary_timestamp_seconds", "gauge",
               "The write boundary reported by the last freeze, in unix time.");
        sample_ms(out, "maintgate_last_write_boundary_timestamp_seconds", *v.last_write_boundary_ms);
    }
    family(out, "maintgate_stage_since_timestamp_seconds", "gauge",
           "When the current stage began, in unix time.");
    sample_ms(out, "maintgate_stage_since_timestamp_seconds", unix_ms(v.stage_since));

    if (v.upstream_healthy) {
        family(out, "maintgate_upstream_healthy", "gauge", "1 when the last upstream health check passed.");
        sample(out, "maintgate_upstream_healthy", {}, *v.upstream_healthy ? 1 : 0);
    }
    if (v.last_health_check) {
        family(out, "maintgate_last_health_check_timestamp_seconds", "gauge",
               "When the upstream health check last ran, in unix time.");
        sample_ms(out, "maintgate_last_health_check_timestamp_seconds", unix_ms(*v.last_health_check));
    }
    family(out, "maintgate_connections", "gauge", "Open client connections.");
    sample(out, "maintgate_connections", {}, v.connections);
    out += v.extra;
    out += v.windows;
    out += v.hooks;
    return out;
}

std::string render_feature_metrics(const stats_totals& t) {
    std::string out;
#define MAINTGATE_X(name, metric, help)       \
    if (is_feature_metric(metric)) {          \
        family(out, metric, "counter", help); \
        sample(out, metric, {}, t.name);      \
    }
    MAINTGATE_WORKER_COUNTERS(MAINTGATE_X)
#undef MAINTGATE_X
    family(out, "maintgate_held_writes", "gauge", "Writes held now during a freeze ([hold]).");
    sample(out, "maintgate_held_writes", {}, t.writes_held());
    return out;
}

// What the listener and its coroutines share. The coroutines hold it by shared_ptr, so
// a listener destroyed while they unwind leaves them nothing dangling.
struct metrics_listener::state {
    state(net::io_context& ioc, std::function<metrics_view()> snapshot, std::chrono::milliseconds idle)
        : ioc(ioc), acceptor(ioc), snapshot(std::move(snapshot)), idle_timeout(idle) {}

    net::io_context& ioc;
    tcp::acceptor acceptor;
    std::function<metrics_view()> snapshot;
    std::chrono::milliseconds idle_timeout;
    std::size_t open = 0;  // connections accepted and not yet closed
    std::list<beast::tcp_stream*> connections;  // for stop(); only touched on ioc's thread
    bool stopped = false;

    void close_all() {
        stopped = true;
        error_code ignored;
        acceptor.close(ignored);
        for (auto* s : connections) s->close();
    }

    static net::awaitable<void> accept_loop(std::shared_ptr<state> self);
    static net::awaitable<void> serve(std::shared_ptr<state> self, tcp::socket socket);
    static net::awaitable<void> linger_close(beast::tcp_stream& stream);
};

net::awaitable<void> metrics_listener::state::accept_loop(std::shared_ptr<state> self) {
    net::steady_timer pause(self->ioc);
    auto last_warning = std::chrono::steady_clock::time_point{};
    for (;;) {
        auto [ec, socket] = co_await self->acceptor.async_accept(use_tuple);
        if (self->stopped || ec == net::error::operation_aborted || ec == net::error::bad_descriptor) break;
        if (ec) {
            if (is_resource_exhaustion(ec)) {
                pause.expires_after(std::chrono::milliseconds(100));
                co_await pause.async_wait(use_tuple);
            }
            continue;
        }
        // A scraper that leaks connections must not take the admin thread's descriptors.
        if (self->open >= max_connections) {
            auto now = std::chrono::steady_clock::now();
            if (now - last_warning >= std::chrono::seconds(5)) {
                last_warning = now;
                spdlog::warn("metrics: {} connections open; closing new ones", max_connections);
            }
            error_code ignored;
            socket.close(ignored);
            continue;
        }
        ++self->open;  // counted here, not in serve(), which starts only after this loop yields
        net::co_spawn(self->ioc, serve(self, std::move(socket)), net::detached);
    }
}

net::awaitable<void> metrics_listener::state::linger_close(beast::tcp_stream& stream) {
    // Unread request bytes would make close() send a RST that can destroy the reply
    // before the client reads it: half-close, then drain briefly.
    error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) co_return;
    stream.expires_after(linger_deadline);
    char sink[4096];
    std::size_t drained = 0;
    while (drained < linger_max) {
        auto [rec, n] = co_await stream.async_read_some(net::buffer(sink), use_tuple);
        if (rec) break;
        drained += n;
    }
}

net::awaitable<void> metrics_listener::state::serve(std::shared_ptr<state> self, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    auto self_link = self->connections.insert(self->connections.end(), &stream);
    struct unlink {
        state& s;
        std::list<beast::tcp_stream*>::iterator it;
        ~unlink() {
            s.connections.erase(it);
            --s.open;
        }
    } guard{*self, self_link};
    if (self->stopped) co_return;

    // Twice the head limit: the parser reports header_limit before the buffer is full.
    beast::flat_buffer buffer(2 * max_head_size);
    for (;;) {
        http::request_parser<http::empty_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(max_head_size));
        // One deadline for idling and for the head that follows: a client trickling
        // bytes cannot hold the connection past it.
        stream.expires_after(self->idle_timeout);
        auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
        std::string reply;
        bool keep = false;
        if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
            reply = error_response(431, "Request Header Fields Too Large");
        } else if (is_parse_error(ec)) {
            reply = error_response(400, "Bad Request");
        } else if (ec) {
            break;  // closed, timed out, stopped
        } else {
            const auto& req = parser.get();
            auto target = req.target();
            auto path = target.substr(0, target.find('?'));
            bool head = req.method() == http::verb::head;
            keep = parser.keep_alive() && !self->stopped;
            auto cl = parser.content_length();
            if (parser.chunked() || (cl && *cl > 0)) {
                // Nothing here takes a body; reading one to keep the connection is not worth it.
                keep = false;
                reply = error_response(413, "Content Too Large");
            } else if (path != "/metrics") {
                reply = error_response(404, "Not Found", !head, keep, req.version());
            } else if (!head && req.method() != http::verb::get) {
                reply = error_response(405, "Method Not Allowed", true, keep, req.version(),
                                       "Allow: GET, HEAD\r\n");
            } else {
                reply = response(200, "OK", {}, "text/plain; version=0.0.4; charset=utf-8",
                                 render_metrics(self->snapshot()), !head, keep, req.version());
            }
        }
        stream.expires_after(self->idle_timeout);
        auto [wec, wn] = co_await net::async_write(stream, net::buffer(reply), use_tuple);
        if (wec) break;
        if (!keep) {
            co_await linger_close(stream);
            break;
        }
    }
    error_code ignored;
    stream.socket().close(ignored);
}

metrics_listener::metrics_listener(net::io_context& ioc, std::function<metrics_view()> snapshot,
                                   std::chrono::milliseconds idle_timeout)
    : ioc_(ioc), state_(std::make_shared<state>(ioc, std::move(snapshot), idle_timeout)) {}

metrics_listener::~metrics_listener() { stop(); }

std::string metrics_listener::listen(const std::string& host, std::uint16_t port) {
    std::string where = host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                                            : host + ":" + std::to_string(port);
    error_code ec;
    auto address = net::ip::make_address(host, ec);
    if (ec) return "metrics listener " + where + ": invalid address: " + ec.message();
    tcp::endpoint ep(address, port);
    auto& a = state_->acceptor;
    if (a.is_open()) a.close(ec);
    a.open(ep.protocol(), ec);
    if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec && ep.address().is_v6()) a.set_option(net::ip::v6_only(true), ec);
    if (!ec) a.bind(ep, ec);
    if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
        error_code ignored;
        a.close(ignored);
        return "metrics listener " + where + ": cannot listen: " + ec.message();
    }
    spdlog::info("metrics listening on {}", endpoint_text(a.local_endpoint()));
    return {};
}

tcp::endpoint metrics_listener::local_endpoint() const {
    error_code ec;
    auto ep = state_->acceptor.local_endpoint(ec);
    return ec ? tcp::endpoint{} : ep;
}

void metrics_listener::start() { net::co_spawn(ioc_, state::accept_loop(state_), net::detached); }

void metrics_listener::stop() {
    net::dispatch(ioc_, [s = state_] { s->close_all(); });
}

}  // namespace maintgate::proxy
