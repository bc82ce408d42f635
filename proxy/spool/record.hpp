#pragma once
// The spool's on-disk records. A segment file is the 8-byte magic "MGSPOOL1" and the u64
// spool id its first event will get (ids are never reused, even once compacted), followed by
// frames; a frame is
//   u32 length (little-endian, of the payload) | u32 CRC-32C of the payload | payload
// and a payload is one record: an event (a whole request as it arrived) or a mark that
// changes an event's state (done, dead-lettered, dropped, requeued). Marks are appended,
// never written in place, so a segment is only ever appended to, and a crash can leave
// at most one torn frame at its end, which scan_frames() finds and the log cuts off.
// Pure: no I/O.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace maintgate::spool {

inline constexpr std::string_view segment_magic = "MGSPOOL1";
inline constexpr std::size_t segment_header = 16;  // magic + base id
inline constexpr std::size_t frame_header = 8;
// A frame longer than this is corruption, not a record (max_event_bytes is far below).
inline constexpr std::uint32_t max_frame = 256u << 20;

// One webhook request, as it arrived and as it is replayed.
struct event {
    std::uint64_t id = 0;  // the spool id: increasing, never reused
    std::int64_t arrival_ms = 0;  // unix ms
    std::string method;
    std::string target;
    std::string delivery_id;  // the original delivery id (the dedupe key's value), or empty
    std::string dedupe_key;  // the dedupe key's value, or empty
    std::string order_key;  // the order key's value, or empty
    std::vector<std::pair<std::string, std::string>> headers;  // all but hop-by-hop, in order
    std::string body;
};

enum class mark_kind : std::uint8_t { done = 2, dead = 3, dropped = 4, requeued = 5 };

// A change of an event's state. status: the upstream's last status (0: none);
// detail: why (dead-lettered on "400", dropped by "uid 1000").
struct mark {
    mark_kind kind = mark_kind::done;
    std::uint64_t id = 0;
    unsigned status = 0;
    std::string detail;
};

using record = std::variant<event, mark>;

// Appends one framed record to out.
void append_frame(std::string& out, const event& e);
void append_frame(std::string& out, const mark& m);

// Walks the frames of a segment's bytes after the magic (offset 0 is the first frame's
// header). Calls f(offset, payload) for each whole frame whose CRC matches, in order,
// and stops at the first that is cut short, too long or fails its CRC. Returns the
// length of the valid prefix: what the log keeps of the file.
std::size_t scan_frames(std::string_view bytes,
                        const std::function<void(std::size_t offset, std::string_view payload)>& f);

// A payload back into its record; nullopt when it does not parse (its CRC matched, so
// this is a bug or a record kind from a newer version, which is skipped).
std::optional<record> decode(std::string_view payload);

}  // namespace maintgate::spool
