#pragma once
// The error log and the optional access log, both asynchronous: the data path formats a
// line into a queue and returns; a background thread does the file I/O, and a full queue
// drops the oldest line rather than blocking a request.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/config.hpp"

namespace maintgate {

// Installs the error log as spdlog's default logger and opens the access log when one is
// configured. Throws std::runtime_error with a clear message (start-up only).
void init_logging(const log_config& cfg);

// Flushes and stops the background logging thread.
void shutdown_logging() noexcept;

// Reopens the error and access log files by name (SIGUSR1, logrotate's postrotate): lines
// written so far stay in the file that was renamed away, later ones go to a fresh file at
// the configured path (created now, so its permissions can be checked at once). A log that cannot be reopened keeps writing to the file it
// had. stderr and stdout are left alone. Returns one message per failure (empty: all
// reopened). Not for the data path: it opens files; call it from the admin thread.
std::vector<std::string> reopen_logs();

struct access_record {
    std::string_view peer;
    std::string_view method;
    std::string_view target;
    std::string_view referer;
    std::string_view user_agent;
    unsigned version = 11;  // 10 or 11
    unsigned status = 0;
    std::uint64_t bytes_sent = 0;  // response body bytes
    std::chrono::microseconds elapsed{0};
};

// True when an access log is configured; checked before building a record.
bool access_log_enabled() noexcept;

// Appends one line in the configured format (combined or JSON lines).
void log_access(const access_record& r) noexcept;

}  // namespace maintgate
