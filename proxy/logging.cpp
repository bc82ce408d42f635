#include "proxy/logging.hpp"

#include <ctime>
#include <memory>
#include <stdexcept>

#include <spdlog/async.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace maintgate {
namespace {

std::shared_ptr<spdlog::logger> access_logger;
access_format access_fmt = access_format::combined;

spdlog::sink_ptr make_sink(const std::string& target) {
    if (target == "stderr") return std::make_shared<spdlog::sinks::stderr_sink_mt>();
    if (target == "stdout") return std::make_shared<spdlog::sinks::stdout_sink_mt>();
    return std::make_shared<spdlog::sinks::basic_file_sink_mt>(target);  // appends
}

// The time stamp changes once a second; each worker thread keeps its own copy so the
// data path formats a date at most once a second and shares nothing.
struct time_cache {
    std::time_t second = -1;
    char combined[40] = {};  // 22/Nov/2026:01:02:03 +0000
    char iso[32] = {};       // 2026-11-22T01:02:03Z
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
    if (s.empty()) out.push_back('-');
    else append_escaped(out, s, false);
}

}  // namespace

void init_logging(const log_config& cfg) {
    try {
        spdlog::init_thread_pool(8192, 1);
        auto error_logger = std::make_shared<spdlog::async_logger>(
            "maintgate", make_sink(cfg.error), spdlog::thread_pool(),
            spdlog::async_overflow_policy::overrun_oldest);
        error_logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z [%l] %v");
        error_logger->set_level(spdlog::level::from_str(cfg.level));
        // Error-log lines are rare and wanted at once (a tail -f at 2am, a test waiting
        // for "listening on"); the flush happens on the logging thread, not here.
        error_logger->flush_on(spdlog::level::trace);
        spdlog::set_default_logger(error_logger);

        if (!cfg.access.empty()) {
            access_logger = std::make_shared<spdlog::async_logger>(
                "access", make_sink(cfg.access), spdlog::thread_pool(),
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
        spdlog::shutdown();
    } catch (...) {
    }
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
