#pragma once
// The hooks' side of start-up, status and metrics: opening the journal (reporting the
// runs a crash interrupted), the status line about them, and the metric families.
#include <functional>
#include <string>

#include "proxy/admin/state_file.hpp"
#include "proxy/config/config.hpp"

namespace maintgate::proxy {

// Opens hooks_store() at <state_dir>/hooks.json. Each run found interrupted is logged as
// a warning (and the store writes its audit line); it is never run again from here.
void open_hooks_journal(const config& cfg, std::function<gate_record()> gate_now);

// "2 hook run(s) interrupted by a restart: backup-db (pre_freeze, pid 4242), ..." or "".
std::string interrupted_hooks_line();

// Appended to /metrics, on the admin thread:
//   maintgate_hook_runs_total{hook,outcome} counter, every configured hook x every outcome
//   maintgate_hook_last_good_backup_bytes{hook}, maintgate_hook_last_good_backup_age_seconds{hook}
//     and maintgate_hook_last_good_backup_timestamp_seconds{hook} gauges, for backup hooks
//     with a record
std::string hook_metrics_text(const config& cfg, sys_time now);

}  // namespace maintgate::proxy
