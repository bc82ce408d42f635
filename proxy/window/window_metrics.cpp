#include "proxy/window/window_metrics.hpp"

#include <cstdio>

namespace maintgate::window {
namespace {

void family(std::string& out, std::string_view name, std::string_view help) {
    out += "# HELP " + std::string(name) + " " + std::string(help) + "\n# TYPE " + std::string(name) + " gauge\n";
}

std::string label_value(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

std::string seconds(sys_time t) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    char buf[32];
    std::snprintf(buf, sizeof buf, "%lld.%03lld", static_cast<long long>(ms / 1000), static_cast<long long>(ms % 1000));
    return buf;
}

}  // namespace

std::string render_window_metrics(const window_control& wc, sys_time) {
    std::string out;
    const window* w = wc.current();
    if (!w) w = wc.next();
    family(out, "maintgate_window_phase", "1 for the phase of the maintenance window under way (or the next one).");
    for (std::size_t i = 0; i < phase_count; ++i) {
        const auto p = static_cast<phase>(i);
        out += "maintgate_window_phase{phase=\"" + std::string(to_string(p)) + "\"} " +
               (w && w->ph == p ? "1" : "0") + "\n";
    }
    if (w && w->p.starts) {
        family(out, "maintgate_window_starts_timestamp_seconds", "When that window starts, in unix time.");
        out += "maintgate_window_starts_timestamp_seconds " + seconds(*w->p.starts) + "\n";
    }
    if (w) {
        family(out, "maintgate_window_ends_timestamp_seconds", "When that window is expected to end, in unix time.");
        out += "maintgate_window_ends_timestamp_seconds " + seconds(w->p.ends) + "\n";
        if (!w->refused_by_route.empty()) {
            family(out, "maintgate_window_refused_writes", "Writes refused during that window, by route.");
            for (const auto& [route, n] : w->refused_by_route)
                out += "maintgate_window_refused_writes{route=\"" + label_value(route) + "\"} " + std::to_string(n) +
                       "\n";
        }
    }
    std::uint64_t completed = 0, aborted = 0;
    for (const auto& x : wc.windows()) {
        completed += x.ph == phase::completed;
        aborted += x.ph == phase::aborted;
    }
    family(out, "maintgate_windows", "Past maintenance windows kept in the windows file, by how they ended.");
    out += "maintgate_windows{phase=\"completed\"} " + std::to_string(completed) + "\n";
    out += "maintgate_windows{phase=\"aborted\"} " + std::to_string(aborted) + "\n";
    return out;
}

}  // namespace maintgate::window
