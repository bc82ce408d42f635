#include "proxy/net/worker.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <boost/version.hpp>
#include <spdlog/spdlog.h>

#include "proxy/http/client_session.hpp"

namespace maintgate::proxy {

worker::worker(unsigned id, std::vector<tcp::endpoint> upstream, std::atomic<std::size_t>& connections,
               std::shared_ptr<const gate_snapshot> gate)
    : id_(id), ctx_(ioc_.get_executor(), buffers_, gate->cfg->upstream, std::move(upstream), gate),
      connections_(connections) {
    ctx_.refresh_banner();
}

void worker::publish_gate(std::shared_ptr<const gate_snapshot> s, std::function<void()> done) {
    net::post(ioc_, [this, s = std::move(s), done = std::move(done)]() mutable {
        // Tunnels opened while the gate was open are cut when it closes: an upgrade is a
        // write (policy::decide), and one already open must not outlive the decision.
        const bool closing = gate_closes(ctx_.gate_->record, s->record);
        ctx_.gate_ = std::move(s);
        ctx_.refresh_banner();
        if (closing) {
            std::size_t cut = 0;
            for (session_base* x = ctx_.sessions_; x; x = x->next)
                if (x->tunnelling()) {
                    x->close_tunnel();
                    ++cut;
                }
            if (cut) spdlog::info("gate closed: cut {} upgraded connection(s)", cut);
        }
        if (done) done();
    });
}

void worker::add_acceptor(tcp::acceptor a, std::size_t listener) {
    acceptors_.push_back(std::move(a));
    acceptor_listener_.push_back(listener);
}

void worker::start() {
    for (std::size_t i = 0; i < acceptors_.size(); ++i)
        net::co_spawn(ioc_, accept_loop(acceptors_[i], acceptor_listener_[i]), net::detached);
    net::co_spawn(ioc_, ctx_.pool_.sweep(), net::detached);
    net::co_spawn(ioc_, deadline_tick(), net::detached);
}

net::awaitable<void> worker::deadline_tick() {
    // Timeouts are seconds long (the shortest in use are hundreds of milliseconds), so
    // firing up to one tick late is fine; one walk of the list per tick costs far less
    // than a timer per read and write.
    constexpr auto tick = std::chrono::milliseconds(100);
    net::steady_timer timer(ioc_);
    while (!(ctx_.stopping_ && ctx_.sessions_ == nullptr)) {
        timer.expires_after(tick);
        co_await timer.async_wait(net::as_tuple(net::use_awaitable));
        const auto now = std::chrono::steady_clock::now();
        for (session_base* s = ctx_.sessions_; s; s = s->next) s->expire_if_due(now);
    }
}

void worker::begin_shutdown() {
    net::post(ioc_, [this] {
        ctx_.stopping_ = true;
        for (auto& a : acceptors_) {
            error_code ignored;
            a.close(ignored);
        }
        for (session_base* s = ctx_.sessions_; s; s = s->next) s->close_if_idle();
        ctx_.pool_.close_all();
    });
}

void worker_context::link(session_base* s) noexcept {
    s->next = sessions_;
    if (sessions_) sessions_->prev = s;
    sessions_ = s;
}

void worker_context::unlink(session_base* s) noexcept {
    if (s->prev)
        s->prev->next = s->next;
    else
        sessions_ = s->next;
    if (s->next) s->next->prev = s->prev;
    s->prev = s->next = nullptr;
}

namespace {

// Out of file descriptors or memory: accepting again at once would spin. Pause briefly;
// connections that finish meanwhile give the descriptors back.
bool is_resource_exhaustion(const error_code& ec) noexcept {
    return ec == net::error::no_descriptors || ec == net::error::no_buffer_space ||
           ec == net::error::no_memory || ec.value() == ENFILE;
}

// A descriptor fresh from accept4(SOCK_NONBLOCK) handed to Asio without the system calls
// Asio would otherwise make for it: its state bits say "non-blocking" (no ioctl(FIONBIO)
// before the first read), and not "possibly dup()ed", which every assigned descriptor is
// marked and which makes close() remove it from epoll first (an epoll_ctl(DEL) that the
// kernel does anyway when the last reference to it closes; nobody dups it here).
// base_implementation_type and its state_ bits are Asio's detail; checked for 1.81.
class accepted_socket : public tcp::socket {
public:
    accepted_socket(net::io_context& ioc, const tcp& protocol, int fd, error_code& ec) : tcp::socket(ioc) {
        assign(protocol, fd, ec);
        if (ec) return;
        namespace ops = boost::asio::detail::socket_ops;
        auto& state = impl_.get_implementation().state_;
        state = static_cast<ops::state_type>(
            (state | ops::user_set_non_blocking | ops::internal_non_blocking) & ~ops::possible_dup);
    }
};
static_assert(BOOST_VERSION / 100 == 1081 || BOOST_VERSION / 100 >= 1082,
              "accepted_socket relies on Asio's socket state bits; check them for this Boost");

// One client connection: its session, on the heap so that it can outlive its coroutine
// (a parked session is owned by its socket's wait), and the worker's connection count,
// which goes down when the connection is destroyed: closed, or torn down with the
// io_context at a forced shutdown.
template <class Stream>
struct connection {
    connection(std::atomic<std::size_t>& count, worker_context& w, tcp::socket socket, std::size_t listener,
               typename client_session<Stream>::tls_handle tls, const tcp::endpoint& peer)
        : session(w, std::move(socket), listener, std::move(tls), peer), count(count) {}
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;
    ~connection() { count.fetch_sub(1, std::memory_order_relaxed); }

    client_session<Stream> session;
    std::atomic<std::size_t>& count;
};
template <class Stream>
using connection_ptr = std::unique_ptr<connection<Stream>>;

void park(connection_ptr<tcp::socket> c);

// The connection's coroutine: its requests, until it closes or parks.
template <class Stream>
net::awaitable<void> serve_connection(connection_ptr<Stream> c) {
    const bool parked = co_await c->session.run();
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
        if (parked) park(std::move(c));
    }
}

// A plain connection idle past park_after waits for its next request here, outside any
// coroutine: what it holds is its session, Asio's state for the socket and this wait.
// When a request arrives, a new coroutine serves it.
void park(connection_ptr<tcp::socket> c) {
    auto& session = c->session;
    session.wait_parked([c = std::move(c)](error_code ec) mutable {
        switch (c->session.end_idle_wait(ec)) {
        case session_base::idle_wait::ready: {
            auto ex = c->session.executor();
            net::co_spawn(ex, serve_connection<tcp::socket>(std::move(c)), net::detached);
            break;
        }
        case session_base::idle_wait::waiting:
        case session_base::idle_wait::park: park(std::move(c)); break;
        case session_base::idle_wait::closed: break;  // c goes, and with it the connection
        }
    });
}

}  // namespace

net::awaitable<void> worker::accept_loop(tcp::acceptor& acceptor, std::size_t listener) {
    net::steady_timer pause(ioc_);
    auto last_warning = std::chrono::steady_clock::time_point{};
    // Under a connection flood, one warning every few seconds says enough.
    auto warn_now = [&] {
        auto now = std::chrono::steady_clock::now();
        if (now - last_warning < std::chrono::seconds(5)) return false;
        last_warning = now;
        return true;
    };
    // Accepts run back to back while connections wait; the loop yields to the sessions
    // after this many, so that a burst of connections does not starve them.
    constexpr int burst = 16;
    int accepted_in_a_row = 0;
    for (;;) {
        if (accepted_in_a_row == burst) {
            accepted_in_a_row = 0;
            co_await net::post(ioc_, net::use_awaitable);
        }
        if (ctx_.stopping_) break;
        // accept4 gives the peer's address and a non-blocking, close-on-exec descriptor in
        // one call: no getpeername or ioctl(FIONBIO) afterwards. When nothing is waiting,
        // wait for readability (the listener is edge-triggered in Asio's epoll, so only
        // an EAGAIN tells that the queue is empty).
        sockaddr_storage addr;
        socklen_t addr_len = sizeof addr;
        const int fd = ::accept4(acceptor.native_handle(), reinterpret_cast<sockaddr*>(&addr), &addr_len,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
        error_code ec;
        if (fd < 0) {
            const int e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK) {
                accepted_in_a_row = 0;
                auto [wec] =
                    co_await acceptor.async_wait(tcp::acceptor::wait_read, net::as_tuple(net::use_awaitable));
                if (ctx_.stopping_ || wec == net::error::operation_aborted) break;
                continue;
            }
            if (e == EINTR) continue;
            if (e == EBADF || e == EINVAL) break;  // the acceptor was closed (shutdown)
            ec = error_code(e, boost::system::system_category());
        }
        if (ec) {
            if (is_resource_exhaustion(ec)) {
                if (warn_now()) spdlog::warn("accept: {}; pausing 100ms", ec.message());
                pause.expires_after(std::chrono::milliseconds(100));
                co_await pause.async_wait(net::as_tuple(net::use_awaitable));
            }
            continue;
        }
        ++accepted_in_a_row;
        tcp::endpoint peer;
        std::memcpy(peer.data(), &addr, std::min<std::size_t>(addr_len, sizeof addr));
        peer.resize(addr_len);
        accepted_socket socket(ioc_, addr.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
        if (ec) {
            ::close(fd);
            continue;
        }
        const std::size_t max_connections = ctx_.gate_->cfg->limits.max_connections;  // reloadable
        if (connections_.fetch_add(1, std::memory_order_relaxed) >= max_connections) {
            connections_.fetch_sub(1, std::memory_order_relaxed);
            if (warn_now())
                spdlog::warn("max_connections ({}) reached; closing new connections", max_connections);
            error_code ignored;
            socket.close(ignored);
            continue;
        }
        // TCP_NODELAY comes from the listener (bind_listener): Linux copies it to every
        // socket accept returns, so there is no setsockopt per connection.
        // The context current at accept time: a reload gives later connections the new
        // certificate, while this one keeps its own to the end.
        if (auto tls = ctx_.gate_->cfg->listeners[listener].tls_context) {
            auto c = std::make_unique<connection<tls_client_stream>>(connections_, ctx_, std::move(socket),
                                                                     listener, std::move(tls), peer);
            net::co_spawn(ioc_, serve_connection(std::move(c)), net::detached);
        } else {
            auto c =
                std::make_unique<connection<tcp::socket>>(connections_, ctx_, std::move(socket), listener,
                                                          client_session<tcp::socket>::tls_handle{}, peer);
            net::co_spawn(ioc_, serve_connection(std::move(c)), net::detached);
        }
    }
}

}  // namespace maintgate::proxy
