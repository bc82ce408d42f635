#include "proxy/admin/admin_server.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "proxy/admin/commands/commands.hpp"
#include "proxy/admin/commands/reply.hpp"

namespace maintgate::proxy {
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t max_admin_connections = 16;
constexpr auto idle_timeout = std::chrono::minutes(5);

std::string errno_text() { return std::strerror(errno); }

bool resolve_user(const std::string& name, uid_t& out) {
    if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) {
        out = static_cast<uid_t>(std::stoul(name));
        return true;
    }
    struct passwd pw, *res = nullptr;
    char buf[4096];
    if (getpwnam_r(name.c_str(), &pw, buf, sizeof buf, &res) != 0 || !res) return false;
    out = res->pw_uid;
    return true;
}

bool resolve_group(const std::string& name, gid_t& out) {
    if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) {
        out = static_cast<gid_t>(std::stoul(name));
        return true;
    }
    struct group gr, *res = nullptr;
    char buf[4096];
    if (getgrnam_r(name.c_str(), &gr, buf, sizeof buf, &res) != 0 || !res) return false;
    out = res->gr_gid;
    return true;
}

}  // namespace

admin_server::admin_server(net::io_context& ioc, gate_control& gate) : ioc_(ioc), gate_(gate) {}

admin_server::~admin_server() { stop(); }

std::string admin_server::listen(const admin_config& a) {
    const std::string& path = a.socket;
    if (path.size() >= sizeof(sockaddr_un::sun_path))
        return "admin socket path " + path + " is too long for a Unix socket (max " +
               std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes)";
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return "admin socket " + path + " exists and is not a socket; not replacing it";
        // Someone answering there is another running maintgate: never steal its socket.
        int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0) return "cannot create a socket: " + errno_text();
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
        int rc = ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        int err = errno;
        ::close(probe);
        if (rc == 0) return "admin socket " + path + " is in use by a running process; stop it first";
        if (err != ECONNREFUSED)
            return "admin socket " + path + " exists and cannot be checked: " + std::strerror(err);
        if (::unlink(path.c_str()) != 0)
            return "cannot remove the stale admin socket " + path + ": " + errno_text();
        spdlog::info("admin: removed a stale socket at {} (from a process that is gone)", path);
    } else if (errno != ENOENT) {
        return "cannot check " + path + ": " + errno_text();
    }

    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    if (!a.socket_owner.empty() && !resolve_user(a.socket_owner, uid))
        return "admin socket_owner: no such user '" + a.socket_owner + "'";
    if (!a.socket_group.empty() && !resolve_group(a.socket_group, gid))
        return "admin socket_group: no such group '" + a.socket_group + "'";

    // The socket is bound and listening under a temporary name, then linked to its own
    // name: a client that sees the file can connect (a ctl or a script polling for the
    // file never meets a socket that refuses), and link() never replaces a file that
    // appeared there meanwhile. A path too long for the temporary name binds directly.
    const std::string temp = path + ".~";
    const bool via_temp = temp.size() < sizeof(sockaddr_un::sun_path);
    const std::string& bound = via_temp ? temp : path;
    if (via_temp && ::lstat(temp.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(temp.c_str());
    auto fail = [&](std::string e) {
        acceptor_.reset();
        ::unlink(bound.c_str());
        return e;
    };

    error_code ec;
    acceptor_.emplace(ioc_);
    acceptor_->open(unix_socket(), ec);
    if (ec) return "cannot create the admin socket: " + ec.message();
    // The socket file is created by bind with the process umask; a restrictive umask
    // around bind means it is never, even briefly, more open than the configured mode.
    // Called before the worker threads start, so changing the umask races with nobody.
    mode_t old_mask = ::umask(0177);
    acceptor_->bind(unix_socket::endpoint(bound), ec);
    ::umask(old_mask);
    if (ec) {
        acceptor_.reset();
        return "cannot bind the admin socket " + path + ": " + ec.message();
    }
    if (::chmod(bound.c_str(), static_cast<mode_t>(a.socket_mode)) != 0)
        return fail("cannot set the mode of " + path + ": " + errno_text());
    if ((uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1)) && ::chown(bound.c_str(), uid, gid) != 0)
        return fail("cannot set the owner of " + path + ": " + errno_text());
    acceptor_->listen(net::socket_base::max_listen_connections, ec);
    if (ec) return fail("cannot listen on the admin socket " + path + ": " + ec.message());
    if (via_temp) {
        if (::link(temp.c_str(), path.c_str()) == 0) {
            ::unlink(temp.c_str());
        } else if (errno == EEXIST) {
            return fail("admin socket " + path + " appeared while maintgate started; not replacing it");
        } else if (::rename(temp.c_str(), path.c_str()) != 0) {  // a file system without hard links
            return fail("cannot create the admin socket " + path + ": " + errno_text());
        }
    }
    if (::lstat(path.c_str(), &st) == 0) {
        inode_ = st.st_ino;
        device_ = st.st_dev;
    }
    path_ = path;
    char mode_text[8];
    std::snprintf(mode_text, sizeof mode_text, "%04o", a.socket_mode);
    spdlog::info("admin socket on {} (mode {})", path, mode_text);
    return {};
}

void admin_server::start() {
    if (acceptor_ && acceptor_->is_open()) net::co_spawn(ioc_, accept_loop(), net::detached);
}

void admin_server::stop() {
    acceptor_.reset();
    if (!path_.empty()) {
        // Only our own file: a successor may already have put its socket there.
        struct stat st {};
        if (::lstat(path_.c_str(), &st) == 0 && st.st_ino == inode_ && st.st_dev == device_)
            ::unlink(path_.c_str());
        path_.clear();
    }
}

net::awaitable<void> admin_server::accept_loop() {
    for (;;) {
        if (!acceptor_) break;
        auto [ec, s] = co_await acceptor_->async_accept(use_tuple);
        if (ec == net::error::operation_aborted || !acceptor_ || !acceptor_->is_open()) break;
        if (ec) continue;
        if (open_ >= max_admin_connections) {
            spdlog::warn("admin: {} connections open; refusing another", open_);
            continue;  // s closes here
        }
        net::co_spawn(ioc_, serve(std::move(s)), net::detached);
    }
}

net::awaitable<void> admin_server::serve(unix_socket::socket s) {
    ++open_;
    struct release {
        std::size_t& n;
        ~release() { --n; }
    } r{open_};

    // Who is asking, from the kernel: the audit log records it, nobody can claim it.
    admin_peer who;
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(s.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
        who.uid = cred.uid;
        who.pid = cred.pid;
        who.name = "uid " + std::to_string(cred.uid) + " pid " + std::to_string(cred.pid);
    } else {
        who.name = "unknown peer";
    }

    std::string in;
    net::steady_timer idle(ioc_);
    for (;;) {
        // Idle connections go after a while; a command in progress is not idle.
        idle.expires_after(idle_timeout);
        idle.async_wait([&s](const error_code& ec) {
            if (!ec) {
                error_code ignored;
                s.close(ignored);
            }
        });
        auto [ec, n] = co_await net::async_read_until(s, net::dynamic_buffer(in, admin::max_line_bytes + 2),
                                                      '\n', use_tuple);
        idle.cancel();
        if (ec == net::error::not_found) {
            std::string out = render(
                error_reply("line longer than " + std::to_string(admin::max_line_bytes) + " bytes; closing"),
                admin::wants_json(in), std::chrono::system_clock::now());
            co_await net::async_write(s, net::buffer(out), use_tuple);
            break;
        }
        if (ec) break;
        std::string line = in.substr(0, n);
        in.erase(0, n);
        std::string out = co_await execute_line(line, who);
        auto [wec, m] = co_await net::async_write(s, net::buffer(out), use_tuple);
        if (wec) break;
    }
    error_code ignored;
    s.close(ignored);
}

net::awaitable<std::string> admin_server::execute_line(std::string_view line, const admin_peer& who) {
    const auto now = std::chrono::system_clock::now();
    auto parsed = admin::parse_command(line, now);
    if (!parsed.cmd) {
        if (parsed.error.empty()) parsed.error = "empty line; try help";
        co_return render(error_reply(parsed.error), parsed.json, now);
    }
    const admin::command& c = *parsed.cmd;
    const admin::command_info& row = admin::info(c.what);
    if (row.changes_state) spdlog::info("admin: {} from {}", c.text, who.name);
    admin_context a{gate_, who, now};
    admin_reply reply = co_await handler_for(c.what)(a, c);
    co_return render(reply, c.json, now);
}

}  // namespace maintgate::proxy
