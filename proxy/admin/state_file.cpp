#include "proxy/admin/state_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include <boost/json/conversion.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>

#include "proxy/admin/json.hpp"

namespace maintgate {
namespace {

std::string errno_text(const char* what, const std::string& path) {
    return std::string(what) + " " + path + ": " + std::strerror(errno);
}

bool write_all(int fd, const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    return true;
}

std::string folder_of(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

std::string temp_path(const std::string& path) { return path + ".tmp"; }

}  // namespace

std::string format_iso8601(sys_time t) {
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string format_iso8601_ms(sys_time t) {
    using namespace std::chrono;
    // Floors, so a time before 1970 still prints a millisecond in 0..999.
    auto ms = floor<milliseconds>(t);
    auto s = floor<seconds>(ms);
    auto frac = static_cast<int>((ms - s).count());
    std::string text = format_iso8601(time_point_cast<sys_time::duration>(s));  // "...:SSZ"
    char buf[8];
    std::snprintf(buf, sizeof buf, ".%03dZ", frac);
    text.pop_back();
    text += buf;
    return text;
}

std::string format_iso8601_ms(std::int64_t unix_ms) {
    return format_iso8601_ms(sys_time(std::chrono::milliseconds(unix_ms)));
}

std::string format_human(sys_time t) {
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
    return buf;
}

std::optional<sys_time> parse_iso8601(std::string_view text) {
    if (text.size() != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
        text[16] != ':' || text[19] != 'Z')
        return std::nullopt;
    auto num = [&](std::size_t at, std::size_t len, int& out) {
        out = 0;
        for (std::size_t i = at; i < at + len; ++i) {
            if (text[i] < '0' || text[i] > '9') return false;
            out = out * 10 + (text[i] - '0');
        }
        return true;
    };
    int y, mo, d, h, mi, s;
    if (!num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, d) || !num(11, 2, h) || !num(14, 2, mi) ||
        !num(17, 2, s))
        return std::nullopt;
    // sys_time counts nanoseconds in 64 bits: about 1678 to 2262. Outside a sane range
    // the conversion would wrap (year 1010 came back as 2179), so refuse it.
    if (y < 1970 || y > 2200) return std::nullopt;
    using namespace std::chrono;
    year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
    if (!ymd.ok() || h > 23 || mi > 59 || s > 60) return std::nullopt;
    return sys_days{ymd} + hours{h} + minutes{mi} + seconds{s};
}

void tag_invoke(const boost::json::value_from_tag&, boost::json::value& v, const gate_record& r) {
    auto stage = policy::mode_of(r.stage) == r.mode ? r.stage : policy::stage_of(r.mode);
    boost::json::object& o = v.emplace_object();
    o["mode"] = policy::to_string(r.mode);
    o["stage"] = policy::to_string(stage);
    o["fenced"] = r.fenced;
    if (r.hold) o["hold"] = true;  // only while a freeze holds writes: older files stay as they were
    o["reason"] = r.reason;
    if (r.until)
        o["until"] = format_iso8601(*r.until);
    else
        o["until"] = nullptr;
    o["set_by"] = r.set_by;
    o["since"] = format_iso8601(r.since);
}

gate_record tag_invoke(const boost::json::value_to_tag<gate_record>&, const boost::json::value& v) {
    const boost::json::object* obj = v.if_object();
    if (!obj) throw std::invalid_argument("not an object");
    // A field of the wrong type is corruption, not something to skip: a hand-edited
    // file that silently lost its expected end would mislead every client's Retry-After.
    std::string bad_field;
    auto get = [&](const char* key, boost::json::kind k, bool nullable) -> const boost::json::value* {
        const boost::json::value* f = obj->if_contains(key);
        if (!f) return nullptr;
        if (f->kind() == k) return f;
        if (!(nullable && f->is_null()) && bad_field.empty()) bad_field = key;
        return nullptr;
    };
    using boost::json::kind;
    const auto* mode = get("mode", kind::string, false);
    const auto* reason = get("reason", kind::string, false);
    const auto* by = get("set_by", kind::string, false);
    const auto* until = get("until", kind::string, true);
    const auto* since = get("since", kind::string, false);
    const auto* stage = get("stage", kind::string, false);
    const auto* fenced = get("fenced", kind::bool_, false);
    const auto* hold = get("hold", kind::bool_, false);
    if (!bad_field.empty()) throw std::invalid_argument("\"" + bad_field + "\" has the wrong type");
    auto text = [](const boost::json::value* f) { return std::string_view(f->get_string()); };

    gate_record r;
    auto parsed_mode = mode ? policy::parse_mode(text(mode)) : std::nullopt;
    if (!parsed_mode)
        throw std::invalid_argument("\"mode\" is missing or not one of open, read-only, maintenance");
    r.mode = *parsed_mode;
    // Files written before stages existed have no "stage": the mode's own stage.
    r.stage = policy::stage_of(*parsed_mode);
    if (stage) {
        auto st = policy::parse_stage(text(stage));
        if (!st || policy::mode_of(*st) != *parsed_mode)
            throw std::invalid_argument("\"stage\" is not a stage of mode \"" +
                                        std::string(policy::to_string(*parsed_mode)) + "\"");
        r.stage = *st;
    }
    if (fenced) r.fenced = fenced->get_bool();
    if (hold) r.hold = hold->get_bool() && r.fenced;
    if (reason) r.reason = text(reason);
    if (by) r.set_by = text(by);
    if (until) {
        r.until = parse_iso8601(text(until));
        if (!r.until) throw std::invalid_argument("\"until\" is not a time like 2026-11-22T03:00:00Z");
    }
    if (since) {
        auto t = parse_iso8601(text(since));
        if (!t) throw std::invalid_argument("\"since\" is not a time like 2026-11-22T03:00:00Z");
        r.since = *t;
    }
    return r;
}

std::string stage_gate_record(const std::string& path, const gate_record& r) {
    std::string body = json::serialize_line(boost::json::value_from(r).as_object());
    body += '\n';

    std::string temp = temp_path(path);
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) return errno_text("cannot create", temp);
    if (!write_all(fd, body)) {
        auto e = errno_text("cannot write", temp);
        ::close(fd);
        ::unlink(temp.c_str());
        return e;
    }
    if (::fsync(fd) != 0) {
        auto e = errno_text("cannot fsync", temp);
        ::close(fd);
        ::unlink(temp.c_str());
        return e;
    }
    ::close(fd);
    return {};
}

void discard_gate_record(const std::string& path) noexcept { ::unlink(temp_path(path).c_str()); }

commit_result commit_gate_record(const std::string& path) {
    commit_result out;
    if (::rename(temp_path(path).c_str(), path.c_str()) != 0) {
        out.error = errno_text("cannot rename over", path);
        discard_gate_record(path);
        return out;
    }
    // The rename is durable only once the folder entry is.
    std::string folder = folder_of(path);
    int dfd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        out.not_durable = errno_text("cannot open folder", folder);
        return out;
    }
    int rc = ::fsync(dfd);
    ::close(dfd);
    if (rc != 0) out.not_durable = errno_text("cannot fsync folder", folder);
    return out;
}

std::string save_gate_record(const std::string& path, const gate_record& r) {
    if (auto err = stage_gate_record(path, r); !err.empty()) return err;
    auto c = commit_gate_record(path);
    return c.error.empty() ? c.not_durable : c.error;
}

load_gate_result load_gate_record(const std::string& path) {
    load_gate_result out;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        if (errno == ENOENT) {
            out.status = load_status::missing;
        } else {
            out.status = load_status::corrupt;
            out.error = errno_text("cannot read", path);
        }
        return out;
    }
    std::string text;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && text.size() < 1024 * 1024) text.append(buf, n);
    std::fclose(f);

    out.status = load_status::corrupt;
    std::string error;
    auto obj = json::parse_flat_object(text, error);
    if (!obj) {
        out.error = "not valid JSON: " + error;
        return out;
    }
    try {
        out.record = boost::json::value_to<gate_record>(boost::json::value(std::move(*obj)));
    } catch (const std::invalid_argument& e) {
        out.error = e.what();
        return out;
    }
    out.status = load_status::ok;
    return out;
}

}  // namespace maintgate
