#include "proxy/admin/metrics.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace maintgate;
using namespace maintgate::proxy;
using namespace std::chrono;

namespace {

std::size_t idx(policy::mode m) { return static_cast<std::size_t>(m); }
std::size_t idx(policy::verdict v) { return static_cast<std::size_t>(v); }

maintgate::sys_time from_unix_ms(std::int64_t ms) { return maintgate::sys_time{milliseconds{ms}}; }

// A busy gate in read-only mode with every optional gauge known.
metrics_view busy_view() {
    metrics_view v;
    auto& d = v.totals.decisions;
    d[idx(policy::mode::open)][idx(policy::verdict::forward)] = 120;
    d[idx(policy::mode::open)][idx(policy::verdict::status)] = 2;
    d[idx(policy::mode::open)][idx(policy::verdict::deny_method)] = 3;
    d[idx(policy::mode::read_only)][idx(policy::verdict::forward)] = 40;
    d[idx(policy::mode::read_only)][idx(policy::verdict::refuse_write)] = 7;
    d[idx(policy::mode::maintenance)][idx(policy::verdict::maintenance)] = 30;
    d[idx(policy::mode::maintenance)][idx(policy::verdict::grant_bypass)] = 1;
    v.totals.reads_started = 10;
    v.totals.reads_finished = 8;
    v.totals.writes_started = 5;
    v.totals.writes_finished = 4;
    v.totals.refused_writes = 7;
    v.totals.upstream_responses = 158;
    v.totals.upstream_5xx = 4;
    v.totals.upstream_errors = 2;
    v.totals.last_write_done_ms = 1'795'317'000'123;
    v.mode = policy::mode::read_only;
    v.stage = policy::stage::read_only;
    v.fenced = true;
    v.connections = 12;
    v.upstream_healthy = false;
    v.last_health_check = from_unix_ms(1'795'317'100'456) + microseconds{999};
    v.last_write_boundary_ms = 1'795'316'999'999;
    v.stage_since = from_unix_ms(1'795'316'000'000);
    return v;
}

const char* const busy_text =
    "# HELP maintgate_requests_total Requests by the gate mode they were decided in and the gate's decision.\n"
    "# TYPE maintgate_requests_total counter\n"
    "maintgate_requests_total{mode=\"open\",decision=\"forward\"} 120\n"
    "maintgate_requests_total{mode=\"open\",decision=\"refuse-write\"} 0\n"
    "maintgate_requests_total{mode=\"open\",decision=\"maintenance\"} 0\n"
    "maintgate_requests_total{mode=\"open\",decision=\"status\"} 2\n"
    "maintgate_requests_total{mode=\"open\",decision=\"grant-bypass\"} 0\n"
    "maintgate_requests_total{mode=\"open\",decision=\"deny-method\"} 3\n"
    "maintgate_requests_total{mode=\"read-only\",decision=\"forward\"} 40\n"
    "maintgate_requests_total{mode=\"read-only\",decision=\"refuse-write\"} 7\n"
    "maintgate_requests_total{mode=\"read-only\",decision=\"maintenance\"} 0\n"
    "maintgate_requests_total{mode=\"read-only\",decision=\"status\"} 0\n"
    "maintgate_requests_total{mode=\"read-only\",decision=\"grant-bypass\"} 0\n"
    "maintgate_requests_total{mode=\"read-only\",decision=\"deny-method\"} 0\n"
    "maintgate_requests_total{mode=\"maintenance\",decision=\"forward\"} 0\n"
    "maintgate_requests_total{mode=\"maintenance\",decision=\"refuse-write\"} 0\n"
    "maintgate_requests_total{mode=\"maintenance\",decision=\"maintenance\"} 30\n"
    "maintgate_requests_total{mode=\"maintenance\",decision=\"status\"} 0\n"
    "maintgate_requests_total{mode=\"maintenance\",decision=\"grant-bypass\"} 1\n"
    "maintgate_requests_total{mode=\"maintenance\",decision=\"deny-method\"} 0\n"
    "# HELP maintgate_in_flight_requests Forwarded requests not yet finished upstream, by kind.\n"
    "# TYPE maintgate_in_flight_requests gauge\n"
    "maintgate_in_flight_requests{kind=\"read\"} 2\n"
    "maintgate_in_flight_requests{kind=\"write\"} 1\n"
    "# HELP maintgate_refused_writes_total Writes and held webhooks refused with 503.\n"
    "# TYPE maintgate_refused_writes_total counter\n"
    "maintgate_refused_writes_total 7\n"
    "# HELP maintgate_upstream_responses_total Final responses relayed from the upstream.\n"
    "# TYPE maintgate_upstream_responses_total counter\n"
    "maintgate_upstream_responses_total 158\n"
    "# HELP maintgate_upstream_5xx_responses_total Final responses from the upstream with a 5xx status.\n"
    "# TYPE maintgate_upstream_5xx_responses_total counter\n"
    "maintgate_upstream_5xx_responses_total 4\n"
    "# HELP maintgate_upstream_errors_total Requests answered locally with 502 or 504 because the upstream failed.\n"
    "# TYPE maintgate_upstream_errors_total counter\n"
    "maintgate_upstream_errors_total 2\n"
    "# HELP maintgate_banners_inserted_total HTML pages relayed with the maintenance window's banner.\n"
    "# TYPE maintgate_banners_inserted_total counter\n"
    "maintgate_banners_inserted_total 0\n"
    "# HELP maintgate_banners_skipped_total Navigations relayed without the maintenance window's banner, by reason.\n"
    "# TYPE maintgate_banners_skipped_total counter\n"
    "maintgate_banners_skipped_total{reason=\"dismissed\"} 0\n"
    "maintgate_banners_skipped_total{reason=\"route\"} 0\n"
    "maintgate_banners_skipped_total{reason=\"status\"} 0\n"
    "maintgate_banners_skipped_total{reason=\"not_html\"} 0\n"
    "maintgate_banners_skipped_total{reason=\"no_transform\"} 0\n"
    "maintgate_banners_skipped_total{reason=\"encoded\"} 0\n"
    "maintgate_banners_skipped_total{reason=\"no_body_tag\"} 0\n"
    "# HELP maintgate_mode The gate's mode: 1 for the current one.\n"
    "# TYPE maintgate_mode gauge\n"
    "maintgate_mode{mode=\"open\"} 0\n"
    "maintgate_mode{mode=\"read-only\"} 1\n"
    "maintgate_mode{mode=\"maintenance\"} 0\n"
    "# HELP maintgate_stage The stage of the staged reopen: 1 for the current one.\n"
    "# TYPE maintgate_stage gauge\n"
    "maintgate_stage{stage=\"maintenance\"} 0\n"
    "maintgate_stage{stage=\"operators\"} 0\n"
    "maintgate_stage{stage=\"read-only\"} 1\n"
    "maintgate_stage{stage=\"writes\"} 0\n"
    "maintgate_stage{stage=\"open\"} 0\n"
    "# HELP maintgate_write_fence 1 while the write fence set by freeze is up.\n"
    "# TYPE maintgate_write_fence gauge\n"
    "maintgate_write_fence 1\n"
    "# HELP maintgate_last_write_completed_timestamp_seconds When the last forwarded write finished upstream, in unix time.\n"
    "# TYPE maintgate_last_write_completed_timestamp_seconds gauge\n"
    "maintgate_last_write_completed_timestamp_seconds 1795317000.123\n"
    "# HELP maintgate_last_write_boundary_timestamp_seconds The write boundary reported by the last freeze, in unix time.\n"
    "# TYPE maintgate_last_write_boundary_timestamp_seconds gauge\n"
    "maintgate_last_write_boundary_timestamp_seconds 1795316999.999\n"
    "# HELP maintgate_stage_since_timestamp_seconds When the current stage began, in unix time.\n"
    "# TYPE maintgate_stage_since_timestamp_seconds gauge\n"
    "maintgate_stage_since_timestamp_seconds 1795316000.000\n"
    "# HELP maintgate_upstream_healthy 1 when the last upstream health check passed.\n"
    "# TYPE maintgate_upstream_healthy gauge\n"
    "maintgate_upstream_healthy 0\n"
    "# HELP maintgate_last_health_check_timestamp_seconds When the upstream health check last ran, in unix time.\n"
    "# TYPE maintgate_last_health_check_timestamp_seconds gauge\n"
    "maintgate_last_health_check_timestamp_seconds 1795317100.456\n"
    "# HELP maintgate_connections Open client connections.\n"
    "# TYPE maintgate_connections gauge\n"
    "maintgate_connections 12\n";

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

bool has_line(const std::string& text, const std::string& line) {
    for (const auto& l : lines_of(text))
        if (l == line) return true;
    return false;
}

// The exposition format's structure: every sample belongs to the family whose HELP and
// TYPE came just before it, each family appears once, and the text ends in a newline.
void check_well_formed(const std::string& text) {
    REQUIRE(!text.empty());
    CHECK(text.back() == '\n');
    std::set<std::string> families;
    std::string current;
    std::string help_for;
    for (const auto& line : lines_of(text)) {
        INFO(line);
        if (line.rfind("# HELP ", 0) == 0) {
            help_for = line.substr(7, line.find(' ', 7) - 7);
            CHECK(families.insert(help_for).second);
            continue;
        }
        if (line.rfind("# TYPE ", 0) == 0) {
            auto rest = line.substr(7);
            auto name = rest.substr(0, rest.find(' '));
            auto type = rest.substr(rest.find(' ') + 1);
            CHECK(name == help_for);
            CHECK((type == "counter" || type == "gauge"));
            if (type == "counter") CHECK(name.substr(name.size() - 6) == "_total");
            current = name;
            continue;
        }
        auto name = line.substr(0, line.find_first_of("{ "));
        CHECK(name == current);
        auto value = line.substr(line.rfind(' ') + 1);
        CHECK(!value.empty());
        CHECK(value.find_first_not_of("0123456789.") == std::string::npos);
    }
}

}  // namespace

TEST_CASE("metrics: exact rendering of a busy gate", "[metrics]") {
    const auto text = render_metrics(busy_view());
    CHECK(text == busy_text);
    check_well_formed(text);
}

TEST_CASE("metrics: unknown gauges are omitted, every request series is present", "[metrics]") {
    metrics_view v;  // open, nothing counted, nothing known
    const auto text = render_metrics(v);
    check_well_formed(text);

    CHECK(text.find("maintgate_last_write_completed_timestamp_seconds") == std::string::npos);
    CHECK(text.find("maintgate_last_write_boundary_timestamp_seconds") == std::string::npos);
    CHECK(text.find("maintgate_upstream_healthy") == std::string::npos);
    CHECK(text.find("maintgate_last_health_check_timestamp_seconds") == std::string::npos);

    std::size_t series = 0;
    for (const char* mode : {"open", "read-only", "maintenance"})
        for (const char* decision :
             {"forward", "refuse-write", "maintenance", "status", "grant-bypass", "deny-method"}) {
            const std::string line = std::string("maintgate_requests_total{mode=\"") + mode +
                                     "\",decision=\"" + decision + "\"} 0";
            INFO(line);
            CHECK(has_line(text, line));
            ++series;
        }
    CHECK(series == 18);
    std::size_t request_lines = 0;
    for (const auto& l : lines_of(text))
        if (l.rfind("maintgate_requests_total{", 0) == 0) ++request_lines;
    CHECK(request_lines == 18);

    CHECK(has_line(text, "maintgate_mode{mode=\"open\"} 1"));
    CHECK(has_line(text, "maintgate_mode{mode=\"maintenance\"} 0"));
    CHECK(has_line(text, "maintgate_stage{stage=\"open\"} 1"));
    CHECK(has_line(text, "maintgate_stage{stage=\"maintenance\"} 0"));
    CHECK(has_line(text, "maintgate_write_fence 0"));
    CHECK(has_line(text, "maintgate_stage_since_timestamp_seconds 0.000"));
    CHECK(has_line(text, "maintgate_connections 0"));

    // Each optional gauge appears on its own when known.
    v.upstream_healthy = true;
    auto with_health = render_metrics(v);
    CHECK(has_line(with_health, "maintgate_upstream_healthy 1"));
    CHECK(with_health.find("maintgate_last_health_check_timestamp_seconds") == std::string::npos);
    v.totals.last_write_done_ms = 5;
    CHECK(has_line(render_metrics(v), "maintgate_last_write_completed_timestamp_seconds 0.005"));
}

TEST_CASE("metrics: a maintenance gate in the operators stage", "[metrics]") {
    metrics_view v;
    v.mode = policy::mode::maintenance;
    v.stage = policy::stage::operators;
    v.totals.writes_started = 3;
    v.totals.writes_finished = 4;  // never shown as 2^64 - 1
    const auto text = render_metrics(v);
    CHECK(has_line(text, "maintgate_mode{mode=\"open\"} 0"));
    CHECK(has_line(text, "maintgate_mode{mode=\"read-only\"} 0"));
    CHECK(has_line(text, "maintgate_mode{mode=\"maintenance\"} 1"));
    CHECK(has_line(text, "maintgate_stage{stage=\"maintenance\"} 0"));
    CHECK(has_line(text, "maintgate_stage{stage=\"operators\"} 1"));
    CHECK(has_line(text, "maintgate_stage{stage=\"open\"} 0"));
    CHECK(has_line(text, "maintgate_in_flight_requests{kind=\"write\"} 0"));
}

namespace {

// A blocking client over plain POSIX sockets with a receive timeout, so a server that
// never answers fails the test instead of hanging it.
struct client {
    int fd = -1;
    std::string pending;

    struct response {
        int status = 0;
        std::map<std::string, std::string> fields;  // lower-case names
        std::string body;
        std::string field(const std::string& name) const {
            auto it = fields.find(name);
            return it == fields.end() ? std::string{} : it->second;
        }
    };

    explicit client(const tcp::endpoint& ep) {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        timeval tv{5, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(ep.port());
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    ~client() {
        if (fd >= 0) ::close(fd);
    }
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    bool connected = false;

    bool send(std::string_view s) {
        while (!s.empty()) {
            ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            s.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    bool fill() {
        char buf[16384];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return false;
        pending.append(buf, static_cast<std::size_t>(n));
        return true;
    }

    // One response; the body is read only when with_body (not after HEAD).
    std::optional<response> read(bool with_body = true) {
        std::size_t end;
        while ((end = pending.find("\r\n\r\n")) == std::string::npos)
            if (!fill()) return std::nullopt;
        response r;
        std::string head = pending.substr(0, end + 2);
        pending.erase(0, end + 4);
        if (head.rfind("HTTP/1.1 ", 0) != 0) return std::nullopt;
        r.status = std::stoi(head.substr(9, 3));
        std::size_t pos = head.find("\r\n") + 2;
        while (pos < head.size()) {
            auto eol = head.find("\r\n", pos);
            auto line = head.substr(pos, eol - pos);
            auto colon = line.find(':');
            std::string name = line.substr(0, colon);
            for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            r.fields[name] = line.substr(colon + 2);
            pos = eol + 2;
        }
        if (with_body) {
            std::size_t length = std::stoul(r.field("content-length"));
            while (pending.size() < length)
                if (!fill()) return std::nullopt;
            r.body = pending.substr(0, length);
            pending.erase(0, length);
        }
        return r;
    }

    // True when the server closed the connection (EOF or reset) before sending anything
    // more; false on data or when the receive timeout ran out.
    bool closed() {
        if (!pending.empty()) return false;
        char c;
        ssize_t n = ::recv(fd, &c, 1, 0);
        return n == 0 || (n < 0 && errno == ECONNRESET);
    }
};

// The listener on 127.0.0.1:0 with its io_context run by a thread, as the admin thread
// would run it.
struct server {
    net::io_context ioc;
    std::mutex mutex;
    metrics_view view = busy_view();
    std::atomic<int> scrapes{0};
    metrics_listener listener;
    std::thread thread;

    explicit server(milliseconds idle = seconds(10))
        : listener(
              ioc,
              [this] {
                  ++scrapes;
                  std::lock_guard lock(mutex);
                  return view;
              },
              idle) {
        REQUIRE(listener.listen("127.0.0.1", 0) == "");
        REQUIRE(listener.local_endpoint().port() != 0);
        listener.start();
        thread = std::thread([this] { ioc.run(); });
    }
    ~server() {
        listener.stop();
        if (thread.joinable()) thread.join();
    }
    void set_view(const metrics_view& v) {
        std::lock_guard lock(mutex);
        view = v;
    }
    tcp::endpoint endpoint() const { return listener.local_endpoint(); }
};

const std::string get_metrics = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

}  // namespace

TEST_CASE("metrics listener: GET /metrics serves the rendering, fresh each time", "[metrics]") {
    server s;
    client c(s.endpoint());
    REQUIRE(c.connected);
    REQUIRE(c.send(get_metrics));
    auto r = c.read();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->field("content-type") == "text/plain; version=0.0.4; charset=utf-8");
    CHECK(r->body == busy_text);
    CHECK(r->field("content-length") == std::to_string(r->body.size()));
    CHECK(r->field("connection") == "");
    CHECK(!r->field("date").empty());
    CHECK(s.scrapes == 1);

    // A second request on the same connection sees the state as it is now.
    metrics_view changed = busy_view();
    changed.connections = 99;
    s.set_view(changed);
    REQUIRE(c.send("GET /metrics?name[]=x HTTP/1.1\r\nHost: x\r\n\r\n"));
    r = c.read();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == render_metrics(changed));
    CHECK(has_line(r->body, "maintgate_connections 99"));
    CHECK(s.scrapes == 2);
}

TEST_CASE("metrics listener: HEAD has the length and no body", "[metrics]") {
    server s;
    client c(s.endpoint());
    REQUIRE(c.connected);
    REQUIRE(c.send("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c.read(false);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->field("content-length") == std::to_string(std::string(busy_text).size()));
    CHECK(r->field("content-type") == "text/plain; version=0.0.4; charset=utf-8");
    // Had a body followed, this response would not start where the next one does.
    REQUIRE(c.send(get_metrics));
    r = c.read();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == busy_text);
}

TEST_CASE("metrics listener: other paths 404, other methods 405, the connection stays", "[metrics]") {
    server s;
    client c(s.endpoint());
    REQUIRE(c.connected);
    for (const char* target : {"/other", "/", "/metrics/", "/metricsx", "/Metrics"}) {
        INFO(target);
        REQUIRE(c.send(std::string("GET ") + target + " HTTP/1.1\r\nHost: x\r\n\r\n"));
        auto r = c.read();
        REQUIRE(r);
        CHECK(r->status == 404);
        CHECK(r->field("connection") == "");
    }
    for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "get"}) {
        INFO(method);
        REQUIRE(c.send(std::string(method) + " /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
        auto r = c.read();
        REQUIRE(r);
        CHECK(r->status == 405);
        CHECK(r->field("allow") == "GET, HEAD");
    }
    REQUIRE(c.send(get_metrics));
    auto r = c.read();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(s.scrapes == 1);  // no snapshot for the refused requests
}

TEST_CASE("metrics listener: two requests on one keep-alive connection, sent together", "[metrics]") {
    server s;
    client c(s.endpoint());
    REQUIRE(c.connected);
    REQUIRE(c.send(get_metrics + "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" + get_metrics));
    auto a = c.read();
    auto b = c.read();
    auto d = c.read();
    REQUIRE(a);
    REQUIRE(b);
    REQUIRE(d);
    CHECK(a->status == 200);
    CHECK(b->status == 404);
    CHECK(d->status == 200);
    CHECK(a->body == busy_text);
    CHECK(d->body == busy_text);
}

TEST_CASE("metrics listener: an over-long head is answered 431 and closed", "[metrics]") {
    server s;
    client c(s.endpoint());
    REQUIRE(c.connected);
    REQUIRE(c.send("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Long: " + std::string(9000, 'a') + "\r\n\r\n"));
    auto r = c.read();
    REQUIRE(r);
    CHECK(r->status == 431);
    CHECK(r->field("connection") == "close");
    CHECK(c.closed());

    // Just under the limit is fine.
    client ok(s.endpoint());
    REQUIRE(ok.connected);
    REQUIRE(ok.send("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Long: " + std::string(7000, 'a') + "\r\n\r\n"));
    r = ok.read();
    REQUIRE(r);
    CHECK(r->status == 200);
}

TEST_CASE("metrics listener: request bodies are refused with 413 and a close", "[metrics]") {
    server s;
    SECTION("Content-Length") {
        client c(s.endpoint());
        REQUIRE(c.connected);
        REQUIRE(c.send("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"));
        auto r = c.read();
        REQUIRE(r);
        CHECK(r->status == 413);
        CHECK(r->field("connection") == "close");
        CHECK(c.closed());
    }
    SECTION("chunked") {
        client c(s.endpoint());
        REQUIRE(c.connected);
        REQUIRE(c.send(
            "POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
        auto r = c.read();
        REQUIRE(r);
        CHECK(r->status == 413);
        CHECK(c.closed());
    }
    CHECK(s.scrapes == 0);
}

TEST_CASE("metrics listener: a malformed head is answered 400 and closed", "[metrics]") {
    server s;
    client c(s.endpoint());
    REQUIRE(c.connected);
    REQUIRE(c.send("GET /metrics NOT-HTTP\r\n\r\n"));
    auto r = c.read();
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(c.closed());
}

TEST_CASE("metrics listener: HTTP/1.0 closes unless it asks for keep-alive", "[metrics]") {
    server s;
    {
        client c(s.endpoint());
        REQUIRE(c.connected);
        REQUIRE(c.send("GET /metrics HTTP/1.0\r\n\r\n"));
        auto r = c.read();
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->field("connection") == "close");
        CHECK(c.closed());
    }
    {
        client c(s.endpoint());
        REQUIRE(c.connected);
        REQUIRE(c.send("GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        auto r = c.read();
        REQUIRE(r);
        CHECK(r->field("connection") == "keep-alive");
        REQUIRE(c.send("GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n"));
        r = c.read();
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->field("connection") == "close");
        CHECK(c.closed());
    }
}

TEST_CASE("metrics listener: an idle connection is closed after the idle timeout", "[metrics]") {
    server s(milliseconds(200));
    client c(s.endpoint());
    REQUIRE(c.connected);
    REQUIRE(c.send(get_metrics));
    REQUIRE(c.read());
    const auto start = steady_clock::now();
    CHECK(c.closed());
    const auto waited = steady_clock::now() - start;
    CHECK(waited >= milliseconds(150));
    CHECK(waited < seconds(4));

    // A head that never ends is cut by the same deadline.
    client slow(s.endpoint());
    REQUIRE(slow.connected);
    REQUIRE(slow.send("GET /metrics HTTP/1.1\r\n"));
    CHECK(slow.closed());
}

TEST_CASE("metrics listener: past 64 connections a new one is closed; a freed slot is usable", "[metrics]") {
    server s;
    std::vector<std::unique_ptr<client>> clients;
    for (std::size_t i = 0; i < metrics_listener::max_connections; ++i) {
        clients.push_back(std::make_unique<client>(s.endpoint()));
        REQUIRE(clients.back()->connected);
        // Served, so surely counted before the next one arrives.
        REQUIRE(clients.back()->send(get_metrics));
        auto r = clients.back()->read();
        REQUIRE(r);
        REQUIRE(r->status == 200);
    }
    client extra(s.endpoint());
    REQUIRE(extra.connected);  // the kernel completes the handshake; the listener closes it
    CHECK(extra.closed());

    // The open ones still work.
    REQUIRE(clients.front()->send(get_metrics));
    REQUIRE(clients.front()->read());

    clients.pop_back();
    bool served = false;
    for (int attempt = 0; attempt < 100 && !served; ++attempt) {
        client again(s.endpoint());
        if (again.connected && again.send(get_metrics)) {
            auto r = again.read();
            served = r && r->status == 200;
        }
        if (!served) std::this_thread::sleep_for(milliseconds(20));
    }
    CHECK(served);
}

TEST_CASE("metrics listener: stop closes the acceptor and open connections", "[metrics]") {
    server s;
    const auto ep = s.endpoint();
    client c(ep);
    REQUIRE(c.connected);
    REQUIRE(c.send(get_metrics));
    REQUIRE(c.read());

    s.listener.stop();  // from another thread than the io_context's
    CHECK(c.closed());
    s.thread.join();  // nothing left to run: every coroutine has finished
    client late(ep);
    CHECK(!late.connected);
}

TEST_CASE("metrics listener: destroyed while connections are open, from another thread", "[metrics]") {
    net::io_context ioc;
    auto listener = std::make_unique<metrics_listener>(ioc, [] { return busy_view(); });
    REQUIRE(listener->listen("127.0.0.1", 0) == "");
    const auto ep = listener->local_endpoint();
    listener->start();
    std::thread thread([&] { ioc.run(); });

    client idle(ep);
    REQUIRE(idle.connected);
    REQUIRE(idle.send(get_metrics));
    REQUIRE(idle.read());
    client mid_head(ep);
    REQUIRE(mid_head.connected);
    REQUIRE(mid_head.send("GET /metrics HTTP/1.1\r\n"));

    // The coroutines still hold what they share with the listener; they end on their own.
    listener.reset();
    CHECK(idle.closed());
    CHECK(mid_head.closed());
    thread.join();
    client late(ep);
    CHECK(!late.connected);
}

TEST_CASE("metrics listener: listen reports what failed", "[metrics]") {
    net::io_context ioc;
    metrics_listener a(ioc, [] { return metrics_view{}; });
    REQUIRE(a.listen("127.0.0.1", 0) == "");
    const auto port = a.local_endpoint().port();

    metrics_listener b(ioc, [] { return metrics_view{}; });
    const auto busy = b.listen("127.0.0.1", port);
    CHECK(busy.rfind("metrics listener 127.0.0.1:" + std::to_string(port) + ": cannot listen: ", 0) == 0);
    CHECK(b.local_endpoint() == tcp::endpoint{});

    const auto bad = b.listen("localhost", 9180);
    CHECK(bad.rfind("metrics listener localhost:9180: invalid address: ", 0) == 0);

    metrics_listener v6(ioc, [] { return metrics_view{}; });
    const auto v6_err = v6.listen("::1", 0);
    // Hosts without IPv6 say so; with it, the listener binds.
    if (v6_err.empty())
        CHECK(v6.local_endpoint().address().is_v6());
    else
        CHECK(v6_err.rfind("metrics listener [::1]:0: cannot listen: ", 0) == 0);
}
