#pragma once
// The spool on disk and its index in memory: segment files of framed records
// (record.hpp) in one folder, named by their sequence number (0000000000000001.seg),
// appended to and fsynced by one writer; what each event's state is, per order key in
// arrival order; the dedupe keys seen within their TTL; the quotas.
//
// Not thread-safe: the spool (spool.hpp) calls it from its writer thread for every
// change and under its lock for every read.
//
// Crash safety: an event is acknowledged only after the batch holding it is fsynced.
// At open every segment is scanned; the first frame that is cut short or fails its CRC
// ends the segment, and the bytes after it are cut off (a torn tail: the write that was
// under way when the process died, never acknowledged). A mark is always written after
// its event, so replaying the segments in order rebuilds every state.
//
// Compaction deletes segments from the oldest while every event in them is done or
// dropped and older than the dedupe TTL: only from the oldest, so that no mark is lost
// while an event it refers to is still on disk.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/spool/record.hpp"
#include "proxy/spool/spool_types.hpp"

namespace maintgate::spool {

enum class state : std::uint8_t { pending, done, dead, dropped };
std::string_view to_string(state s) noexcept;

// What the index knows of one event without reading it back.
struct entry {
    std::uint64_t id = 0;
    std::int64_t arrival_ms = 0;
    std::string method, target, delivery_id, dedupe_key, order_key;
    std::uint64_t bytes = 0;  // its frame on disk
    std::size_t segment = 0;  // sequence number
    std::uint64_t offset = 0;  // of its frame in the segment file
    state st = state::pending;
    unsigned attempts = 0;  // deliveries tried since it was stored or requeued (not on disk)
    unsigned last_status = 0;
    std::string last_detail;
};

enum class admit_result : std::uint8_t { accepted, duplicate, over_bytes, over_events, over_age };
std::string_view to_string(admit_result a) noexcept;

struct log_counts {
    std::uint64_t pending = 0, dead = 0, done = 0, dropped = 0;
    std::uint64_t stored_bytes = 0;  // frames of pending and dead-lettered events
    std::size_t segments = 0;
    std::int64_t oldest_pending_ms = 0;  // 0: none
};

class spool_log {
public:
    // Opens (creating when missing) the folder, scans every segment, cuts a torn tail.
    // "" or why it cannot; torn_bytes says how much was cut.
    std::string open(const std::string& dir, const spool_settings& s);
    std::uint64_t torn_bytes() const noexcept { return torn_bytes_; }

    // Decides on one event at now_ms: a duplicate (id set to the first one's), past a quota,
    // or accepted: it gets the next id, its frame is appended to `batch`, and the index
    // holds it from now on (forget() takes it back if the batch fails).
    admit_result admit(event& e, std::int64_t now_ms, std::string& batch);
    // Appends a mark's frame to batch and applies it to the index; false when the event
    // is unknown or the change makes no sense from its state (done twice, requeue of a
    // pending one).
    bool stage_mark(const mark& m, std::string& batch);
    // Writes batch to the active segment (rotating first when it is full) and fsyncs it:
    // one write(2) and one fdatasync(2) per batch. "" or the error (nothing acknowledged).
    std::string commit(std::string_view batch);
    void forget(std::uint64_t id);  // an accepted event whose batch failed

    // Reads an event back from its segment.
    std::optional<event> load(std::uint64_t id) const;
    const entry* find(std::uint64_t id) const;
    const std::map<std::uint64_t, entry>& entries() const noexcept { return entries_; }
    // The first pending event of each order key, in id order.
    std::vector<std::uint64_t> heads() const;
    log_counts counts() const;

    // Deletes the segments compaction allows at now_ms; how many.
    std::size_t compact(std::int64_t now_ms);

    // For the delivery loop: a retry (attempts + 1, last status and detail) lives in memory.
    void note_attempt(std::uint64_t id, unsigned status, std::string detail);

private:
    struct segment {
        std::size_t seq = 0;
        std::string path;
        std::uint64_t size = 0;
        std::uint64_t live = 0;  // events pending or dead-lettered
        std::int64_t newest_ms = 0;
    };

    std::string open_segment(std::size_t seq, std::uint64_t base_id);
    void apply(const mark& m);
    void enqueue(const entry& e);
    void dequeue(const entry& e);
    std::string queue_key(const entry& e) const;

    std::string dir_;
    spool_settings cfg_;
    std::vector<segment> segments_;  // oldest first; the last is the active one
    int fd_ = -1;  // the active segment, O_APPEND
    std::uint64_t next_id_ = 1;
    std::uint64_t torn_bytes_ = 0;
    std::map<std::uint64_t, entry> entries_;
    std::map<std::string, std::deque<std::uint64_t>> queues_;  // pending ids per order key
    std::set<std::uint64_t> pending_;  // every pending id: the oldest is the age quota's
    struct seen {
        std::uint64_t id;
        std::int64_t at_ms;
    };
    std::unordered_map<std::string, seen> dedupe_;
    std::uint64_t stored_bytes_ = 0;
    std::uint64_t stored_events_ = 0;

public:
    spool_log() = default;
    spool_log(const spool_log&) = delete;
    spool_log& operator=(const spool_log&) = delete;
    ~spool_log();
};

}  // namespace maintgate::spool
