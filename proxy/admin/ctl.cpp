#include "proxy/admin/ctl.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "proxy/admin/admin_command.hpp"
#include "proxy/config/config.hpp"
#include "proxy/config/duration.hpp"

#include <toml++/toml.h>

namespace maintgate::proxy {

namespace {

constexpr std::string_view usage_text =
    "usage: maintgate ctl [--socket PATH | -c FILE] [--json] [--timeout DURATION] COMMAND [WORDS...]\n"
    "\n"
    "Sends one command to a running maintgate's admin socket and prints the reply.\n"
    "Words holding spaces are quoted for the server: reason \"schema migration\" stays one word.\n"
    "\n"
    "options (before the command):\n"
    "  -s, --socket PATH       the admin socket; default: [admin] socket of -c FILE,\n"
    "                          else of the embedded default configuration\n"
    "  -c, --config FILE       read the socket path from this configuration\n"
    "      --json              ask for the JSON reply and print it as received\n"
    "      --timeout DURATION  give up after this long (5s, 2m); default 0s: wait for ever,\n"
    "                          since freeze may take its whole timeout\n"
    "  -h, --help              this help and the command list\n"
    "\n"
    "exit status: 0 done, 1 refused or failed, 2 usage error, 3 cannot connect,\n"
    "             4 connection lost or --timeout passed\n";

// A reply larger than this is not one the server sends (history at its limit is far
// smaller); stop reading rather than grow without bound.
constexpr std::size_t max_reply_bytes = 64 * 1024 * 1024;

struct ctl_options {
    std::string socket;
    std::string config;
    bool json = false;
    duration timeout{0};
    bool help = false;
    std::vector<std::string_view> words;
};

void say(const std::string& message) { std::fprintf(stderr, "maintgate ctl: %s\n", message.c_str()); }

int usage_error(const std::string& message) {
    say(message);
    std::fprintf(stderr, "try 'maintgate ctl --help'\n");
    return ctl_usage;
}

// Parses the options before the command words. Returns a usage error message, or empty.
std::string parse_options(std::span<const std::string_view> args, ctl_options& o) {
    bool seen_socket = false, seen_config = !o.config.empty(), seen_timeout = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view a = args[i];
        // Everything from the first word that is not an option belongs to the command,
        // so `set mode open reason -x` passes its words through untouched.
        if (a == "--") {
            o.words.assign(args.begin() + i + 1, args.end());
            return {};
        }
        if (a.empty() || a[0] != '-' || a == "-") {
            o.words.assign(args.begin() + i, args.end());
            return {};
        }
        if (a == "-h" || a == "--help") {
            o.help = true;
            continue;
        }
        if (a == "--json") {
            o.json = true;
            continue;
        }
        // Options with a value: "--name VALUE" or "--name=VALUE".
        std::string_view name = a, value;
        bool inline_value = false;
        if (const auto eq = a.find('='); a.starts_with("--") && eq != std::string_view::npos) {
            name = a.substr(0, eq);
            value = a.substr(eq + 1);
            inline_value = true;
        }
        const bool is_socket = name == "-s" || name == "--socket";
        const bool is_config = name == "-c" || name == "--config";
        const bool is_timeout = name == "--timeout";
        if (!is_socket && !is_config && !is_timeout) return "unknown option '" + std::string(a) + "'";
        if (!inline_value) {
            if (i + 1 == args.size()) return std::string(name) + " needs a value";
            value = args[++i];
        }
        if (is_socket) {
            if (seen_socket) return "--socket given twice";
            if (value.empty()) return "--socket needs a path";
            seen_socket = true;
            o.socket = std::string(value);
        } else if (is_config) {
            if (seen_config) return "-c given twice";
            if (value.empty()) return "-c needs a file name";
            seen_config = true;
            o.config = std::string(value);
        } else {
            if (seen_timeout) return "--timeout given twice";
            const auto d = parse_duration(value);
            if (!d)
                return "--timeout: '" + std::string(value) +
                       "' is not a duration like 5s, 2m, or 0s for no limit";
            seen_timeout = true;
            o.timeout = *d;
        }
    }
    return {};
}

// The file's [admin] socket, read without validating anything else, so that a running
// instance stays reachable while the rest of its file is being edited: `ctl reload` must
// reach the server to hear "reload refused" with every error. A document that is not even
// TOML is scanned line by line for `socket = "..."` under `[admin]`. Relative paths are
// relative to the file's folder, as the loader resolves them. Empty when there is none.
std::string tolerant_socket(const std::string& file) {
    std::FILE* f = std::fopen(file.c_str(), "rb");
    if (!f) return {};
    std::string text;
    char buf[16 * 1024];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
    std::fclose(f);

    std::string found;
    try {
        const toml::table root = toml::parse(text, std::string_view(file));
        if (const auto* v = root["admin"]["socket"].as_string()) found = v->get();
    } catch (const std::exception&) {
        bool in_admin = false;
        std::size_t pos = 0;
        while (pos < text.size() && found.empty()) {
            auto end = text.find('\n', pos);
            if (end == std::string::npos) end = text.size();
            std::string_view line(text.data() + pos, end - pos);
            pos = end + 1;
            while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
            while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
                line.remove_suffix(1);
            if (line.starts_with("[")) {
                in_admin = line == "[admin]";
                continue;
            }
            if (!in_admin || !line.starts_with("socket")) continue;
            line.remove_prefix(6);
            while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
            if (!line.starts_with("=")) continue;
            line.remove_prefix(1);
            while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
            if (line.size() < 2 || (line.front() != '"' && line.front() != '\'')) continue;
            const char q = line.front();
            const auto close = line.find(q, 1);
            if (close == std::string_view::npos) continue;
            const auto value = line.substr(1, close - 1);
            if (value.find('\\') == std::string_view::npos)  // escapes: not worth guessing
                found = std::string(value);
        }
    }
    if (!found.empty() && found.front() != '/')
        if (const auto slash = file.rfind('/'); slash != std::string::npos)
            found = file.substr(0, slash + 1) + found;
    return found;
}

// Where to connect: --socket, else [admin] socket of -c FILE, else of the embedded
// default. A FILE with errors still names its socket when [admin] socket can be read.
// Prints why not and returns nullopt when there is none.
std::optional<std::string> resolve_socket(const ctl_options& o) {
    if (!o.socket.empty()) return o.socket;
    const bool from_file = !o.config.empty();
    auto r = from_file ? load_config_file(o.config)
                       : load_config_string(default_config_text(), "<embedded default>");
    if (!r.errors.empty()) {
        const std::string n = std::to_string(r.errors.size()) + " error" + (r.errors.size() == 1 ? "" : "s");
        if (from_file) {
            if (auto path = tolerant_socket(o.config); !path.empty()) {
                say(o.config + " has " + n + " ('maintgate check -c " + o.config +
                    "' lists them); using its [admin] socket " + path);
                return path;
            }
        }
        for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
        say(n + " in the configuration and no [admin] socket readable in it; give --socket PATH");
        return std::nullopt;
    }
    if (r.cfg->admin.socket.empty()) {
        say(from_file
                ? o.config + " sets no [admin] socket; give --socket PATH"
                : "the embedded default configuration has no admin socket; give --socket PATH or -c FILE");
        return std::nullopt;
    }
    return r.cfg->admin.socket;
}

using steady = std::chrono::steady_clock;

// Milliseconds left for poll(): -1 without a deadline, 0 once it has passed.
int remaining_ms(const std::optional<steady::time_point>& deadline) {
    if (!deadline) return -1;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - steady::now()).count();
    if (left <= 0) return 0;
    return left > INT_MAX ? INT_MAX : static_cast<int>(left);
}

struct fd_guard {
    int fd = -1;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

// Waits until fd is ready for `events`; false when the deadline passes first.
bool wait_for(int fd, short events, const std::optional<steady::time_point>& deadline) {
    while (true) {
        pollfd p{fd, events, 0};
        const int rc = ::poll(&p, 1, remaining_ms(deadline));
        if (rc > 0) return true;
        if (rc == 0) return false;
        if (errno != EINTR) return true;  // let the following send/recv report the error
    }
}

// The value of the top-level "ok" member of a JSON object, or nullopt when the text is
// not an object with a boolean "ok". Nested values are skipped, not parsed: ctl passes
// the reply through and needs only this one bit of it.
std::optional<bool> reply_ok(std::string_view j) {
    std::size_t i = 0;
    const auto ws = [&] {
        while (i < j.size() && (j[i] == ' ' || j[i] == '\t' || j[i] == '\r' || j[i] == '\n')) ++i;
    };
    const auto skip_string = [&]() -> bool {  // at the opening quote
        for (++i; i < j.size(); ++i) {
            if (j[i] == '\\')
                ++i;
            else if (j[i] == '"')
                return ++i, true;
        }
        return false;
    };
    const auto skip_value = [&]() -> bool {
        if (i >= j.size()) return false;
        if (j[i] == '"') return skip_string();
        if (j[i] == '{' || j[i] == '[') {
            int depth = 0;
            while (i < j.size()) {
                const char c = j[i];
                if (c == '"') {
                    if (!skip_string()) return false;
                    continue;
                }
                if (c == '{' || c == '[') ++depth;
                if ((c == '}' || c == ']') && --depth == 0) return ++i, true;
                ++i;
            }
            return false;
        }
        const std::size_t start = i;
        while (i < j.size() && j[i] != ',' && j[i] != '}' && j[i] != ']' && j[i] != ' ' && j[i] != '\t') ++i;
        return i > start;
    };

    ws();
    if (i >= j.size() || j[i] != '{') return std::nullopt;
    ++i;
    std::optional<bool> ok;
    while (true) {
        ws();
        if (i < j.size() && j[i] == '}') return ok;
        if (i >= j.size() || j[i] != '"') return std::nullopt;
        const std::size_t key_start = i + 1;
        if (!skip_string()) return std::nullopt;
        const std::string_view key = j.substr(key_start, i - 1 - key_start);
        ws();
        if (i >= j.size() || j[i] != ':') return std::nullopt;
        ++i;
        ws();
        const std::size_t value_start = i;
        if (!skip_value()) return std::nullopt;
        if (key == "ok") {
            const auto v = j.substr(value_start, i - value_start);
            if (v == "true")
                ok = true;
            else if (v == "false")
                ok = false;
            else
                return std::nullopt;
        }
        ws();
        if (i < j.size() && j[i] == ',') {
            ++i;
            continue;
        }
        if (i < j.size() && j[i] == '}') return ok;
        return std::nullopt;
    }
}

// Connects, sends the line, reads one reply and prints it. Returns the exit status.
int exchange(const std::string& path, const std::string& line, bool json, duration timeout) {
    std::optional<steady::time_point> deadline;
    if (timeout.count() > 0) deadline = steady::now() + timeout;
    const auto timed_out = [&](const char* while_doing) {
        say("no " + std::string(while_doing) + " from " + path + " within " + format_duration(timeout) +
            " (--timeout)");
        return ctl_broken;
    };

    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        say("the socket path " + path + " is " + std::to_string(path.size()) +
            " bytes; a Unix socket path holds at most " + std::to_string(sizeof addr.sun_path - 1));
        return ctl_usage;
    }
    std::memcpy(addr.sun_path, path.data(), path.size());

    fd_guard s{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (s.fd < 0) {
        say(std::string("cannot create a socket: ") + std::strerror(errno));
        return ctl_no_connect;
    }
    // A Unix stream connect only blocks while the server's backlog is full; it honours
    // the send timeout, which is how --timeout bounds it.
    if (deadline) {
        const auto ms = std::chrono::ceil<std::chrono::milliseconds>(timeout).count();
        timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
        ::setsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    while (::connect(s.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        const int err = errno;
        if (err == EINTR) continue;
        if (deadline && (err == EAGAIN || err == EWOULDBLOCK || err == EINPROGRESS))
            return timed_out("connection");
        std::string hint = "is maintgate running?";
        if (err == EACCES || err == EPERM) hint = "is maintgate running, and may this user use its socket?";
        say("cannot connect to " + path + ": " + std::strerror(err) + " (" + hint + ")");
        return ctl_no_connect;
    }

    const std::string wire = line + "\n";
    for (std::size_t sent = 0; sent < wire.size();) {
        if (!wait_for(s.fd, POLLOUT, deadline)) return timed_out("room to send");
        const ssize_t n = ::send(s.fd, wire.data() + sent, wire.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
            say("connection to " + path + " lost while sending: " + std::strerror(errno));
            return ctl_broken;
        }
        sent += static_cast<std::size_t>(n);
    }

    // Text replies end at the first empty line (their lines are never empty), JSON
    // replies at the end of their one line.
    // Each search starts where the last one stopped (less the byte a "\n\n" may straddle),
    // so a large reply is scanned once.
    std::string reply;
    std::size_t end = std::string::npos;
    std::size_t scanned = 0;
    std::vector<char> buf(64 * 1024);
    while (true) {
        if (json) {
            end = reply.find('\n', scanned);
        } else if (!reply.empty() && reply[0] == '\n') {
            end = 0;
        } else {
            end = reply.find("\n\n", scanned);
            if (end != std::string::npos) ++end;  // keep the last line's "\n"
        }
        if (end != std::string::npos) break;
        scanned = reply.empty() ? 0 : reply.size() - 1;
        if (reply.size() > max_reply_bytes) {
            say("the reply from " + path + " passed " + std::to_string(max_reply_bytes) +
                " bytes without ending");
            return ctl_broken;
        }
        if (!wait_for(s.fd, POLLIN, deadline)) return timed_out(reply.empty() ? "reply" : "complete reply");
        const ssize_t n = ::recv(s.fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
            say("connection to " + path + " lost after " + std::to_string(reply.size()) +
                " bytes of the reply: " + std::strerror(errno));
            return ctl_broken;
        }
        if (n == 0) {
            say(reply.empty() ? "connection to " + path + " closed before any reply"
                              : "connection to " + path + " closed mid-reply, after " +
                                    std::to_string(reply.size()) + " bytes");
            return ctl_broken;
        }
        reply.append(buf.data(), static_cast<std::size_t>(n));
    }

    if (json) {
        const std::string_view object(reply.data(), end);
        std::fwrite(reply.data(), 1, end + 1, stdout);
        std::fflush(stdout);
        const auto ok = reply_ok(object);
        if (!ok) {
            say("the reply is not a JSON object with a boolean \"ok\"");
            return ctl_refused;
        }
        return *ok ? ctl_ok : ctl_refused;
    }
    const std::string_view text(reply.data(), end);
    if (text.empty()) {
        say("empty reply from " + path);
        return ctl_refused;
    }
    const bool failed = text.starts_with("error: ");
    std::fwrite(text.data(), 1, text.size(), failed ? stderr : stdout);
    std::fflush(failed ? stderr : stdout);
    return failed ? ctl_refused : ctl_ok;
}

}  // namespace

std::string_view ctl_usage_text() noexcept { return usage_text; }

int run_ctl(std::span<const std::string_view> args, const std::string& config_path) {
    ctl_options o;
    o.config = config_path;
    if (auto e = parse_options(args, o); !e.empty()) return usage_error(e);
    if (o.help) {
        std::fputs(usage_text.data(), stdout);
        std::fputs("\ncommands:\n", stdout);
        std::fputs(admin::help_text().c_str(), stdout);
        return ctl_ok;
    }
    if (!o.socket.empty() && !o.config.empty()) return usage_error("give --socket or -c, not both");
    if (o.words.empty()) {
        std::fputs(usage_text.data(), stderr);
        return ctl_usage;
    }
    const auto joined = admin::join_command(o.words, o.json);
    if (!joined.error.empty()) return usage_error(joined.error);
    const auto path = resolve_socket(o);
    if (!path) return ctl_usage;
    // The words may carry --json themselves (`ctl status --json`): read the reply in the
    // format the server decides on, by the same rule it uses.
    return exchange(*path, joined.line, admin::wants_json(joined.line), o.timeout);
}

}  // namespace maintgate::proxy
