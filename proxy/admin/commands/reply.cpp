#include "proxy/admin/commands/reply.hpp"

#include <chrono>
#include <cstdio>

#include <boost/json/serialize.hpp>

#include "proxy/admin/json.hpp"
#include "proxy/config/duration.hpp"

namespace maintgate::proxy {
namespace {

namespace js = boost::json;

const js::value* find(const js::object& o, std::string_view key) {
    auto it = o.find(key);
    return it == o.end() ? nullptr : &it->value();
}

void render_error(std::string& out, const admin_reply& r, sys_time) {
    out += "error: ";
    out += get_str(r.body, "error");
    out += '\n';
}

// Text lines must not be empty (an empty line ends the reply) nor hold a raw newline
// from a reason or a check's detail.
std::string finish_text(const std::string& s) {
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

}  // namespace

admin_reply error_reply(std::string_view message) {
    admin_reply r;
    r.body["ok"] = false;
    r.body["error"] = message;
    r.text = &render_error;
    return r;
}

std::string render(const admin_reply& r, bool json, sys_time now) {
    if (json) return json::serialize_line(r.body) + "\n";
    std::string text;
    if (r.text) r.text(text, r, now);
    if (!get_bool(r.body, "ok") && text.rfind("error: ", 0) != 0) text = "error: " + text;
    return finish_text(text);
}

std::string_view get_str(const js::object& o, std::string_view key) {
    const js::value* v = find(o, key);
    if (!v || !v->is_string()) return {};
    return v->get_string();
}

bool get_bool(const js::object& o, std::string_view key) {
    const js::value* v = find(o, key);
    return v && v->is_bool() && v->get_bool();
}

std::uint64_t get_uint(const js::object& o, std::string_view key) {
    const js::value* v = find(o, key);
    if (!v) return 0;
    if (v->is_uint64()) return v->get_uint64();
    if (v->is_int64()) return v->get_int64() < 0 ? 0 : static_cast<std::uint64_t>(v->get_int64());
    return 0;
}

double get_double(const js::object& o, std::string_view key) {
    const js::value* v = find(o, key);
    if (!v) return 0;
    if (v->is_double()) return v->get_double();
    if (v->is_uint64()) return static_cast<double>(v->get_uint64());
    if (v->is_int64()) return static_cast<double>(v->get_int64());
    return 0;
}

const js::object& get_obj(const js::object& o, std::string_view key) {
    static const js::object empty;
    const js::value* v = find(o, key);
    return v && v->is_object() ? v->get_object() : empty;
}

const js::array& get_array(const js::object& o, std::string_view key) {
    static const js::array empty;
    const js::value* v = find(o, key);
    return v && v->is_array() ? v->get_array() : empty;
}

bool is_null(const js::object& o, std::string_view key) {
    const js::value* v = find(o, key);
    return !v || v->is_null();
}

void put_time(js::object& o, std::string_view key, std::optional<sys_time> t) {
    if (t) o[key] = static_cast<std::int64_t>(t->time_since_epoch().count());
}

std::optional<sys_time> get_time(const js::object& o, std::string_view key) {
    const js::value* v = find(o, key);
    if (!v || !v->is_int64()) return std::nullopt;
    return sys_time(sys_time::duration(v->get_int64()));
}

js::value iso_or_null(std::optional<sys_time> t) {
    if (!t) return nullptr;
    return js::value(format_iso8601(*t));
}

std::string relative(sys_time t, sys_time now) {
    using namespace std::chrono;
    auto d = duration_cast<seconds>(t > now ? t - now : now - t);
    std::string s = format_duration(duration_cast<duration>(d));
    return t > now ? "in " + s : s + " ago";
}

std::string when(sys_time t, sys_time now) { return format_iso8601(t) + " (" + relative(t, now) + ")"; }

std::string one_line(std::string_view in) {
    std::string s(in);
    for (char& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    return s;
}

std::string percent(double rate) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%%", rate * 100.0);
    return buf;
}

js::array probes_json(const std::vector<probe_result>& v) {
    js::array out;
    out.reserve(v.size());
    for (const auto& r : v) {
        js::object o;
        o["name"] = r.name;
        o["ok"] = r.ok;
        o["status"] = std::uint64_t(r.status);
        o["detail"] = r.detail;
        o["elapsed_ms"] = std::int64_t(r.elapsed.count());
        out.emplace_back(std::move(o));
    }
    return out;
}

void probes_text(std::string& out, const js::array& checks, std::string_view indent) {
    if (checks.empty()) {
        out += indent;
        out += "no checks configured ([health_check], [[smoke_check]])\n";
    }
    for (const auto& v : checks) {
        const auto& c = v.get_object();
        out += indent;
        out += get_bool(c, "ok") ? "pass  " : "FAIL  ";
        out += get_str(c, "name");
        out += ": ";
        out += get_str(c, "detail");
        out += '\n';
    }
}

}  // namespace maintgate::proxy
