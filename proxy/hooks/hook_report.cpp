#include "proxy/hooks/hook_report.hpp"

#include <chrono>
#include <cstdio>

#include <spdlog/spdlog.h>

#include "proxy/hooks/hook_store.hpp"

namespace maintgate::proxy {

namespace {

constexpr const char* outcomes[] = {"ok", "failed", "refused", "timed_out", "killed", "not_run", "interrupted"};

// Hook names are [A-Za-z0-9._-]: nothing in them needs escaping in a label.
std::string hook_label(const std::string& name) { return "hook=\"" + name + "\""; }

void family(std::string& out, const char* name, const char* type, const char* help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

std::string seconds(std::int64_t ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%lld.%03lld", static_cast<long long>(ms / 1000),
                  static_cast<long long>(ms % 1000));
    return buf;
}

}  // namespace

void open_hooks_journal(const config& cfg, std::function<gate_record()> gate_now) {
    hook_store& store = hooks_store();
    store.set_gate_view(std::move(gate_now));
    const std::string path = hooks_file_for(cfg.gate.state_file);
    if (path.empty() && !cfg.hooks.empty())
        spdlog::warn("hooks: no [gate] state_file, so no hook journal: a hook running when maintgate dies "
                     "will not be reported, and last good backups are kept in memory only");
    auto opened = store.open(path, cfg.gate.audit_log);
    if (!opened.error.empty()) spdlog::error("hooks: {}", opened.error);
    for (const auto& r : opened.interrupted)
        spdlog::warn("hook {} (phase {}{}) was running when maintgate stopped: {}", r.name,
                     r.phase.empty() ? "-" : r.phase, r.window_id.empty() ? "" : ", window " + r.window_id, r.error);
}

std::string interrupted_hooks_line() {
    const auto& v = hooks_store().interrupted();
    if (v.empty()) return {};
    std::string s = std::to_string(v.size()) + " hook run(s) interrupted by a restart, not re-run: ";
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) s += ", ";
        s += v[i].name + " (" + (v[i].phase.empty() ? "-" : v[i].phase);
        if (v[i].pid > 0) s += ", pid " + std::to_string(v[i].pid);
        s += ")";
    }
    return s;
}

std::string hook_metrics_text(const config& cfg, sys_time now) {
    std::string out;
    if (cfg.hooks.empty()) return out;
    const hook_store& store = hooks_store();
    family(out, "maintgate_hook_runs_total", "counter", "Hook runs since start, by hook and outcome.");
    for (const auto& h : cfg.hooks)
        for (const char* o : outcomes) {
            const auto it = store.counts().find({h.name, o});
            out += "maintgate_hook_runs_total{" + hook_label(h.name) + ",outcome=\"" + o + "\"} " +
                   std::to_string(it == store.counts().end() ? 0 : it->second) + "\n";
        }
    std::string bytes, age, at;
    const auto now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    for (const auto& h : cfg.hooks) {
        if (!h.backup) continue;
        const auto g = store.last_good(h.name);
        if (!g) continue;
        bytes += "maintgate_hook_last_good_backup_bytes{" + hook_label(h.name) + "} " + std::to_string(g->bytes) + "\n";
        age += "maintgate_hook_last_good_backup_age_seconds{" + hook_label(h.name) + "} " +
               seconds(std::max<std::int64_t>(0, now_ms - g->at_ms)) + "\n";
        at += "maintgate_hook_last_good_backup_timestamp_seconds{" + hook_label(h.name) + "} " + seconds(g->at_ms) +
              "\n";
    }
    if (!bytes.empty()) {
        family(out, "maintgate_hook_last_good_backup_bytes", "gauge", "Size of the last backup that passed its gate.");
        out += bytes;
        family(out, "maintgate_hook_last_good_backup_age_seconds", "gauge",
               "Seconds since the last backup that passed its gate finished.");
        out += age;
        family(out, "maintgate_hook_last_good_backup_timestamp_seconds", "gauge",
               "When the last backup that passed its gate finished, in unix time.");
        out += at;
    }
    return out;
}

}  // namespace maintgate::proxy
