#pragma once
// One client connection: reads requests, runs the framing checks, forwards to the
// upstream and relays the response, in order, until either side closes. Only I/O lives
// here; what to check and how to rewrite headers are pure functions elsewhere.
//
// Each request goes through named steps, each in its own file under proxy/http/, and
// run()'s loop (client_session.cpp) only sequences them, in the manner of pingora's
// process_request:
//   read_head (read_head.cpp) -> decide (decide.cpp; local answers in reply.cpp)
//   -> forward_request (forward_request.cpp: lease, head, body, retry)
//   -> relay_response (relay_response.cpp) or tunnel (tunnel.cpp) -> finish().
// finish() runs on every exit: it is the only caller of log_request() and the only end
// of the in-flight count. The I/O the steps share is in session_io.hpp.
//
// The session is a template on the client stream: a plain tcp::socket for HTTP (not
// Beast's tcp_stream, whose heap-allocated state with its two timers an idle connection
// would carry for nothing: the session has its own deadline), and beast::ssl_stream over
// it for HTTPS. Both are compiled (explicitly instantiated in the .cpp), so a plain
// connection pays nothing for TLS: no virtual call, no branch on the stream type, no
// extra allocation per request.
#include <chrono>
#include <memory>
#include <optional>
#include <type_traits>

#include <boost/beast/ssl/ssl_stream.hpp>

#include "policy/cidr.hpp"
#include "policy/gate.hpp"
#include "proxy/config/config.hpp"
#include "proxy/http/banner.hpp"
#include "proxy/http/banner_inject.hpp"
#include "proxy/http/framing.hpp"
#include "proxy/http/head_parser.hpp"
#include "proxy/http/upstream_failure.hpp"
#include "proxy/admin/gate_state.hpp"
#include "proxy/net/buffer_pool.hpp"
#include "proxy/net.hpp"
#include "proxy/net/tls.hpp"
#include "proxy/net/upstream_pool.hpp"
#include "proxy/net/worker_context.hpp"

namespace maintgate::proxy {

using tls_client_stream = beast::ssl_stream<tcp::socket>;
// The session's byte buffers draw their storage from the worker's buffer_pool.
using session_buffer = beast::basic_flat_buffer<pool_allocator<char>>;

// What every session has whatever its stream: the worker's intrusive list (for graceful
// shutdown) and the steps its coroutines return.
class session_base {
public:
    session_base(const session_base&) = delete;
    session_base& operator=(const session_base&) = delete;

    // Graceful shutdown: a connection waiting for its next request is closed now; one in
    // the middle of a request finishes it first.
    void close_if_idle() noexcept {
        if (!idle_) return;
        error_code ignored;
        tcp_->cancel(ignored);
    }

    // The gate closed (the mode left open, or the write fence rose): an upgraded
    // connection could carry writes past it, so it is cut. The client reconnects and its
    // new upgrade request is decided under the new state.
    bool tunnelling() const noexcept { return in_tunnel_; }
    void close_tunnel() noexcept {
        if (!in_tunnel_) return;
        error_code ignored;
        tcp_->close(ignored);
    }

    // The worker's tick: a session waiting past its deadline has that wait cancelled,
    // and the wait reports beast::error::timeout.
    void expire_if_due(std::chrono::steady_clock::time_point now) noexcept {
        if (now < deadline_) return;
        deadline_ = std::chrono::steady_clock::time_point::max();
        timed_out_ = true;
        error_code ignored;
        if (deadline_socket_) deadline_socket_->cancel(ignored);
    }

    // The worker's intrusive list of sessions.
    session_base* prev = nullptr;
    session_base* next = nullptr;

    // Where the wait for a plain connection's next request stands: bytes arrived
    // (ready), still waiting for readability with the deadline armed (waiting), idle for
    // park_after with its keep-alive time not up (park: the session leaves its coroutine),
    // or the connection ended (closed: gone, idled out, or the worker is stopping).
    enum class idle_wait { ready, waiting, park, closed };
    // How long a plain keep-alive connection waits for its next request inside its
    // coroutine before it parks: a client that sends its next request sooner (a page's
    // burst, a load test) never leaves the coroutine; one idle longer holds no coroutine
    // frame (the worker's tick, every 100 ms, does the parking).
    static constexpr auto park_after = std::chrono::milliseconds(100);

protected:
    session_base() = default;
    ~session_base() = default;

    enum class step { next_request, close, linger_close };

    // What one exchange with the upstream came to: the step after it, or a failure that
    // nothing has answered yet, which the retry loop retries or hands back.
    struct exchange_result {
        step next = step::close;
        std::optional<upstream_failure> failure;
        upstream_conn_ptr conn;  // set: its response head is read, to be relayed
        bool request_complete = true;  // false: a final answer came before the body was sent
        bool upgraded = false;  // the 101 of an upgrade request: tunnel it
    };

    // How sending the request body ended; each has its own reply.
    enum class body_result { ok, client_gone, too_large, malformed, bad_trailer, upstream_failed };

    // One deadline per session, for the one wait in progress, checked by the worker's
    // tick (proxy/net/worker.cpp). Beast's per-operation timers cost a timer-queue insert
    // and a cancel for every read and write; this costs a clock read.
    void arm_at(tcp::socket& s, std::chrono::steady_clock::time_point t) noexcept {
        deadline_ = t;
        deadline_socket_ = &s;
        timed_out_ = false;
    }
    void arm(tcp::socket& s, std::chrono::steady_clock::duration d) noexcept {
        arm_at(s, std::chrono::steady_clock::now() + d);
    }
    void disarm() noexcept { deadline_ = std::chrono::steady_clock::time_point::max(); }
    // A wait the tick cancelled reports a timeout, like Beast's streams do.
    error_code checked(error_code ec) const noexcept {
        if (ec == net::error::operation_aborted && timed_out_) return beast::error::timeout;
        return ec;
    }

    tcp::socket* tcp_ = nullptr;  // the client connection's TCP layer
    std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
    tcp::socket* deadline_socket_ = nullptr;
    bool timed_out_ = false;
    bool idle_ = false;
    bool park_armed_ = false;  // the deadline armed is park_after's, not the keep-alive's
    bool in_tunnel_ = false;
};

template <class Stream>
class client_session : public session_base {
public:
    static constexpr bool is_tls = std::is_same_v<Stream, tls_client_stream>;
    static_assert(is_tls || std::is_same_v<Stream, tcp::socket>);

    // The TLS context a session holds for its whole life (a reload builds new ones for
    // new connections); nothing for plain HTTP.
    struct no_tls {};
    using tls_handle = std::conditional_t<is_tls, std::shared_ptr<const tls_server>, no_tls>;

    // listener: the index in the config's listeners of the one that accepted socket;
    // peer: the client's address as accept4 returned it (no getpeername per connection).
    client_session(worker_context& ctx, tcp::socket socket, std::size_t listener, tls_handle tls,
                   const tcp::endpoint& peer);
    ~client_session();

    // The connection's requests, in order, until it closes (false) or, plain only,
    // parks (true): idle past park_after, it waits for its next request outside any
    // coroutine, and the caller hands it to wait_parked().
    net::awaitable<bool> run();

    // A parked plain session: waits for readability under the keep-alive deadline and
    // calls h(error_code) from the socket's wait; end_idle_wait(ec) then says what came
    // of it: ready (run() again), waiting (wait_parked again) or closed.
    template <class Handler>
    void wait_parked(Handler&& h) {
        static_assert(!is_tls);
        arm_at(*tcp_, idle_deadline_);
        tcp_->async_wait(tcp::socket::wait_read, std::forward<Handler>(h));
    }
    // Plain connections, between requests (read_head.cpp): run() awaits readability
    // while these say waiting. Once parked, the wait ends at the keep-alive deadline
    // (park_at_ is spent), so a timeout there closes.
    idle_wait begin_idle_wait() noexcept;
    idle_wait end_idle_wait(error_code wait_result) noexcept;
    net::any_io_executor executor() noexcept { return tcp_->get_executor(); }

private:
    static Stream make_stream(tcp::socket socket, const tls_handle& tls);

    // What decide() found to answer here instead of forwarding.
    struct local_answer {
        enum class kind : std::uint8_t { none, error, redirect, gate, asset, hold } what = kind::none;
        unsigned status = 0;  // error; asset: the index in gate_snapshot::banner_assets
        const char* detail = nullptr;  // error
        policy::decision verdict;  // gate
    };

    // The steps, in the order run() sequences them; each file's header says when it
    // runs and what each outcome means.
    idle_wait idle_result(error_code read_result) noexcept;
    net::awaitable<step> read_head();
    local_answer decide() noexcept;
    // The gate's verdict under the worker's current snapshot (refreshes gate_, gate_mode_
    // and upgrade_); decide() and a held write's release both ask it. Never suspends.
    policy::decision judge(std::size_t underscore_fields) noexcept;
    // A write held during a freeze (hold.cpp): waits, then is forwarded, refused (503)
    // or dropped (its client went away).
    net::awaitable<step> hold_write();
    net::awaitable<step> answer(const local_answer& a);
    net::awaitable<exchange_result> forward_request();
    net::awaitable<exchange_result> exchange(upstream_conn_ptr conn);
    // Logs an upstream failure and answers it: status_for(f), or the maintenance page.
    net::awaitable<step> fail_upstream(const upstream_failure& f);
    // Sends what is left of the request (its head first unless head_sent) to conn.
    net::awaitable<std::tuple<body_result, error_code>> send_request_body(upstream_conn& conn,
                                                                          bool head_sent);
    // {false, _}: the client went away while an interim response was relayed.
    net::awaitable<std::tuple<bool, error_code>> read_response_head(upstream_conn& conn, bool stop_at_100);
    net::awaitable<step> relay_response(upstream_conn_ptr conn, bool request_complete);
    // [auto_read_only]: strips the app's write-state header from res, noting a read-only ask.
    void take_write_state(response_head& res) noexcept;
    net::awaitable<step> tunnel(upstream_conn_ptr conn);
    net::awaitable<step> reply(unsigned status, const char* detail);
    // The upstream failed before any response: a 502/504, or the maintenance page when
    // gate.upstream_down_page is set.
    net::awaitable<step> reply_upstream_error(unsigned status, const char* detail);
    net::awaitable<step> gate_reply(const policy::decision& d);
    // A refused webhook on a spool route (spool_ingest.cpp): its rule's spool settings,
    // or nullptr; then the step that stores it and answers 202.
    const webhook_spool* spool_rule(const policy::decision& d) const noexcept;
    net::awaitable<step> spool_request(const webhook_spool& w);
    net::awaitable<step> write_rendered(const rendered_reply& r, unsigned status);
    // A plain listener with redirect_https: the request goes to HTTPS, unless its path
    // is one of redirect_except (redirect_excepted: then it is served here).
    bool redirect_excepted() const noexcept;
    net::awaitable<step> redirect_to_https();
    // The maintenance window's banner (session_banner.cpp). banner_asset: the index of a /.maintgate/banner.* asset the
    // target names, or -1. plan_banner_for: the request side, run by decide() only
    // while the snapshot carries a notice. start_banner: the response side, run by
    // relay_response only when a plan was made; true: inject into this body.
    int banner_asset() const noexcept;
    void plan_banner_for(const policy::request_view& rv) noexcept;
    bool start_banner(bool no_body) noexcept;
    void end_banner() noexcept;
    // After the head is rendered: drops Content-Length when injecting; adds the
    // Maintgate-Window field for an API client.
    void edit_head_for_banner(bool inject) noexcept;
    // The step after the last answer on a connection: close when the client asked to
    // close (Connection: close, or HTTP/1.0 without keep-alive), its request was read
    // whole and nothing of another is buffered, so that no unread byte can turn the close
    // into a reset (nginx's rule too: no shutdown(2), no drain); linger_close otherwise.
    step closing_step() const noexcept;
    // Reads and drops the rest of a refused request's body; false when it must close.
    net::awaitable<bool> discard_body();
    bool drainable() const noexcept;
    net::awaitable<void> linger_close();
    net::awaitable<bool> write_client(net::const_buffer b);

    // The I/O every exchange goes through. Plain TCP writes try the system call first and
    // wait only when the socket's buffer is full, so a small exchange needs no Asio
    // operation for its writes; plain reads go straight to the socket, without Beast's
    // per-operation timers. TLS goes through the SSL stream. A wait is bounded by the
    // deadline given (a whole request head shares one), or by the timeout of its kind.
    net::awaitable<std::tuple<error_code, std::size_t>> read_client(
        net::mutable_buffer b, std::chrono::steady_clock::time_point deadline);
    net::awaitable<std::tuple<error_code, std::size_t>> read_upstream(upstream_conn& conn,
                                                                      net::mutable_buffer b);
    template <class Buffers>
    net::awaitable<error_code> send_client(const Buffers& b);
    template <class Buffers>
    net::awaitable<error_code> send_upstream(upstream_conn& conn, const Buffers& b);
    template <class Buffers>
    net::awaitable<error_code> send_plain(tcp::socket& s, const Buffers& b,
                                          std::chrono::steady_clock::duration timeout);
    net::awaitable<std::tuple<error_code, std::size_t>> read_plain(
        tcp::socket& s, net::mutable_buffer b, std::chrono::steady_clock::time_point deadline);
    // Beast's http::async_read_some / async_read_header over those reads: parses what
    // is buffered, reads more only when the parser needs it, and returns once it made
    // progress (a parser that is not eager stops after the head). conn: the upstream
    // side, nullptr: the client side.
    template <bool isRequest>
    net::awaitable<error_code> read_parsed(upstream_conn* conn, session_buffer& b, head_parser<isRequest>& p);
    // The end of every request, whatever its outcome: logs it when it was answered, ends
    // its in-flight count, and passes on the step the last step chose.
    step finish(step s) noexcept;
    void log_request() noexcept;
    inline void refresh_gate() noexcept;
    inline void begin_in_flight(bool write) noexcept;
    inline void end_in_flight() noexcept;
    inline char* body_buffer();
    // Gives every per-request buffer back to the worker's pool and resets the parsers
    // (between requests only: an idle connection holds no buffer).
    void release_buffers() noexcept;
    // "Strict-Transport-Security: ...\r\n" on an HTTPS listener that sets hsts, else empty.
    inline std::string_view hsts_field() const noexcept;

    // TLS only: the handshake under the header deadline, and close_notify before the
    // connection closes.
    net::awaitable<bool> handshake();
    net::awaitable<void> send_close_notify();
    net::awaitable<void> drain_and_close(std::size_t limit);

    worker_context& ctx_;  // all the session sees of its worker
    // The gate snapshot this session reads (with the config it was rendered from), taken
    // from the worker at each request; cfg_ points into it.
    std::shared_ptr<const gate_snapshot> gate_;
    const config* cfg_;
    const std::size_t listener_;
    [[no_unique_address]] tls_handle tls_;  // before client_, which uses its context
    Stream client_;
    session_buffer buf_;  // client bytes: request heads, body bytes, pipelined requests
    session_buffer ubuf_;  // upstream bytes of the current exchange
    // The parsers (head_parser.hpp): the head as views, no basic_fields.
    pooled<request_parser> req_;  // from read_head to release_buffers()
    pooled<response_parser> res_;
    char* body_buf_ = nullptr;  // a pool slab, taken on the first body of a request
    std::string head_out_;  // the head being forwarded (either way); taken from the pool

    policy::ip_address peer_;
    char peer_text_[48] = {};
    std::size_t peer_len_ = 0;
    enum class in_flight : std::uint8_t { none, read, write };
    in_flight in_flight_ = in_flight::none;
    bool first_request_ = true;  // begin_idle_wait tries a read before waiting for this one only
    std::chrono::steady_clock::time_point idle_deadline_{};  // a plain connection's keep-alive wait
    std::chrono::steady_clock::time_point park_at_{};  // ... and the end of its first wait in run()

    // Per request.
    std::chrono::steady_clock::time_point started_{};
    unsigned client_version_ = 11;
    bool client_keep_alive_ = true;
    bool head_request_ = false;
    bool expect_ = false;
    bool continue_locally_ = false;  // Expect: 100-continue answered here (TLS upstream)
    bool sent_100_ = false;
    bool upgrade_ = false;
    banner_plan banner_plan_ = banner_plan::none;
    std::shared_ptr<const banner_render> banner_;  // set with a plan, for the response's life
    banner_injector injector_;
    policy::mode gate_mode_ = policy::mode::open;
    unsigned status_ = 0;
    bool answered_ = false;  // a response went out (or was attempted) that the log records
    std::size_t held_underscores_ = 0;  // a held write: the underscore count decide() saw
    std::uint64_t body_bytes_sent_ = 0;
};

extern template class client_session<tcp::socket>;
extern template class client_session<tls_client_stream>;

}  // namespace maintgate::proxy
