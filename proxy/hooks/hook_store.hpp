#pragma once
// The hook journal and the last good backup records, kept in one JSON file next to the
// state file (<state_dir>/hooks.json) and replaced durably on every change (temp file,
// fsync, rename, fsync the folder). A run is written as "started" before its child is
// spawned and again with its pid once it is; the result replaces that entry when it
// ends. When maintgate starts and finds an entry still marked started, it died while the
// hook ran: the entry is reported (a warning, an audit line, status, the run history)
// and the hook is NOT run again, since nobody knows how far it got.
//
// One process-wide store (hooks_store()), used from the admin thread only.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>

#include "proxy/admin/state_file.hpp"
#include "proxy/hooks/hook_spec.hpp"

namespace maintgate {

struct journal_entry {
    std::uint64_t id = 0;
    std::string hook, phase, window_id, actor;
    long pid = -1;  // -1 until the spawn returned
    std::int64_t started_ms = 0;
};

class hook_store {
public:
    // Reads path (empty: nothing is persisted) and remembers the audit log (empty: no
    // audit lines). Entries left "started" become interrupted results: they are moved
    // into the history, written back, and returned (also kept in interrupted()).
    // A file that cannot be parsed is set aside as <path>.corrupt and reported in error.
    struct open_result {
        std::vector<hook_result> interrupted;
        std::string error;
    };
    open_result open(std::string path, std::string audit_log);
    // The gate's current mode and stage, for the audit lines' mode columns.
    void set_gate_view(std::function<gate_record()> now) { gate_now_ = std::move(now); }

    const std::string& path() const noexcept { return path_; }

    // Durable before the spawn; "" or why the journal could not be written (the hook is
    // then not run: an unrecorded run could not be reported after a crash).
    std::string begin(journal_entry& e);
    std::string set_pid(std::uint64_t id, long pid);
    // The end of a run: the entry leaves the journal, the result joins the history, and a
    // passing backup replaces the last good record. Writes the audit line too.
    std::string finish(std::uint64_t id, const hook_result& r, const std::string& actor);

    std::optional<backup_record> last_good(const std::string& hook) const;
    const std::map<std::string, backup_record>& last_good_all() const noexcept { return last_good_; }
    // Newest last, at most history_size.
    const std::deque<hook_result>& runs() const noexcept { return runs_; }
    // The runs found interrupted when this process started.
    const std::vector<hook_result>& interrupted() const noexcept { return interrupted_; }
    // Runs since this process started, by hook and outcome (metrics).
    const std::map<std::pair<std::string, std::string>, std::uint64_t>& counts() const noexcept {
        return counts_;
    }
    const std::vector<journal_entry>& running() const noexcept { return running_; }

    // The audit line of a run, or of an interrupted one found at start.
    void audit(const hook_result& r, const std::string& actor);

    static constexpr std::size_t history_size = 50;

private:
    std::string save();

    std::string path_;
    std::string audit_log_;
    std::function<gate_record()> gate_now_;
    std::uint64_t next_id_ = 1;
    std::vector<journal_entry> running_;
    std::map<std::string, backup_record> last_good_;
    std::deque<hook_result> runs_;
    std::vector<hook_result> interrupted_;
    std::map<std::pair<std::string, std::string>, std::uint64_t> counts_;
};

hook_store& hooks_store();

// "<folder of state_file>/hooks.json", or "" when the gate has no state file.
std::string hooks_file_for(const std::string& state_file);

// A result as JSON (ctl hooks --json, the journal's history) and back.
boost::json::object to_json(const hook_result& r);
hook_result hook_result_from_json(const boost::json::object& o);
boost::json::object to_json(const backup_record& r);

}  // namespace maintgate
