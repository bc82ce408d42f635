#include "proxy/hooks/runner.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <tuple>
#include <utility>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include "proxy/hooks/backup_gate.hpp"
#include "proxy/hooks/hook_store.hpp"
#include "proxy/hooks/redact.hpp"

extern char** environ;

namespace maintgate::proxy {

namespace {

using namespace boost::asio::experimental::awaitable_operators;
using env_list = std::vector<std::pair<std::string, std::string>>;
using steady = std::chrono::steady_clock;

// After the hook exits, a process it left in its group may still hold the output pipe;
// maintgate stops reading this long after the exit instead of waiting for it.
constexpr duration drain_after_exit{1'000};

std::int64_t unix_ms_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

env_list child_env(const hook_spec& spec, const hook_context& ctx) {
    env_list env;
    auto put = [&env](std::string name, std::string value) {
        for (auto& kv : env)
            if (kv.first == name) {
                kv.second = std::move(value);
                return;
            }
        env.emplace_back(std::move(name), std::move(value));
    };
    for (const auto& name : spec.env)
        if (const char* v = std::getenv(name.c_str())) put(name, v);
    for (const auto& [name, value] : spec.set_env) put(name, value);
    // Last, so that neither the allow-list nor set_env can forge them.
    put("MAINTGATE_HOOK", spec.name);
    put("MAINTGATE_WINDOW_ID", ctx.window_id);
    put("MAINTGATE_PHASE", ctx.phase);
    put("MAINTGATE_WRITE_BOUNDARY", ctx.write_boundary_ms ? std::to_string(*ctx.write_boundary_ms) : "");
    put("MAINTGATE_ACTOR", ctx.actor);
    return env;
}

struct spawned {
    pid_t pid = -1;
    int out = -1;  // read end of the stdout+stderr pipe
    std::string error;
};

// posix_spawnp into a new process group (pgid = its pid), stdin from /dev/null, stdout
// and stderr into one pipe, every other descriptor closed, signal dispositions and mask
// reset (maintgate ignores SIGPIPE; a hook must not inherit that).
spawned spawn_child(const std::vector<std::string>& argv, const env_list& env, const std::string& cwd) {
    spawned s;
    if (argv.empty()) {
        s.error = "argv is empty";
        return s;
    }
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        s.error = std::string("cannot create a pipe: ") + std::strerror(errno);
        return s;
    }
    std::vector<std::string> env_text;
    env_text.reserve(env.size());
    for (const auto& [k, v] : env) env_text.push_back(k + "=" + v);
    std::vector<char*> cargv, cenv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    for (auto& e : env_text) cenv.push_back(e.data());
    cenv.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    // Listening sockets, the admin socket, the state file: none of them is the hook's,
    // and a hook that outlives maintgate must not keep its ports bound.
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());

    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, cargv[0], &fa, &attr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(fds[1]);
    if (rc != 0) {
        ::close(fds[0]);
        s.error = "cannot run " + argv[0] + (cwd.empty() ? "" : " in " + cwd) + ": " + std::strerror(rc);
        return s;
    }
    s.pid = pid;
    s.out = fds[0];
    return s;
}

// One child from spawn to reaped, with its output.
struct child_state {
    child_state(net::io_context& ioc, pid_t p, int out_fd)
        : pid(p), pipe(ioc, out_fd), limit(ioc), drain(ioc) {}
    pid_t pid;
    net::posix::stream_descriptor pipe;
    net::steady_timer limit;  // timeout, then grace
    net::steady_timer drain;  // after the exit
    std::string out;
    std::size_t keep = 0;
    bool truncated = false;
    bool exited = false, eof = false;
    bool timed_out = false, killed = false;
    int status = 0;

    void maybe_done() {
        if (exited && eof) limit.cancel();
        if (eof) drain.cancel();
    }
};

net::awaitable<void> read_output(child_state& st) {
    char buf[8192];
    for (;;) {
        auto [ec, n] = co_await st.pipe.async_read_some(net::buffer(buf), net::as_tuple(net::use_awaitable));
        if (n > 0) {
            const std::size_t room = st.keep > st.out.size() ? st.keep - st.out.size() : 0;
            st.out.append(buf, std::min(room, n));
            if (n > room) st.truncated = true;
        }
        if (ec) break;
    }
    st.eof = true;
    st.maybe_done();
}

net::awaitable<void> wait_exit(net::io_context& ioc, child_state& st) {
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, st.pid, 0));
    if (pidfd >= 0) {
        // Readable once the child has exited; waitpid then returns at once.
        net::posix::stream_descriptor d(ioc, pidfd);
        co_await d.async_wait(net::posix::descriptor_base::wait_read, net::as_tuple(net::use_awaitable));
    }
    // Without pidfd (kernels before 5.3) a waitpid poll; with it, the reap itself.
    net::steady_timer poll(ioc);
    for (;;) {
        const pid_t r = ::waitpid(st.pid, &st.status, WNOHANG);
        if (r == st.pid || (r < 0 && errno != EINTR)) break;
        poll.expires_after(std::chrono::milliseconds(20));
        co_await poll.async_wait(net::as_tuple(net::use_awaitable));
    }
    st.exited = true;
    st.maybe_done();
    if (!st.eof && !st.timed_out) {
        st.drain.expires_after(drain_after_exit);
        co_await st.drain.async_wait(net::as_tuple(net::use_awaitable));
        if (!st.eof) st.pipe.close();
    }
}

// SIGTERM to the group at the timeout, SIGKILL to the group after the grace.
net::awaitable<void> enforce_timeout(child_state& st, duration timeout, duration grace) {
    st.limit.expires_after(timeout);
    auto [ec] = co_await st.limit.async_wait(net::as_tuple(net::use_awaitable));
    if (ec || (st.exited && st.eof)) co_return;
    st.timed_out = true;
    if (st.pid > 1) ::kill(-st.pid, SIGTERM);
    st.limit.expires_after(grace);
    std::tie(ec) = co_await st.limit.async_wait(net::as_tuple(net::use_awaitable));
    // Even when the leader left at SIGTERM, what it started in its group may not have.
    // Cancelled: the hook and everything holding its output are gone. Otherwise the grace
    // passed; kill(-pgid, 0) succeeds while any member lives.
    if (!ec && st.pid > 1 && ::kill(-st.pid, 0) == 0) {
        st.killed = true;
        ::kill(-st.pid, SIGKILL);
    }
    // A member that left the group (setsid) keeps the pipe open for ever: stop reading.
    if (!st.eof) {
        st.limit.expires_after(drain_after_exit);
        co_await st.limit.async_wait(net::as_tuple(net::use_awaitable));
        if (!st.eof) st.pipe.close();
    }
}

struct process_outcome {
    std::optional<int> exit_code, signal;
    bool timed_out = false, killed = false;
    long pid = -1;
    std::string output;
    bool truncated = false;
    std::string error;  // spawn failure
};

net::awaitable<process_outcome> run_process(net::io_context& ioc, const std::vector<std::string>& argv,
                                            const env_list& env, const std::string& cwd, duration timeout,
                                            duration grace, std::size_t keep,
                                            const std::function<void(long)>& on_spawn) {
    process_outcome o;
    spawned s = spawn_child(argv, env, cwd);
    if (s.pid < 0) {
        o.error = s.error;
        co_return o;
    }
    o.pid = s.pid;
    if (on_spawn) on_spawn(s.pid);
    child_state st(ioc, s.pid, s.out);
    st.keep = keep;
    co_await (read_output(st) && wait_exit(ioc, st) && enforce_timeout(st, timeout, grace));
    if (WIFEXITED(st.status)) o.exit_code = WEXITSTATUS(st.status);
    if (WIFSIGNALED(st.status)) o.signal = WTERMSIG(st.status);
    o.timed_out = st.timed_out;
    o.killed = st.killed;
    o.output = std::move(st.out);
    o.truncated = st.truncated;
    co_return o;
}

std::string describe_end(const process_outcome& p, const hook_spec& spec) {
    if (p.killed)
        return "timed out after " + format_duration(spec.timeout) + "; killed (SIGKILL to the process group) after " +
               format_duration(spec.kill_grace) + " more";
    if (p.timed_out) return "timed out after " + format_duration(spec.timeout) + "; stopped by SIGTERM";
    if (p.signal) return std::string("ended by signal ") + std::to_string(*p.signal) + " (" + strsignal(*p.signal) + ")";
    if (p.exit_code && *p.exit_code != 0) return "exit " + std::to_string(*p.exit_code);
    return {};
}

std::optional<std::string> read_small_file(const std::string& path, std::size_t cap, std::string& error) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) {
        error = "result file " + path + ": " + std::strerror(errno);
        return std::nullopt;
    }
    std::string text;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) {
        text.append(buf, n);
        if (text.size() > cap) {
            error = "result file " + path + " is larger than " + std::to_string(cap) + " bytes";
            return std::nullopt;
        }
    }
    return text;
}

// Hashing a dump of many gigabytes takes seconds: done on a thread of its own, so the
// admin thread keeps answering. The thread belongs to the io_context the hooks run on
// (an Asio service: made on first use, joined when that io_context shuts down), not to
// a function-local static, which outlived every io_context and was torn down in
// whatever order static destruction chose.
class hash_service : public net::execution_context::service {
public:
    using key_type = hash_service;
    static inline net::execution_context::id id;

    explicit hash_service(net::execution_context& owner) : service(owner) {}
    ~hash_service() override { pool_.join(); }

    net::thread_pool& pool() noexcept { return pool_; }

private:
    // Stop taking work and wait for a hash under way: its completion is posted to the
    // io_context, which is shutting down and destroys it unrun.
    void shutdown() override {
        pool_.stop();
        pool_.join();
    }

    net::thread_pool pool_{1};
};

// The result arrives on the awaiting coroutine's executor. No capturing coroutine lambda
// here: GCC 12 destroyed a by-value capture of a coroutine parameter twice (the double
// free at the exit of proxy_tests), so the hash runs in a plain function object.
template <class Token>
auto async_hash(net::thread_pool& pool, std::string path, Token&& token) {
    return net::async_initiate<Token, void(std::optional<std::string>, std::string)>(
        [&pool](auto handler, std::string file) {
            auto work = net::make_work_guard(net::get_associated_executor(handler));
            net::post(pool, [handler = std::move(handler), work = std::move(work), file = std::move(file)]() mutable {
                std::string error;
                auto hash = sha256_file(file, error);
                auto ex = work.get_executor();
                net::post(ex, [handler = std::move(handler), hash = std::move(hash),
                               error = std::move(error)]() mutable { std::move(handler)(std::move(hash), std::move(error)); });
                work.reset();
            });
        },
        token, std::move(path));
}

net::awaitable<std::optional<std::string>> hash_off_thread(net::io_context& ioc, std::string path,
                                                           std::string& error) {
    auto& pool = net::use_service<hash_service>(ioc).pool();
    std::tuple<std::optional<std::string>, std::string> got = co_await async_hash(pool, std::move(path), net::use_awaitable);
    error = std::move(std::get<1>(got));
    co_return std::move(std::get<0>(got));
}

net::awaitable<backup_verdict> judge_backup(net::io_context& ioc, const hook_spec& spec, const env_list& env,
                                            hook_result& r) {
    const backup_gate& g = *spec.backup;
    backup_verdict v;
    std::string error;
    auto text = read_small_file(g.result_file, 1 << 20, error);
    if (!text) {
        v.refused = error;
        co_return v;
    }
    auto claim = parse_backup_result(*text, g.result_file, error);
    if (!claim) {
        v.refused = error;
        co_return v;
    }
    v.artifact = claim->artifact;
    const artifact_facts facts = stat_artifact(claim->artifact);
    v.bytes = facts.size;
    const auto last = hooks_store().last_good(spec.name);
    if (auto why = judge_artifact(g, *claim, facts, last, std::chrono::system_clock::now()); !why.empty()) {
        v.refused = why;
        co_return v;
    }
    auto hash = co_await hash_off_thread(ioc, claim->artifact, error);
    if (!hash) {
        v.refused = error;
        co_return v;
    }
    v.sha256 = *hash;
    if (*hash != claim->sha256) {
        v.refused = "sha256 of the artifact is " + *hash + ", the result file says " + claim->sha256;
        co_return v;
    }
    if (!g.verify.empty()) {
        env_list venv = env;
        venv.emplace_back("MAINTGATE_ARTIFACT", claim->artifact);
        venv.emplace_back("MAINTGATE_ARTIFACT_SHA256", *hash);
        const redactor red(venv, spec.redact);
        auto p = co_await run_process(ioc, g.verify, venv, spec.cwd, spec.timeout, spec.kill_grace,
                                      spec.output_cap + red.longest(), {});
        std::string vout = red.apply(std::move(p.output));
        if (!vout.empty()) {
            std::string joined = r.output + (r.output.empty() ? "" : "\n") + "[verify] " + vout;
            if (joined.size() > spec.output_cap) {
                joined.resize(spec.output_cap);
                r.output_truncated = true;
            }
            r.output = std::move(joined);
        }
        if (!p.error.empty()) {
            v.refused = "verify: " + p.error;
            co_return v;
        }
        if (auto end = describe_end(p, spec); !end.empty()) {
            v.refused = "verify: " + end;
            co_return v;
        }
    }
    v.ok = true;
    co_return v;
}

}  // namespace

net::awaitable<hook_result> run_hook(net::io_context& ioc, const hook_spec& spec, const hook_context& ctx) {
    hook_result r;
    r.name = spec.name;
    r.phase = ctx.phase;
    r.window_id = ctx.window_id;
    r.started_ms = unix_ms_now();
    const auto t0 = steady::now();
    hook_store& store = hooks_store();

    const env_list env = child_env(spec, ctx);
    const redactor red(env, spec.redact);

    journal_entry je{0, spec.name, ctx.phase, ctx.window_id, ctx.actor, -1, r.started_ms};
    if (auto err = store.begin(je); !err.empty()) {
        // An unrecorded run could not be reported after a crash: better not to run it.
        r.error = "hook journal: " + err + "; not run";
        spdlog::error("hook {}: {}", spec.name, r.error);
        store.audit(r, ctx.actor);
        co_return r;
    }
    auto on_spawn = [&](long pid) {
        if (auto err = store.set_pid(je.id, pid); !err.empty())
            spdlog::warn("hook {}: journal: {} (pid {} not recorded)", spec.name, err, pid);
    };
    spdlog::info("hook {} started (phase {}{})", spec.name, ctx.phase.empty() ? "-" : ctx.phase,
                 ctx.window_id.empty() ? "" : ", window " + ctx.window_id);
    auto p = co_await run_process(ioc, spec.argv, env, spec.cwd, spec.timeout, spec.kill_grace,
                                  spec.output_cap + red.longest(), on_spawn);
    r.pid = p.pid;
    r.exit_code = p.exit_code;
    r.signal = p.signal;
    r.timed_out = p.timed_out;
    r.killed = p.killed;
    r.output = red.apply(std::move(p.output));
    r.output_truncated = p.truncated;
    if (r.output.size() > spec.output_cap) {
        r.output.resize(spec.output_cap);
        r.output_truncated = true;
    }
    if (!p.error.empty()) {
        r.error = p.error;
    } else if (auto end = describe_end(p, spec); !end.empty()) {
        r.error = end;
    } else {
        r.ok = true;
        if (spec.backup) {
            r.backup = co_await judge_backup(ioc, spec, env, r);
            if (!r.backup->ok) {
                r.ok = false;
                r.error = "backup refused: " + r.backup->refused;
            }
        }
    }
    r.took = std::chrono::duration_cast<duration>(steady::now() - t0);
    if (auto err = store.finish(je.id, r, ctx.actor); !err.empty())
        spdlog::warn("hook {}: journal: {}", spec.name, err);
    if (r.ok)
        spdlog::info("hook {} ok in {}", spec.name, format_duration(r.took));
    else
        spdlog::warn("hook {} {}: {}", spec.name, r.outcome(), r.error);
    co_return r;
}

net::awaitable<std::vector<hook_result>> run_hooks(net::io_context& ioc, const config& cfg,
                                                   const std::vector<std::string>& names,
                                                   const hook_context& ctx) {
    std::vector<hook_result> out;
    for (const auto& name : names) {
        const hook_spec* spec = nullptr;
        for (const auto& h : cfg.hooks)
            if (h.name == name) spec = &h;
        if (!spec) {
            hook_result r;
            r.name = name;
            r.phase = ctx.phase;
            r.window_id = ctx.window_id;
            r.error = "no [[hook]] named \"" + name + "\"";
            out.push_back(std::move(r));
            break;
        }
        out.push_back(co_await run_hook(ioc, *spec, ctx));
        if (!out.back().ok) break;
    }
    co_return out;
}

std::string summarize(const std::vector<hook_result>& results) {
    for (const auto& r : results)
        if (!r.ok) return "hook " + r.name + ": " + r.error;
    return "ok";
}

}  // namespace maintgate::proxy
