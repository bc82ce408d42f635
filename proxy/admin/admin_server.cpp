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

#include "proxy/admin/json.hpp"

namespace maintgate::proxy {
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t max_admin_connections = 16;
constexpr auto idle_timeout = std::chrono::minutes(5);

std::string errno_text() { return std::strerror(errno); }

// "12m ago", "in 38m": people read relative times faster than timestamps at 2am.
std::string relative(sys_time t, sys_time now) {
    using namespace std::chrono;
    auto d = duration_cast<seconds>(t > now ? t - now : now - t);
    std::string s = format_duration(duration_cast<duration>(d));
    return t > now ? "in " + s : s + " ago";
}

std::string when(sys_time t, sys_time now) { return format_iso8601(t) + " (" + relative(t, now) + ")"; }

std::string ms_time(std::int64_t ms) { return format_iso8601_ms(ms); }

// A JSON object written field by field; enough for the replies, no library needed.
class json_out {
public:
    json_out() { s_ = "{"; }
    json_out& str(std::string_view k, std::string_view v) {
        key(k);
        json::append_string(s_, v);
        return *this;
    }
    json_out& num(std::string_view k, double v) {
        key(k);
        char buf[40];
        std::snprintf(buf, sizeof buf, "%.6g", v);
        s_ += buf;
        return *this;
    }
    json_out& num(std::string_view k, std::uint64_t v) {
        key(k);
        s_ += std::to_string(v);
        return *this;
    }
    json_out& num(std::string_view k, std::int64_t v) {
        key(k);
        s_ += std::to_string(v);
        return *this;
    }
    json_out& boolean(std::string_view k, bool v) {
        key(k);
        s_ += v ? "true" : "false";
        return *this;
    }
    json_out& null(std::string_view k) {
        key(k);
        s_ += "null";
        return *this;
    }
    json_out& raw(std::string_view k, std::string_view v) {
        key(k);
        s_ += v;
        return *this;
    }
    json_out& opt_time(std::string_view k, std::optional<sys_time> t) {
        return t ? str(k, format_iso8601(*t)) : null(k);
    }
    std::string done() {
        s_ += "}";
        return std::move(s_);
    }

private:
    void key(std::string_view k) {
        if (s_.size() > 1) s_ += ',';
        json::append_string(s_, k);
        s_ += ':';
    }
    std::string s_;
};

std::string json_array(const std::vector<std::string>& items) {
    std::string s = "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) s += ',';
        s += items[i];
    }
    return s + "]";
}

std::string json_strings(const std::vector<std::string>& items) {
    std::string s = "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) s += ',';
        json::append_string(s, items[i]);
    }
    return s + "]";
}

std::string probe_json(const probe_result& r) {
    return json_out()
        .str("name", r.name)
        .boolean("ok", r.ok)
        .num("status", std::uint64_t(r.status))
        .str("detail", r.detail)
        .num("elapsed_ms", std::int64_t(r.elapsed.count()))
        .done();
}

std::string probes_json(const std::vector<probe_result>& v) {
    std::vector<std::string> items;
    for (const auto& r : v) items.push_back(probe_json(r));
    return json_array(items);
}

void probes_text(std::string& out, const std::vector<probe_result>& v, std::string_view indent) {
    if (v.empty()) {
        out += indent;
        out += "no checks configured ([health_check], [[smoke_check]])\n";
    }
    for (const auto& r : v) {
        out += indent;
        out += r.ok ? "pass  " : "FAIL  ";
        out += r.name + ": " + r.detail + "\n";
    }
}

// Text lines must not be empty (an empty line ends the reply) nor hold a raw newline
// from a reason or a check's detail.
std::string finish_text(std::string s) {
    std::string out;
    out.reserve(s.size() + 2);
    bool line_start = true;
    for (char c : s) {
        if (c == '\n') {
            if (line_start) continue;  // drop empty lines
            line_start = true;
        } else {
            if (c == '\r') c = ' ';
            line_start = false;
        }
        out += c;
    }
    if (out.empty()) out = "ok\n";
    if (out.back() != '\n') out += '\n';
    out += '\n';
    return out;
}

std::string reply(bool json, bool ok, std::string text, std::string json_body) {
    if (json) return json_body + "\n";
    if (!ok && text.rfind("error: ", 0) != 0) text = "error: " + text;
    return finish_text(std::move(text));
}

std::string error_reply(bool json, const std::string& message) {
    return reply(json, false, "error: " + message + "\n",
                 json_out().boolean("ok", false).str("error", message).done());
}

std::string one_line(std::string s) {
    for (char& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    return s;
}

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
        if (!S_ISSOCK(st.st_mode)) return "admin socket " + path + " exists and is not a socket; not replacing it";
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
        if (::unlink(path.c_str()) != 0) return "cannot remove the stale admin socket " + path + ": " + errno_text();
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

    error_code ec;
    acceptor_.emplace(ioc_);
    acceptor_->open(unix_socket(), ec);
    if (ec) return "cannot create the admin socket: " + ec.message();
    // The socket file is created by bind with the process umask; a restrictive umask
    // around bind means it is never, even briefly, more open than the configured mode.
    // Called before the worker threads start, so changing the umask races with nobody.
    mode_t old_mask = ::umask(0177);
    acceptor_->bind(unix_socket::endpoint(path), ec);
    ::umask(old_mask);
    if (ec) {
        acceptor_.reset();
        return "cannot bind the admin socket " + path + ": " + ec.message();
    }
    if (::chmod(path.c_str(), static_cast<mode_t>(a.socket_mode)) != 0) {
        auto e = "cannot set the mode of " + path + ": " + errno_text();
        acceptor_.reset();
        ::unlink(path.c_str());
        return e;
    }
    if ((uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1)) && ::chown(path.c_str(), uid, gid) != 0) {
        auto e = "cannot set the owner of " + path + ": " + errno_text();
        acceptor_.reset();
        ::unlink(path.c_str());
        return e;
    }
    acceptor_->listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
        acceptor_.reset();
        ::unlink(path.c_str());
        return "cannot listen on the admin socket " + path + ": " + ec.message();
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
        auto [ec, n] = co_await net::async_read_until(
            s, net::dynamic_buffer(in, admin::max_line_bytes + 2), '\n', use_tuple);
        idle.cancel();
        if (ec == net::error::not_found) {
            std::string out = error_reply(admin::wants_json(in), "line longer than " +
                                                                    std::to_string(admin::max_line_bytes) +
                                                                    " bytes; closing");
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
        co_return error_reply(parsed.json, parsed.error);
    }
    const admin::command& c = *parsed.cmd;
    const bool js = c.json;
    if (admin::info(c.what).changes_state)
        spdlog::info("admin: {} from {}", c.text, who.name);

    switch (c.what) {
    case admin::verb::help: {
        co_return reply(js, true, admin::help_text(),
                        json_out().boolean("ok", true).str("help", admin::help_text()).done());
    }

    case admin::verb::status: {
        const auto& rec = gate_.record();
        auto t = gate_.totals();
        auto sc = gate_.since_stage();
        const auto& h = gate_.health();
        const auto& rc = gate_.cfg().reopen;
        std::string txt;
        txt += "mode        " + std::string(policy::to_string(rec.mode));
        if (rec.stage != policy::stage_of(rec.mode)) txt += " (stage " + std::string(policy::to_string(rec.stage)) + ")";
        if (rec.fenced) txt += ", writes fenced";
        txt += "\n";
        txt += "since       " + when(rec.since, now) + (rec.set_by.empty() ? "" : " by " + rec.set_by) + "\n";
        if (!rec.reason.empty()) txt += "reason      " + one_line(rec.reason) + "\n";
        if (rec.until) txt += "expected    " + when(*rec.until, now) + "\n";
        txt += "in flight   " + std::to_string(t.reads_in_flight()) + " read(s), " +
               std::to_string(t.writes_in_flight()) + " write(s)\n";
        txt += "refused     " + std::to_string(t.refused_writes) + " write(s) since start, " +
               std::to_string(sc.refused_writes) + " in this stage\n";
        if (auto b = gate_.last_boundary_ms())
            txt += "boundary    " + (*b ? ms_time(*b) : std::string("no write since start-up")) + " (last freeze)\n";
        txt += "last write  " + (t.last_write_done_ms ? ms_time(t.last_write_done_ms) : std::string("none since start-up")) + "\n";
        if (h.last)
            txt += "upstream    " + std::string(h.last->ok ? "healthy" : "UNHEALTHY") + ": " + one_line(h.last->detail) +
                   " (checked " + relative(*h.at, now) + ")\n";
        else
            txt += std::string("upstream    ") +
                   (rc.health ? "not checked yet" : "no health check configured ([health_check])") + "\n";
        char rate[32];
        std::snprintf(rate, sizeof rate, "%.1f%%", sc.error_rate() * 100.0);
        txt += "this stage  " + std::to_string(sc.requests) + " request(s), " + std::to_string(sc.upstream_responses) +
               " upstream response(s), " + std::to_string(sc.upstream_5xx) + " 5xx (" + rate + ")\n";
        if (auto w = gate_.watch_until()) {
            char max[32];
            std::snprintf(max, sizeof max, "%.1f%%", rc.max_error_rate * 100.0);
            txt += "watch       until " + when(*w, now) + ": steps back above " + max + " 5xx after " +
                   std::to_string(rc.min_requests) + " responses\n";
        }
        if (!gate_.last_step_back().empty()) txt += "step back   " + gate_.last_step_back() + "\n";
        if (!gate_.busy().empty()) txt += "in progress " + gate_.busy() + "\n";
        txt += "connections " + std::to_string(gate_.connections()) + "\n";

        json_out j;
        j.boolean("ok", true)
            .str("mode", policy::to_string(rec.mode))
            .str("stage", policy::to_string(rec.stage))
            .boolean("fenced", rec.fenced)
            .str("since", format_iso8601(rec.since))
            .str("set_by", rec.set_by)
            .str("reason", rec.reason)
            .opt_time("until", rec.until)
            .raw("in_flight", json_out().num("reads", t.reads_in_flight()).num("writes", t.writes_in_flight()).done())
            .num("refused_writes", t.refused_writes);
        if (auto b = gate_.last_boundary_ms(); b && *b)
            j.str("last_write_boundary", ms_time(*b));
        else
            j.null("last_write_boundary");
        if (t.last_write_done_ms)
            j.str("last_write_completed", ms_time(t.last_write_done_ms));
        else
            j.null("last_write_completed");
        if (h.last)
            j.raw("upstream", json_out()
                                  .boolean("healthy", h.last->ok)
                                  .str("detail", h.last->detail)
                                  .opt_time("checked", h.at)
                                  .done());
        else
            j.null("upstream");
        j.raw("stage_counters", json_out()
                                    .str("since", format_iso8601(rec.since))
                                    .num("requests", sc.requests)
                                    .num("upstream_responses", sc.upstream_responses)
                                    .num("upstream_5xx", sc.upstream_5xx)
                                    .num("error_rate", sc.error_rate())
                                    .num("refused_writes", sc.refused_writes)
                                    .done())
            .opt_time("watch_until", gate_.watch_until())
            .str("last_step_back", gate_.last_step_back())
            .str("in_progress", gate_.busy())
            .num("connections", std::uint64_t(gate_.connections()));
        co_return reply(js, true, txt, std::move(j).done());
    }

    case admin::verb::set_mode: {
        auto before = gate_.record();
        auto r = co_await gate_.set_mode(c.mode, c.reason, c.until, who, c.text);
        if (!r.ok) co_return error_reply(js, r.error);
        const auto& rec = gate_.record();
        std::string txt = "mode " + std::string(policy::to_string(rec.mode)) + " (was " +
                          std::string(policy::to_string(before.stage)) + ")";
        if (!rec.reason.empty()) txt += ": " + one_line(rec.reason);
        txt += "\n";
        if (rec.until) txt += "expected end " + when(*rec.until, now) + "\n";
        if (rec.fenced) txt += "the write fence stays up until reopen reaches writes or set mode open\n";
        co_return reply(js, true, txt,
                        json_out()
                            .boolean("ok", true)
                            .str("mode", policy::to_string(rec.mode))
                            .str("stage", policy::to_string(rec.stage))
                            .str("previous_stage", policy::to_string(before.stage))
                            .boolean("fenced", rec.fenced)
                            .str("reason", rec.reason)
                            .opt_time("until", rec.until)
                            .done());
    }

    case admin::verb::freeze: {
        auto r = co_await gate_.freeze(c.timeout, who, c.text);
        if (!r.fenced) co_return error_reply(js, r.error);
        std::string boundary = r.boundary_ms ? ms_time(r.boundary_ms) : std::string();
        json_out j;
        j.boolean("ok", r.ok)
            .str("mode", policy::to_string(gate_.record().mode))
            .boolean("fenced", true)
            .num("waited_for", r.waited_for)
            .num("pending", r.pending)
            .num("waited_ms", std::int64_t(r.waited.count()));
        if (r.boundary_ms)
            j.str("write_boundary", boundary);
        else
            j.null("write_boundary");
        if (!r.ok) {
            std::string msg = "freeze timed out after " + format_duration(r.timeout) + ": " +
                              std::to_string(r.pending) + " write(s) still in flight; writes stay refused";
            j.str("error", msg);
            co_return reply(js, false, "error: " + msg + "\n", std::move(j).done());
        }
        std::string txt = "frozen: no write in flight (" + std::to_string(r.waited_for) + " drained in " +
                          std::to_string(r.waited.count()) + " ms)\n";
        txt += r.boundary_ms ? "write boundary " + boundary + " (the last write finished then)\n"
                             : std::string("write boundary: no write since start-up\n");
        txt += "no write reaches the upstream until reopen reaches writes or set mode open\n";
        co_return reply(js, true, txt, std::move(j).done());
    }

    case admin::verb::reopen: {
        auto r = co_await gate_.reopen(c.to, c.force, who, c.text);
        std::string txt;
        std::vector<std::string> steps;
        for (const auto& st : r.steps) {
            txt += (st.advanced ? "-> " : "x  ") + std::string(policy::to_string(st.to)) +
                   (st.forced ? " (forced past failing checks)" : "") + "\n";
            probes_text(txt, st.checks, "     ");
            steps.push_back(json_out()
                                .str("stage", policy::to_string(st.to))
                                .boolean("advanced", st.advanced)
                                .boolean("forced", st.forced)
                                .raw("checks", probes_json(st.checks))
                                .done());
        }
        json_out j;
        j.boolean("ok", r.ok)
            .str("from", policy::to_string(r.from))
            .str("stage", policy::to_string(r.reached))
            .str("mode", policy::to_string(gate_.record().mode))
            .boolean("fenced", gate_.record().fenced)
            .raw("steps", json_array(steps));
        if (!r.ok) {
            j.str("error", r.error);
            co_return reply(js, false, "error: " + r.error + "\n" + txt + "stage stays " +
                                           std::string(policy::to_string(r.reached)) + "\n",
                            std::move(j).done());
        }
        txt = "stage " + std::string(policy::to_string(r.reached)) + " (was " + std::string(policy::to_string(r.from)) +
              ")\n" + txt;
        if (gate_.record().fenced) txt += "the write fence stays up until reopen reaches writes or set mode open\n";
        if (auto w = gate_.watch_until()) txt += "watching the upstream 5xx rate until " + when(*w, now) + "\n";
        co_return reply(js, true, txt, std::move(j).done());
    }

    case admin::verb::reopen_status: {
        const auto& rec = gate_.record();
        auto sc = gate_.since_stage();
        std::string txt = "stage " + std::string(policy::to_string(rec.stage)) + " since " + when(rec.since, now) + "\n";
        std::string next;
        if (rec.stage != policy::stage::open) {
            next = std::string(policy::to_string(static_cast<policy::stage>(static_cast<int>(rec.stage) + 1)));
            txt += "next        " + next + " (reopen)\n";
        } else {
            txt += "next        none: open\n";
        }
        std::string stages;
        for (int s = 0; s <= static_cast<int>(policy::stage::open); ++s) {
            auto st = static_cast<policy::stage>(s);
            if (s) stages += " -> ";
            stages += st == rec.stage ? "[" + std::string(policy::to_string(st)) + "]" : std::string(policy::to_string(st));
        }
        txt += "stages      " + stages + "\n";
        char rate[32];
        std::snprintf(rate, sizeof rate, "%.1f%%", sc.error_rate() * 100.0);
        txt += "this stage  " + std::to_string(sc.upstream_responses) + " upstream response(s), " +
               std::to_string(sc.upstream_5xx) + " 5xx (" + rate + ")\n";
        if (auto w = gate_.watch_until()) txt += "watch       until " + when(*w, now) + "\n";
        if (!gate_.last_step_back().empty()) txt += "step back   " + gate_.last_step_back() + "\n";
        if (auto at = gate_.last_checks_at()) {
            txt += "checks      last run " + when(*at, now) + "\n";
            probes_text(txt, gate_.last_checks(), "     ");
        } else {
            txt += "checks      not run yet (reopen and check run them)\n";
        }
        json_out j;
        j.boolean("ok", true)
            .raw("last_checks", probes_json(gate_.last_checks()))
            .opt_time("last_checks_at", gate_.last_checks_at())
            .str("stage", policy::to_string(rec.stage))
            .str("since", format_iso8601(rec.since));
        if (next.empty())
            j.null("next");
        else
            j.str("next", next);
        j.num("upstream_responses", sc.upstream_responses)
            .num("upstream_5xx", sc.upstream_5xx)
            .num("error_rate", sc.error_rate())
            .opt_time("watch_until", gate_.watch_until())
            .str("last_step_back", gate_.last_step_back());
        co_return reply(js, true, txt, std::move(j).done());
    }

    case admin::verb::check: {
        auto results = co_await gate_.run_checks_now();
        bool ok = true;
        for (const auto& r : results) ok = ok && r.ok;
        std::string txt;
        if (!ok) txt = "error: " + std::to_string(std::count_if(results.begin(), results.end(),
                                                                [](const auto& r) { return !r.ok; })) +
                       " check(s) failed\n";
        probes_text(txt, results, "");
        json_out j;
        j.boolean("ok", ok).raw("checks", probes_json(results));
        if (!ok) j.str("error", "checks failed");
        co_return reply(js, ok, txt, std::move(j).done());
    }

    case admin::verb::history: {
        auto tail = gate_.history(c.count);
        if (!tail.error.empty() && tail.lines.empty()) co_return error_reply(js, tail.error);
        std::string txt;
        for (const auto& l : tail.lines) txt += format_audit_human(l) + "\n";
        if (tail.lines.empty()) txt = "no entries yet\n";
        if (!tail.error.empty()) txt += "(stopped early: " + tail.error + ")\n";
        // The audit lines are JSON objects already: passed through as they are.
        co_return reply(js, true, txt, json_out().boolean("ok", true).raw("entries", json_array(tail.lines)).done());
    }

    case admin::verb::reload: {
        auto r = co_await gate_.reload(who, c.text);
        if (!r.ok) {
            std::string txt = "error: reload refused; the running config stays\n";
            for (const auto& e : r.errors) txt += e + "\n";
            co_return reply(js, false, txt,
                            json_out()
                                .boolean("ok", false)
                                .str("error", "reload refused; the running config stays")
                                .raw("errors", json_strings(r.errors))
                                .done());
        }
        std::string txt = "reloaded " + gate_.cfg().source + "; mode unchanged (" +
                          std::string(policy::to_string(gate_.record().stage)) + ")\n";
        for (const auto& w : r.warnings) txt += "warning: " + w + "\n";
        co_return reply(js, true, txt,
                        json_out()
                            .boolean("ok", true)
                            .str("source", gate_.cfg().source)
                            .raw("warnings", json_strings(r.warnings))
                            .done());
    }
    }
    co_return error_reply(js, "unhandled command");
}

}  // namespace maintgate::proxy
