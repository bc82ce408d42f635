#include "proxy/admin/audit.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "proxy/admin/json.hpp"

namespace maintgate {
namespace {

constexpr std::size_t tail_block = 64 * 1024;
constexpr std::size_t max_line = 1024 * 1024;

std::string errno_text(const char* what, const std::string& path, int err) {
    return std::string(what) + " " + path + ": " + std::strerror(err);
}

boost::json::value id_value(long id) {
    if (id < 0) return nullptr;
    return static_cast<std::int64_t>(id);
}

// Closes on every path out of append_audit and read_audit_tail.
struct fd_guard {
    int fd;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

// Text from the file on its way to a terminal: printable bytes (and UTF-8) as they are,
// control bytes as escapes.
void append_printable(std::string& out, std::string_view s) {
    for (unsigned char c : s) {
        switch (c) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\x%02x", c);
                out += buf;
            } else {
                out += static_cast<char>(c);
            }
        }
    }
}

// Reads exactly len bytes at offset; false (errno set, or 0 for a file that shrank) when
// it cannot.
bool pread_all(int fd, char* buf, std::size_t len, off_t offset) {
    std::size_t done = 0;
    while (done < len) {
        ssize_t n = ::pread(fd, buf + done, len - done, offset + static_cast<off_t>(done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        if (n == 0) {
            errno = 0;
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

std::string audit_line(const audit_entry& e) {
    // The fields in the documented order: a Boost.JSON object keeps insertion order.
    boost::json::object o{
        {"time", format_iso8601_ms(e.time)},
        {"uid", id_value(e.uid)},
        {"pid", id_value(e.pid)},
        {"actor", e.actor},
        {"command", e.command},
        {"old_mode", policy::to_string(e.old_mode)},
        {"new_mode", policy::to_string(e.new_mode)},
        {"old_stage", policy::to_string(e.old_stage)},
        {"new_stage", policy::to_string(e.new_stage)},
        {"reason", e.reason},
        {"outcome", e.outcome},
        {"detail", e.detail},
    };
    // Only in a cluster: which replica wrote the line (each keeps its own log).
    if (!e.replica.empty()) o["replica"] = e.replica;
    return json::serialize_line(o);
}

std::string append_audit(const std::string& path, const audit_entry& e) {
    // O_RDWR, not O_WRONLY: the last byte is read to see whether the file ends mid-line.
    fd_guard f{::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640)};
    if (f.fd < 0) return errno_text("cannot open", path, errno);
    struct stat st {};
    if (::fstat(f.fd, &st) != 0) return errno_text("cannot stat", path, errno);
    const off_t before = st.st_size;

    std::string data;
    if (S_ISREG(st.st_mode) && before > 0) {
        char last = '\n';
        if (!pread_all(f.fd, &last, 1, before - 1)) return errno_text("cannot read", path, errno);
        if (last != '\n') data += '\n';
    }
    data += audit_line(e);
    data += '\n';

    // One write(2): with O_APPEND the whole line lands at the end in one piece, or the
    // short write is seen here and undone.
    ssize_t n;
    do {
        n = ::write(f.fd, data.data(), data.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) return errno_text("cannot write", path, errno);
    if (static_cast<std::size_t>(n) != data.size()) {
        std::string err = "short write " + path + ": " + std::to_string(n) + " of " +
                          std::to_string(data.size()) + " bytes";
        if (::ftruncate(f.fd, before) != 0) err += "; " + errno_text("cannot truncate back", path, errno);
        return err;
    }
    if (::fsync(f.fd) != 0) return errno_text("cannot fsync", path, errno);
    return {};
}

audit_tail read_audit_tail(const std::string& path, std::size_t n) {
    audit_tail out;
    fd_guard f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (f.fd < 0) {
        if (errno != ENOENT) out.error = errno_text("cannot open", path, errno);
        return out;
    }
    struct stat st {};
    if (::fstat(f.fd, &st) != 0) {
        out.error = errno_text("cannot stat", path, errno);
        return out;
    }
    if (!S_ISREG(st.st_mode)) {
        out.error = "cannot read " + path + ": not a regular file";
        return out;
    }

    // Newest first while reading; reversed at the end.
    std::vector<std::string>& lines = out.lines;
    auto take = [&](std::string line) {
        if (!line.empty()) lines.push_back(std::move(line));
    };
    std::vector<char> block(std::min<std::size_t>(tail_block, static_cast<std::size_t>(st.st_size)));
    std::string carry;  // the end of a line whose start lies in an earlier block
    off_t offset = st.st_size;
    while (offset > 0 && lines.size() < n) {
        std::size_t len = std::min<std::size_t>(block.size(), static_cast<std::size_t>(offset));
        offset -= static_cast<off_t>(len);
        if (!pread_all(f.fd, block.data(), len, offset)) {
            out.error =
                errno ? errno_text("cannot read", path, errno) : "cannot read " + path + ": it shrank";
            break;
        }
        std::size_t end = len;
        for (std::size_t i = len; i-- > 0 && lines.size() < n;) {
            if (block[i] != '\n') continue;
            std::string line(block.data() + i + 1, end - i - 1);
            line += carry;
            carry.clear();
            take(std::move(line));
            end = i;
        }
        if (lines.size() >= n) break;
        carry.insert(0, block.data(), end);
        if (carry.size() > max_line) {
            out.error = "cannot read " + path + ": a line longer than " + std::to_string(max_line) +
                        " bytes ends at offset " + std::to_string(offset + static_cast<off_t>(carry.size()));
            break;
        }
    }
    // The file's first line has no newline before it.
    if (offset == 0 && out.error.empty() && lines.size() < n) take(std::move(carry));
    std::reverse(lines.begin(), lines.end());
    return out;
}

std::string format_audit_human(std::string_view line) {
    std::string out;
    std::string error;
    auto obj = json::parse_flat_object(line, error);
    if (!obj) {
        append_printable(out, line);
        return out;
    }
    // A string's text, a number as JSON writes it (uid, pid), nothing for null or absent.
    std::string number;
    auto text = [&](const char* key) -> std::string_view {
        const boost::json::value* v = obj->if_contains(key);
        if (!v || v->is_null()) return {};
        if (const auto* s = v->if_string()) return *s;
        number = boost::json::serialize(*v);
        return number;
    };
    auto field = [&](const char* key) { append_printable(out, text(key)); };

    std::string time(text("time"));
    if (time.size() > 10 && time[10] == 'T') time[10] = ' ';
    append_printable(out, time);
    out += "  ";
    if (!text("actor").empty()) {
        field("actor");
    } else if (!text("uid").empty()) {
        out += "uid ";
        field("uid");
        out += " pid ";
        if (text("pid").empty())
            out += '-';
        else
            field("pid");
    } else {
        out += '-';
    }
    out += "  ";
    field("command");
    out += "  ";
    field("old_mode");
    out += '/';
    field("old_stage");
    out += " -> ";
    field("new_mode");
    out += '/';
    field("new_stage");
    out += "  ";
    field("outcome");
    if (!text("detail").empty()) {
        out += "  (";
        field("detail");
        out += ')';
    }
    if (!text("replica").empty()) {
        out += "  [replica ";
        field("replica");
        out += ']';
    }
    return out;
}

}  // namespace maintgate
