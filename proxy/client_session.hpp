#pragma once
// One client connection: reads requests, runs the framing checks, forwards to the
// upstream and relays the response, in order, until either side closes. Only I/O lives
// here; what to check and how to rewrite headers are pure functions elsewhere.
#include <chrono>
#include <memory>
#include <optional>

#include "policy/cidr.hpp"
#include "policy/gate.hpp"
#include "proxy/config.hpp"
#include "proxy/framing.hpp"
#include "proxy/gate_state.hpp"
#include "proxy/net.hpp"
#include "proxy/upstream_pool.hpp"

namespace maintgate::proxy {

class worker;

class client_session {
public:
    client_session(worker& w, tcp::socket socket);
    ~client_session();
    client_session(const client_session&) = delete;
    client_session& operator=(const client_session&) = delete;

    net::awaitable<void> run();

    // Graceful shutdown: a connection waiting for its next request is closed now; one in
    // the middle of a request finishes it first.
    void close_if_idle() noexcept;

    // The worker's intrusive list of sessions.
    client_session* prev = nullptr;
    client_session* next = nullptr;

private:
    enum class step { next_request, close, linger_close };

    // Outcome of one attempt at an upstream exchange.
    enum class attempt { done, retry };

    // How sending the request body ended; each has its own reply.
    enum class body_result { ok, client_gone, too_large, malformed, bad_trailer, upstream_failed };

    net::awaitable<step> read_head();
    net::awaitable<step> serve();
    net::awaitable<std::tuple<attempt, step>> exchange(upstream_conn_ptr conn, bool retryable);
    net::awaitable<std::tuple<body_result, error_code>> send_request_body(
        upstream_conn& conn, http::serializer<true, http::buffer_body>& sr);
    // {false, _}: the client went away while an interim response was relayed.
    net::awaitable<std::tuple<bool, error_code>> read_response_head(upstream_conn& conn,
                                                                   bool stop_at_100);
    net::awaitable<step> relay_response(upstream_conn_ptr conn, bool request_complete);
    net::awaitable<step> tunnel(upstream_conn_ptr conn);
    net::awaitable<step> reply(unsigned status, const char* detail);
    // The upstream failed before any response: a 502/504, or the maintenance page when
    // gate.upstream_down_page is set.
    net::awaitable<step> reply_upstream_error(unsigned status, const char* detail);
    net::awaitable<step> gate_reply(const policy::decision& d);
    net::awaitable<step> write_rendered(const rendered_reply& r, unsigned status);
    // Reads and drops the rest of a refused request's body; false when it must close.
    net::awaitable<bool> discard_body();
    bool drainable() const noexcept;
    net::awaitable<void> linger_close();
    net::awaitable<bool> write_client(net::const_buffer b);
    void log_request() noexcept;
    void refresh_gate() noexcept;
    void begin_in_flight(bool write) noexcept;
    void end_in_flight() noexcept;
    char* body_buffer();

    worker& w_;
    // The gate snapshot this session reads (with the config it was rendered from), taken
    // from the worker at each request; cfg_ points into it.
    std::shared_ptr<const gate_snapshot> gate_;
    const config* cfg_;
    beast::tcp_stream client_;
    beast::flat_buffer buf_;   // client bytes: request heads, body bytes, pipelined requests
    beast::flat_buffer ubuf_;  // upstream bytes of the current exchange
    std::optional<http::request_parser<http::buffer_body>> req_;
    std::optional<http::response_parser<http::buffer_body>> res_;
    std::unique_ptr<char[]> body_buf_;  // allocated on the first body, kept for the connection

    policy::ip_address peer_;
    char peer_text_[48] = {};
    std::size_t peer_len_ = 0;
    bool idle_ = false;
    enum class in_flight : std::uint8_t { none, read, write };
    in_flight in_flight_ = in_flight::none;

    // Per request.
    std::chrono::steady_clock::time_point started_{};
    trailer_baseline trailer_baseline_;
    unsigned client_version_ = 11;
    bool client_keep_alive_ = true;
    bool head_request_ = false;
    bool expect_ = false;
    bool sent_100_ = false;
    bool upgrade_ = false;
    policy::mode gate_mode_ = policy::mode::open;
    unsigned status_ = 0;
    std::uint64_t body_bytes_sent_ = 0;
};

}  // namespace maintgate::proxy
