#include "proxy/cluster/shared_state.hpp"

#include <exception>

#include <boost/json.hpp>

namespace maintgate::proxy::cluster {
namespace js = boost::json;
namespace {

std::int64_t int_of(const js::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (!v) return 0;
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
    return 0;
}

std::string str_of(const js::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

js::value time_or_null(const std::optional<sys_time>& t) {
    return t ? js::value(format_iso8601(*t)) : js::value(nullptr);
}

std::optional<sys_time> time_of(const js::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (!v || !v->is_string()) return std::nullopt;
    return parse_iso8601(v->as_string());
}

js::value encode_window(const std::optional<shared_window>& w) {
    if (!w) return nullptr;
    return js::object{{"id", w->id},
                      {"phase", w->phase},
                      {"mode", policy::to_string(w->mode)},
                      {"reason", w->reason},
                      {"ends", time_or_null(w->ends)},
                      {"started_at", time_or_null(w->started_at)},
                      {"replica", w->replica}};
}

// Missing or null: no window. Anything else must name the window and its phase.
std::optional<shared_window> decode_window(const js::object& o, std::string& error) {
    const auto* v = o.if_contains("window");
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_object()) {
        error = "window: expected an object or null";
        return std::nullopt;
    }
    const auto& wo = v->as_object();
    shared_window w;
    w.id = str_of(wo, "id");
    w.phase = str_of(wo, "phase");
    const auto mode = policy::parse_mode(str_of(wo, "mode"));
    if (w.id.empty() || w.phase.empty() || !mode) {
        error = "window: needs an id, a phase and a mode";
        return std::nullopt;
    }
    w.mode = *mode;
    w.reason = str_of(wo, "reason");
    w.ends = time_of(wo, "ends");
    w.started_at = time_of(wo, "started_at");
    w.replica = str_of(wo, "replica");
    return w;
}

}  // namespace

std::string encode_desired(const desired_state& d) {
    js::value v = js::value_from(d.record);
    auto& o = v.as_object();
    o["window"] = encode_window(d.window);
    o["epoch"] = d.epoch;
    o["command"] = d.command;
    o["asked_by"] = d.asked_by;
    o["origin"] = d.origin;
    return js::serialize(v);
}

std::optional<desired_state> decode_desired(std::string_view json, std::string& error) {
    try {
        js::value v = js::parse(json);
        if (!v.is_object()) {
            error = "not a JSON object";
            return std::nullopt;
        }
        desired_state d;
        d.record = js::value_to<gate_record>(v);
        const auto& o = v.as_object();
        d.epoch = int_of(o, "epoch");
        d.command = str_of(o, "command");
        d.asked_by = str_of(o, "asked_by");
        d.origin = str_of(o, "origin");
        std::string window_error;
        d.window = decode_window(o, window_error);
        if (!window_error.empty()) {
            error = window_error;
            return std::nullopt;
        }
        return d;
    } catch (const std::exception& e) {
        error = e.what();
        return std::nullopt;
    }
}

std::string encode_ack(const replica_ack& a) {
    js::object o{{"id", a.id},
                 {"revision", a.revision},
                 {"mode", policy::to_string(a.mode)},
                 {"stage", policy::to_string(a.stage)},
                 {"fenced", a.fenced},
                 {"in_flight_writes", a.in_flight_writes},
                 {"write_boundary_ms", a.write_boundary_ms},
                 {"at_ms", a.at_ms},
                 {"self_fenced", a.self_fenced}};
    return js::serialize(o);
}

std::optional<replica_ack> decode_ack(std::string_view json) {
    js::error_code ec;
    js::value v = js::parse(json, ec);
    if (ec || !v.is_object()) return std::nullopt;
    const auto& o = v.as_object();
    replica_ack a;
    a.id = str_of(o, "id");
    a.revision = int_of(o, "revision");
    const auto mode = policy::parse_mode(str_of(o, "mode"));
    const auto stage = policy::parse_stage(str_of(o, "stage"));
    if (a.id.empty() || !mode || !stage) return std::nullopt;
    a.mode = *mode;
    a.stage = *stage;
    const auto* f = o.if_contains("fenced");
    a.fenced = f && f->is_bool() && f->as_bool();
    a.in_flight_writes = static_cast<std::uint64_t>(int_of(o, "in_flight_writes"));
    a.write_boundary_ms = int_of(o, "write_boundary_ms");
    a.at_ms = int_of(o, "at_ms");
    const auto* s = o.if_contains("self_fenced");
    a.self_fenced = s && s->is_bool() && s->as_bool();
    return a;
}

policy::mode more_restrictive(policy::mode a, policy::mode b) noexcept {
    const auto rank = [](policy::mode m) {
        switch (m) {
        case policy::mode::open: return 0;
        case policy::mode::read_only: return 1;
        case policy::mode::maintenance: return 2;
        }
        return 2;
    };
    return rank(a) >= rank(b) ? a : b;
}

std::string prefix_end(std::string_view prefix) {
    std::string end(prefix);
    while (!end.empty()) {
        auto& last = reinterpret_cast<unsigned char&>(end.back());
        if (last < 0xff) {
            ++last;
            return end;
        }
        end.pop_back();
    }
    return std::string(1, '\0');  // every key: etcd's "\0" range end
}

}  // namespace maintgate::proxy::cluster
