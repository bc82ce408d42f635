#include "proxy/logging.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <stdexcept>

#include <spdlog/async.h>
#include <spdlog/details/os.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace maintgate {
namespace {

// An appending file sink that can be pointed at a fresh file of the same name once
// logrotate has renamed the old one. spdlog's basic_file_sink cannot: its reopen closes
// first and leaves no file at all when the open fails. Writes happen on the logging
// thread and reopen() on the admin thread, both under base_sink's mutex.
class reopenable_file_sink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    explicit reopenable_file_sink(std::string path) : path_(std::move(path)) {
        file_ = open_append(path_);
        if (!file_) throw spdlog::spdlog_ex("cannot open " + path_ + ": " + std::strerror(errno));
    }
    ~reopenable_file_sink() override {
        if (file_) std::fclose(file_);
    }

    // Empty on success; else why, with the old file still in use.
    std::string reopen() {
        std::FILE* fresh = open_append(path_);
        if (!fresh)
            return "cannot reopen " + path_ + ": " + std::strerror(errno) + "; still writing to the old file";
        std::lock_guard lock(mutex_);
        std::fflush(file_);
        std::fclose(file_);
        file_ = fresh;
        return {};
    }

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        spdlog::memory_buf_t line;
        formatter_->format(msg, line);
        std::fwrite(line.data(), 1, line.size(), file_);  // a full disk loses the line, not the proxy
    }
    void flush_() override { std::fflush(file_); }

private:
    static std::FILE* open_append(const std::string& path) {
        // As spdlog's own file sink does: a missing folder is created.
        spdlog::details::os::create_dir(spdlog::details::os::dir_name(path));
        // "e": O_CLOEXEC, so no child ever inherits a log file.
        return std::fopen(path.c_str(), "ae");
    }

    std::string path_;
    std::FILE* file_ = nullptr;
};

std::shared_ptr<spdlog::logger> access_logger;
access_format access_fmt = access_format::combined;
// The file sinks, for reopen_logs(); set once in init_logging, before any signal is taken.
std::vector<std::shared_ptr<reopenable_file_sink>> file_sinks;

spdlog::sink_ptr make_sink(const std::string& target) {
    if (target == "stderr") return std::make_shared<spdlog::sinks::stderr_sink_mt>();
    if (target == "stdout") return std::make_shared<spdlog::sinks::stdout_sink_mt>();
    auto sink = std::make_shared<reopenable_file_sink>(target);
    file_sinks.push_back(sink);
    return sink;
}

// The time stamp changes once a second; each worker thread keeps its own copy so the
// data path formats a date at most once a second and shares nothing.
struct time_cache {
    std::time_t second = -1;
    char combined[40] = {};  // 22/Nov/2026:01:02:03 +0000
    char iso[32] = {};  // 2026-11-22T01:02:03Z
};

const time_cache& now_cached() {
    thread_local time_cache cache;
    std::time_t now = std::time(nullptr);
    if (now != cache.second) {
        std::tm tm{};
        gmtime_r(&now, &tm);
        std::strftime(cache.combined, sizeof cache.combined, "%d/%b/%Y:%H:%M:%S +0000", &tm);
        std::strftime(cache.iso, sizeof cache.iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
        cache.second = now;
    }
    return cache;
}

// Combined log format quotes fields; a client-controlled quote or control byte must not
// be able to forge a second log line or field.
void append_escaped(fmt::memory_buffer& out, std::string_view s, bool json) {
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c < 0x20 || c >= 0x7f) {
            // Field values are octets, not UTF-8: JSON gets them as ISO-8859-1 code
            // points, so every line stays valid JSON whatever the client sent.
            if (json)
                fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
            else
                fmt::format_to(std::back_inserter(out), "\\x{:02x}", c);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
}

void append_or_dash(fmt::memory_buffer& out, std::string_view s) {
    if (s.empty())
        out.push_back('-');
    else
        append_escaped(out, s, false);
}

}  // namespace

void init_logging(const log_config& cfg) {
    try {
        spdlog::init_thread_pool(8192, 1);
        auto error_logger =
            std::make_shared<spdlog::async_logger>("maintgate", make_sink(cfg.error), spdlog::thread_pool(),
                                                   spdlog::async_overflow_policy::overrun_oldest);
        error_logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z [%l] %v");
        error_logger->set_level(spdlog::level::from_str(cfg.level));
        // Error-log lines are rare and wanted at once (a tail -f at 2am, a test waiting
        // for "listening on"); the flush happens on the logging thread, not here.
        error_logger->flush_on(spdlog::level::trace);
        spdlog::set_default_logger(error_logger);

        if (!cfg.access.empty()) {
            access_logger =
                std::make_shared<spdlog::async_logger>("access", make_sink(cfg.access), spdlog::thread_pool(),
                                                       spdlog::async_overflow_policy::overrun_oldest);
            access_logger->set_pattern("%v");
            access_logger->set_level(spdlog::level::info);
            access_logger->flush_on(spdlog::level::info);
            access_fmt = cfg.format;
        }
    } catch (const spdlog::spdlog_ex& e) {
        throw std::runtime_error(std::string("cannot open log: ") + e.what());
    }
}

void shutdown_logging() noexcept {
    try {
        // The loggers die after spdlog::shutdown() has joined the log thread, so that
        // thread's last use of them happens before their destruction. The other order
        // works only because spdlog's own reference counting hides it, which
        // ThreadSanitizer cannot see into (the library is not instrumented).
        auto error_logger = spdlog::default_logger();
        auto access = std::move(access_logger);
        auto sinks = std::move(file_sinks);
        spdlog::shutdown();
    } catch (...) {}
}

std::vector<std::string> reopen_logs() {
    std::vector<std::string> failed;
    // Lines still queued for the logging thread land in the new file; each line is
    // written whole under the sink's mutex, so neither file gets a torn one.
    for (const auto& sink : file_sinks)
        if (auto err = sink->reopen(); !err.empty()) failed.push_back(std::move(err));
    return failed;
}

bool access_log_enabled() noexcept { return access_logger != nullptr; }

void log_access(const access_record& r) noexcept {
    if (!access_logger) return;
    try {
        const auto& t = now_cached();
        fmt::memory_buffer out;
        auto it = std::back_inserter(out);
        if (access_fmt == access_format::combined) {
            append_escaped(out, r.peer, false);
            fmt::format_to(it, " - - [{}] \"", t.combined);
            append_escaped(out, r.method, false);
            out.push_back(' ');
            append_escaped(out, r.target, false);
            fmt::format_to(it, " HTTP/{}.{}\" {} {} \"", r.version / 10, r.version % 10, r.status,
                           r.bytes_sent);
            append_or_dash(out, r.referer);
            fmt::format_to(it, "\" \"");
            append_or_dash(out, r.user_agent);
            out.push_back('"');
        } else {
            fmt::format_to(it, "{{\"time\":\"{}\",\"remote\":\"", t.iso);
            append_escaped(out, r.peer, true);
            fmt::format_to(it, "\",\"method\":\"");
            append_escaped(out, r.method, true);
            fmt::format_to(it, "\",\"target\":\"");
            append_escaped(out, r.target, true);
            fmt::format_to(it, "\",\"version\":\"{}.{}\",\"status\":{},\"bytes\":{},\"referer\":\"",
                           r.version / 10, r.version % 10, r.status, r.bytes_sent);
            append_escaped(out, r.referer, true);
            fmt::format_to(it, "\",\"user_agent\":\"");
            append_escaped(out, r.user_agent, true);
            fmt::format_to(it, "\",\"duration_ms\":{:.3f}}}", r.elapsed.count() / 1000.0);
        }
        access_logger->info(std::string_view(out.data(), out.size()));
    } catch (...) {
        // A log line is never worth failing a request over.
    }
}

}  // namespace maintgate
