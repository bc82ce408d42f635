#include "proxy/hooks/hook_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <csignal>
#include <cstring>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "proxy/admin/audit.hpp"

namespace maintgate {

namespace bj = boost::json;

std::string hook_result::outcome() const {
    if (interrupted) return "interrupted";
    if (killed) return "killed";
    if (timed_out) return "timed_out";
    if (!exit_code && !signal) return "not_run";
    if (backup && !backup->ok) return "refused";
    return ok ? "ok" : "failed";
}

namespace {

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string errno_text(const char* what, const std::string& path) {
    return std::string(what) + " " + path + ": " + std::strerror(errno);
}

std::string folder_of(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

// temp + fsync + rename + fsync(folder), as the state file does.
std::string durable_replace(const std::string& path, const std::string& body) {
    const std::string temp = path + ".tmp";
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) return errno_text("cannot create", temp);
    std::size_t done = 0;
    while (done < body.size()) {
        const ssize_t n = ::write(fd, body.data() + done, body.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            auto e = errno_text("cannot write", temp);
            ::close(fd);
            ::unlink(temp.c_str());
            return e;
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        auto e = errno_text("cannot fsync", temp);
        ::close(fd);
        ::unlink(temp.c_str());
        return e;
    }
    ::close(fd);
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        auto e = errno_text("cannot rename over", path);
        ::unlink(temp.c_str());
        return e;
    }
    const std::string folder = folder_of(path);
    const int dfd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return errno_text("cannot open folder", folder);
    const int rc = ::fsync(dfd);
    ::close(dfd);
    if (rc != 0) return errno_text("cannot fsync folder", folder);
    return {};
}

std::string str(const bj::object& o, std::string_view key) {
    if (const auto* v = o.if_contains(key); v && v->is_string()) return std::string(v->get_string());
    return {};
}

std::int64_t num(const bj::object& o, std::string_view key, std::int64_t fallback = 0) {
    if (const auto* v = o.if_contains(key)) {
        if (v->is_int64()) return v->get_int64();
        if (v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
    }
    return fallback;
}

bool flag(const bj::object& o, std::string_view key) {
    if (const auto* v = o.if_contains(key); v && v->is_bool()) return v->get_bool();
    return false;
}

bj::object to_json(const journal_entry& e) {
    return {{"id", e.id},        {"hook", e.hook},   {"phase", e.phase},          {"window", e.window_id},
            {"actor", e.actor},  {"pid", e.pid},     {"started_ms", e.started_ms}};
}

backup_record backup_record_from_json(const bj::object& o) {
    backup_record r;
    r.artifact = str(o, "artifact");
    r.bytes = static_cast<std::uint64_t>(num(o, "bytes"));
    r.sha256 = str(o, "sha256");
    r.at_ms = num(o, "at_ms");
    r.window_id = str(o, "window");
    return r;
}

}  // namespace

bj::object to_json(const backup_record& r) {
    return {{"artifact", r.artifact}, {"bytes", r.bytes}, {"sha256", r.sha256}, {"at_ms", r.at_ms},
            {"window", r.window_id}};
}

bj::object to_json(const hook_result& r) {
    bj::object o{{"name", r.name},
                 {"phase", r.phase},
                 {"window", r.window_id},
                 {"ok", r.ok},
                 {"outcome", r.outcome()},
                 {"exit_code", nullptr},
                 {"signal", nullptr},
                 {"timed_out", r.timed_out},
                 {"killed", r.killed},
                 {"interrupted", r.interrupted},
                 {"pid", r.pid},
                 {"started_ms", r.started_ms},
                 {"duration_ms", r.took.count()},
                 {"output", r.output},
                 {"output_truncated", r.output_truncated},
                 {"error", r.error},
                 {"backup", nullptr}};
    if (r.exit_code) o["exit_code"] = *r.exit_code;
    if (r.signal) o["signal"] = *r.signal;
    if (r.backup)
        o["backup"] = bj::object{{"ok", r.backup->ok},
                                 {"artifact", r.backup->artifact},
                                 {"bytes", r.backup->bytes},
                                 {"sha256", r.backup->sha256},
                                 {"refused", r.backup->refused}};
    return o;
}

hook_result hook_result_from_json(const bj::object& o) {
    hook_result r;
    r.name = str(o, "name");
    r.phase = str(o, "phase");
    r.window_id = str(o, "window");
    r.ok = flag(o, "ok");
    if (const auto* v = o.if_contains("exit_code"); v && v->is_int64()) r.exit_code = int(v->get_int64());
    if (const auto* v = o.if_contains("signal"); v && v->is_int64()) r.signal = int(v->get_int64());
    r.timed_out = flag(o, "timed_out");
    r.killed = flag(o, "killed");
    r.interrupted = flag(o, "interrupted");
    r.pid = static_cast<long>(num(o, "pid", -1));
    r.started_ms = num(o, "started_ms");
    r.took = duration(num(o, "duration_ms"));
    r.output = str(o, "output");
    r.output_truncated = flag(o, "output_truncated");
    r.error = str(o, "error");
    if (const auto* b = o.if_contains("backup"); b && b->is_object()) {
        const auto& bo = b->get_object();
        backup_verdict v;
        v.ok = flag(bo, "ok");
        v.artifact = str(bo, "artifact");
        v.bytes = static_cast<std::uint64_t>(num(bo, "bytes"));
        v.sha256 = str(bo, "sha256");
        v.refused = str(bo, "refused");
        r.backup = v;
    }
    return r;
}

std::string hooks_file_for(const std::string& state_file) {
    if (state_file.empty()) return {};
    const auto slash = state_file.rfind('/');
    if (slash == std::string::npos) return "hooks.json";
    return state_file.substr(0, slash + 1) + "hooks.json";
}

hook_store::open_result hook_store::open(std::string path, std::string audit_log) {
    open_result out;
    path_ = std::move(path);
    audit_log_ = std::move(audit_log);
    running_.clear();
    last_good_.clear();
    runs_.clear();
    interrupted_.clear();
    if (path_.empty()) return out;

    std::string text;
    if (std::FILE* f = std::fopen(path_.c_str(), "rb")) {
        char buf[65536];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
        std::fclose(f);
    } else if (errno != ENOENT) {
        out.error = errno_text("cannot read", path_);
        return out;
    } else {
        return out;
    }

    boost::system::error_code ec;
    bj::value v = bj::parse(text, ec);
    if (ec || !v.is_object()) {
        // Keep the evidence, start a fresh journal: refusing to run hooks forever over
        // a torn file would be worse, and the old file tells what was recorded.
        const std::string aside = path_ + ".corrupt";
        std::rename(path_.c_str(), aside.c_str());
        out.error = path_ + " is not valid JSON (" + (ec ? ec.message() : std::string("not an object")) +
                    "); moved to " + aside;
        return out;
    }
    const auto& o = v.get_object();
    if (const auto* g = o.if_contains("last_good"); g && g->is_object())
        for (const auto& [name, rec] : g->get_object())
            if (rec.is_object()) last_good_[std::string(name)] = backup_record_from_json(rec.get_object());
    if (const auto* h = o.if_contains("runs"); h && h->is_array())
        for (const auto& r : h->get_array())
            if (r.is_object()) runs_.push_back(hook_result_from_json(r.get_object()));
    if (const auto* j = o.if_contains("running"); j && j->is_array()) {
        for (const auto& e : j->get_array()) {
            if (!e.is_object()) continue;
            const auto& eo = e.get_object();
            hook_result r;
            r.name = str(eo, "hook");
            r.phase = str(eo, "phase");
            r.window_id = str(eo, "window");
            r.pid = static_cast<long>(num(eo, "pid", -1));
            r.started_ms = num(eo, "started_ms");
            r.interrupted = true;
            r.error = "maintgate stopped while this hook ran";
            if (r.pid > 0 && ::kill(static_cast<pid_t>(r.pid), 0) == 0)
                r.error += "; pid " + std::to_string(r.pid) + " is still alive (not killed, not re-run)";
            else
                r.error += r.pid > 0 ? "; not re-run" : " (before its pid was recorded); not re-run";
            out.interrupted.push_back(r);
            runs_.push_back(r);
            audit(r, str(eo, "actor"));
        }
    }
    while (runs_.size() > history_size) runs_.pop_front();
    interrupted_ = out.interrupted;
    for (const auto& r : interrupted_) ++counts_[{r.name, r.outcome()}];
    if (!out.interrupted.empty()) {
        if (auto e = save(); !e.empty()) out.error = e;
    }
    return out;
}

std::string hook_store::save() {
    if (path_.empty()) return {};
    bj::object o;
    o["version"] = 1;
    bj::array running;
    for (const auto& e : running_) running.push_back(to_json(e));
    o["running"] = std::move(running);
    bj::object good;
    for (const auto& [name, rec] : last_good_) good[name] = to_json(rec);
    o["last_good"] = std::move(good);
    bj::array runs;
    for (const auto& r : runs_) runs.push_back(to_json(r));
    o["runs"] = std::move(runs);
    return durable_replace(path_, bj::serialize(o) + "\n");
}

std::string hook_store::begin(journal_entry& e) {
    e.id = next_id_++;
    if (e.started_ms == 0) e.started_ms = now_ms();
    running_.push_back(e);
    auto err = save();
    if (!err.empty()) running_.pop_back();
    return err;
}

std::string hook_store::set_pid(std::uint64_t id, long pid) {
    for (auto& e : running_)
        if (e.id == id) e.pid = pid;
    return save();
}

std::string hook_store::finish(std::uint64_t id, const hook_result& r, const std::string& actor) {
    std::erase_if(running_, [id](const journal_entry& e) { return e.id == id; });
    runs_.push_back(r);
    while (runs_.size() > history_size) runs_.pop_front();
    if (r.ok && r.backup && r.backup->ok)
        last_good_[r.name] = backup_record{r.backup->artifact, r.backup->bytes, r.backup->sha256,
                                           r.started_ms + r.took.count(), r.window_id};
    ++counts_[{r.name, r.outcome()}];
    auto err = save();
    audit(r, actor);
    return err;
}

std::optional<backup_record> hook_store::last_good(const std::string& hook) const {
    const auto it = last_good_.find(hook);
    if (it == last_good_.end()) return std::nullopt;
    return it->second;
}

void hook_store::audit(const hook_result& r, const std::string& actor) {
    if (audit_log_.empty()) return;
    audit_entry e;
    e.time = std::chrono::system_clock::now();
    e.actor = actor.empty() ? "maintgate" : actor;
    e.command = "hook " + r.name;
    if (gate_now_) {
        const gate_record g = gate_now_();
        e.old_mode = e.new_mode = g.mode;
        e.old_stage = e.new_stage = g.stage;
    } else {
        e.old_mode = e.new_mode = policy::mode::open;
        e.old_stage = e.new_stage = policy::stage::open;
    }
    e.outcome = r.outcome();
    std::string d = "phase " + (r.phase.empty() ? std::string("-") : r.phase);
    if (!r.window_id.empty()) d += " window " + r.window_id;
    if (r.pid > 0) d += " pid " + std::to_string(r.pid);
    if (!r.error.empty()) d += ": " + r.error;
    if (r.backup && r.backup->ok)
        d += "; backup " + r.backup->artifact + " " + std::to_string(r.backup->bytes) + " bytes sha256 " +
             r.backup->sha256;
    if (!r.output.empty()) d += "; output: " + r.output;
    e.detail = std::move(d);
    if (auto err = append_audit(audit_log_, e); !err.empty())
        spdlog::error("audit log: {} (hook {} {})", err, r.name, e.outcome);
}

hook_store& hooks_store() {
    static hook_store store;
    return store;
}

}  // namespace maintgate
