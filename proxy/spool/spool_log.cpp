#include "proxy/spool/spool_log.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace maintgate::spool {
namespace {

std::string errno_text() { return std::strerror(errno); }

std::string segment_name(std::size_t seq) {
    char name[32];
    std::snprintf(name, sizeof name, "%016zu.seg", seq);
    return name;
}

bool fsync_dir(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return false;
    const bool ok = ::fsync(fd) == 0;
    ::close(fd);
    return ok;
}

bool read_file(const std::string& path, std::string& out) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    out.clear();
    char buf[1 << 16];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            ::close(fd);
            return n == 0;
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
}

std::uint64_t get64(const char* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

}  // namespace

std::string_view to_string(state s) noexcept {
    switch (s) {
    case state::pending: return "pending";
    case state::done: return "done";
    case state::dead: return "dead";
    case state::dropped: return "dropped";
    }
    return "pending";
}

std::string_view to_string(admit_result a) noexcept {
    switch (a) {
    case admit_result::accepted: return "accepted";
    case admit_result::duplicate: return "duplicate";
    case admit_result::over_bytes: return "bytes";
    case admit_result::over_events: return "events";
    case admit_result::over_age: return "age";
    }
    return "accepted";
}

spool_log::~spool_log() {
    if (fd_ >= 0) ::close(fd_);
}

std::string spool_log::open(const std::string& dir, const spool_settings& s) {
    dir_ = dir;
    cfg_ = s;
    if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) return "cannot create " + dir + ": " + errno_text();
    DIR* d = ::opendir(dir.c_str());
    if (!d) return "cannot open " + dir + ": " + errno_text();
    std::vector<std::size_t> seqs;
    while (const dirent* de = ::readdir(d)) {
        const std::string_view name = de->d_name;
        if (name.size() != 20 || !name.ends_with(".seg")) continue;
        std::size_t seq = 0;
        bool digits = true;
        for (char c : name.substr(0, 16)) {
            if (c < '0' || c > '9') digits = false;
            seq = seq * 10 + static_cast<std::size_t>(c - '0');
        }
        if (digits) seqs.push_back(seq);
    }
    ::closedir(d);
    std::sort(seqs.begin(), seqs.end());

    std::string bytes;
    for (std::size_t i = 0; i < seqs.size(); ++i) {
        segment seg;
        seg.seq = seqs[i];
        seg.path = dir_ + "/" + segment_name(seg.seq);
        if (!read_file(seg.path, bytes)) return "cannot read " + seg.path + ": " + errno_text();
        if (bytes.size() < segment_header || std::string_view(bytes).substr(0, 8) != segment_magic) {
            // A segment created but never given its header (a crash right after creat):
            // only the last one can be like that, and it holds nothing.
            if (i + 1 == seqs.size() && bytes.size() < segment_header) {
                ::unlink(seg.path.c_str());
                torn_bytes_ += bytes.size();
                continue;
            }
            return seg.path + ": not a spool segment";
        }
        next_id_ = std::max(next_id_, get64(bytes.data() + 8));
        segments_.push_back(seg);
        const std::string_view frames = std::string_view(bytes).substr(segment_header);
        const std::size_t valid = scan_frames(frames, [&](std::size_t off, std::string_view payload) {
            auto rec = decode(payload);
            if (!rec) return;
            if (auto* e = std::get_if<event>(&*rec)) {
                entry en;
                en.id = e->id;
                en.arrival_ms = e->arrival_ms;
                en.method = e->method;
                en.target = e->target;
                en.delivery_id = e->delivery_id;
                en.dedupe_key = e->dedupe_key;
                en.order_key = e->order_key;
                en.bytes = frame_header + payload.size();
                en.segment = seg.seq;
                en.offset = segment_header + off;
                next_id_ = std::max(next_id_, e->id + 1);
                auto& sg = segments_.back();
                ++sg.live;
                sg.newest_ms = std::max(sg.newest_ms, e->arrival_ms);
                stored_bytes_ += en.bytes;
                ++stored_events_;
                if (!en.dedupe_key.empty()) dedupe_[en.dedupe_key] = {en.id, en.arrival_ms};
                auto [it, fresh] = entries_.emplace(en.id, std::move(en));
                if (fresh) enqueue(it->second);
            } else {
                apply(std::get<mark>(*rec));
            }
        });
        const std::uint64_t keep = segment_header + valid;
        segments_.back().size = keep;
        if (keep < bytes.size()) {
            // The torn tail: never acknowledged, so cut it before anything is appended.
            torn_bytes_ += bytes.size() - keep;
            if (::truncate(seg.path.c_str(), static_cast<off_t>(keep)) != 0)
                return "cannot cut the torn tail of " + seg.path + ": " + errno_text();
        }
    }
    if (segments_.empty()) return open_segment(1, next_id_);
    fd_ = ::open(segments_.back().path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd_ < 0) return "cannot open " + segments_.back().path + ": " + errno_text();
    return {};
}

std::string spool_log::open_segment(std::size_t seq, std::uint64_t base_id) {
    segment seg;
    seg.seq = seq;
    seg.path = dir_ + "/" + segment_name(seq);
    const int fd = ::open(seg.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) return "cannot create " + seg.path + ": " + errno_text();
    std::string head(segment_magic);
    for (int i = 0; i < 8; ++i) head.push_back(static_cast<char>((base_id >> (8 * i)) & 0xFF));
    if (!write_all(fd, head) || ::fdatasync(fd) != 0 || !fsync_dir(dir_)) {
        const std::string err = "cannot start " + seg.path + ": " + errno_text();
        ::close(fd);
        ::unlink(seg.path.c_str());
        return err;
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
    seg.size = segment_header;
    segments_.push_back(seg);
    return {};
}

std::string spool_log::queue_key(const entry& e) const {
    // Without an order key an event waits for nothing but itself.
    if (e.order_key.empty()) return "#" + std::to_string(e.id);
    return "k" + e.order_key;
}

void spool_log::enqueue(const entry& e) {
    auto& q = queues_[queue_key(e)];
    q.insert(std::upper_bound(q.begin(), q.end(), e.id), e.id);
    pending_.insert(e.id);
}

void spool_log::dequeue(const entry& e) {
    pending_.erase(e.id);
    auto it = queues_.find(queue_key(e));
    if (it == queues_.end()) return;
    auto& q = it->second;
    q.erase(std::remove(q.begin(), q.end(), e.id), q.end());
    if (q.empty()) queues_.erase(it);
}

void spool_log::apply(const mark& m) {
    auto it = entries_.find(m.id);
    if (it == entries_.end()) return;  // its segment was compacted
    entry& e = it->second;
    const bool was_live = e.st == state::pending || e.st == state::dead;
    if (e.st == state::pending) dequeue(e);
    switch (m.kind) {
    case mark_kind::done: e.st = state::done; break;
    case mark_kind::dead: e.st = state::dead; break;
    case mark_kind::dropped: e.st = state::dropped; break;
    case mark_kind::requeued:
        e.st = state::pending;
        e.attempts = 0;
        break;
    }
    e.last_status = m.status ? m.status : e.last_status;
    if (!m.detail.empty()) e.last_detail = m.detail;
    if (e.st == state::pending) enqueue(e);
    const bool live = e.st == state::pending || e.st == state::dead;
    if (was_live && !live) {
        stored_bytes_ -= e.bytes;
        --stored_events_;
        for (auto& s : segments_) {
            if (s.seq == e.segment) --s.live;
        }
    }
}

admit_result spool_log::admit(event& e, std::int64_t now_ms, std::string& batch) {
    if (!e.dedupe_key.empty()) {
        if (auto it = dedupe_.find(e.dedupe_key); it != dedupe_.end()) {
            if (now_ms - it->second.at_ms < cfg_.dedupe_ttl.count()) {
                e.id = it->second.id;
                return admit_result::duplicate;
            }
        }
    }
    // Quotas: nothing stored is ever dropped to make room; the new event is refused.
    if (stored_events_ + 1 > cfg_.max_events) return admit_result::over_events;
    if (!pending_.empty() && now_ms - entries_.at(*pending_.begin()).arrival_ms > cfg_.max_age.count())
        return admit_result::over_age;
    e.id = next_id_;
    const std::size_t start = batch.size();
    append_frame(batch, e);
    const std::uint64_t bytes = batch.size() - start;
    if (stored_bytes_ + bytes > cfg_.max_bytes) {
        batch.resize(start);
        e.id = 0;
        return admit_result::over_bytes;
    }
    ++next_id_;
    entry en;
    en.id = e.id;
    en.arrival_ms = e.arrival_ms;
    en.method = e.method;
    en.target = e.target;
    en.delivery_id = e.delivery_id;
    en.dedupe_key = e.dedupe_key;
    en.order_key = e.order_key;
    en.bytes = bytes;
    // Where it will land is known once the batch is committed (commit() fixes segment
    // and offset); until then it is only in the index.
    en.offset = start;  // relative to the batch, made absolute by commit()
    en.segment = 0;
    stored_bytes_ += bytes;
    ++stored_events_;
    if (!e.dedupe_key.empty()) dedupe_[e.dedupe_key] = {e.id, e.arrival_ms};
    auto [it, fresh] = entries_.emplace(e.id, std::move(en));
    if (fresh) enqueue(it->second);
    return admit_result::accepted;
}

bool spool_log::stage_mark(const mark& m, std::string& batch) {
    auto it = entries_.find(m.id);
    if (it == entries_.end()) return false;
    const state st = it->second.st;
    switch (m.kind) {
    case mark_kind::done:
    case mark_kind::dead:
        if (st != state::pending) return false;
        break;
    case mark_kind::dropped:
        if (st != state::pending && st != state::dead) return false;
        break;
    case mark_kind::requeued:
        if (st != state::dead) return false;
        break;
    }
    append_frame(batch, m);
    apply(m);
    return true;
}

std::string spool_log::commit(std::string_view batch) {
    if (batch.empty()) return {};
    if (segments_.back().size + batch.size() > cfg_.segment_bytes && segments_.back().size > segment_header) {
        // The full segment was fsynced with its last batch; the new one starts empty.
        if (auto err = open_segment(segments_.back().seq + 1, next_id_); !err.empty()) return err;
    }
    segment& seg = segments_.back();
    const std::uint64_t base = seg.size;
    if (!write_all(fd_, batch)) {
        const std::string err = "cannot write " + seg.path + ": " + errno_text();
        // Cut a partial write back so the next batch does not follow half a frame.
        if (::ftruncate(fd_, static_cast<off_t>(base)) != 0) {
        }
        return err;
    }
    if (::fdatasync(fd_) != 0) {
        const std::string err = "cannot fsync " + seg.path + ": " + errno_text();
        if (::ftruncate(fd_, static_cast<off_t>(base)) != 0) {
        }
        return err;
    }
    seg.size += batch.size();
    // Events admitted into this batch learn where they are.
    for (auto it = entries_.rbegin(); it != entries_.rend() && it->second.segment == 0; ++it) {
        it->second.segment = seg.seq;
        it->second.offset += base;
        ++seg.live;
        seg.newest_ms = std::max(seg.newest_ms, it->second.arrival_ms);
    }
    return {};
}

void spool_log::forget(std::uint64_t id) {
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    entry& e = it->second;
    if (e.st == state::pending) dequeue(e);
    if (e.st == state::pending || e.st == state::dead) {
        stored_bytes_ -= e.bytes;
        --stored_events_;
    }
    if (!e.dedupe_key.empty()) {
        if (auto d = dedupe_.find(e.dedupe_key); d != dedupe_.end() && d->second.id == id) dedupe_.erase(d);
    }
    entries_.erase(it);
}

const entry* spool_log::find(std::uint64_t id) const {
    auto it = entries_.find(id);
    return it == entries_.end() ? nullptr : &it->second;
}

std::optional<event> spool_log::load(std::uint64_t id) const {
    const entry* e = find(id);
    if (!e || e->segment == 0) return std::nullopt;
    const std::string path = dir_ + "/" + segment_name(e->segment);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string buf(e->bytes, '\0');
    std::size_t got = 0;
    while (got < buf.size()) {
        const ssize_t n = ::pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(e->offset + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (got != buf.size()) return std::nullopt;
    std::optional<event> out;
    scan_frames(buf, [&](std::size_t, std::string_view payload) {
        if (auto rec = decode(payload); rec && std::holds_alternative<event>(*rec))
            out = std::move(std::get<event>(*rec));
    });
    return out;
}

std::vector<std::uint64_t> spool_log::heads() const {
    std::vector<std::uint64_t> out;
    out.reserve(queues_.size());
    for (const auto& [key, q] : queues_) {
        if (!q.empty()) out.push_back(q.front());
    }
    std::sort(out.begin(), out.end());
    return out;
}

log_counts spool_log::counts() const {
    log_counts c;
    for (const auto& [id, e] : entries_) {
        switch (e.st) {
        case state::pending:
            ++c.pending;
            if (!c.oldest_pending_ms || e.arrival_ms < c.oldest_pending_ms) c.oldest_pending_ms = e.arrival_ms;
            break;
        case state::dead: ++c.dead; break;
        case state::done: ++c.done; break;
        case state::dropped: ++c.dropped; break;
        }
    }
    c.stored_bytes = stored_bytes_;
    c.segments = segments_.size();
    return c;
}

std::size_t spool_log::compact(std::int64_t now_ms) {
    std::size_t removed = 0;
    while (segments_.size() > 1) {
        const segment& s = segments_.front();
        if (s.live != 0 || now_ms - s.newest_ms < cfg_.dedupe_ttl.count()) break;
        if (::unlink(s.path.c_str()) != 0) break;
        const std::size_t seq = s.seq;
        for (auto it = entries_.begin(); it != entries_.end();) {
            if (it->second.segment == seq) {
                if (!it->second.dedupe_key.empty()) {
                    auto d = dedupe_.find(it->second.dedupe_key);
                    if (d != dedupe_.end() && d->second.id == it->first) dedupe_.erase(d);
                }
                it = entries_.erase(it);
            } else {
                ++it;
            }
        }
        segments_.erase(segments_.begin());
        ++removed;
    }
    if (removed) fsync_dir(dir_);
    // Dedupe keys past their TTL are forgotten whatever their segment.
    for (auto it = dedupe_.begin(); it != dedupe_.end();) {
        if (now_ms - it->second.at_ms >= cfg_.dedupe_ttl.count())
            it = dedupe_.erase(it);
        else
            ++it;
    }
    return removed;
}

void spool_log::note_attempt(std::uint64_t id, unsigned status, std::string detail) {
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    ++it->second.attempts;
    it->second.last_status = status;
    it->second.last_detail = std::move(detail);
}

}  // namespace maintgate::spool
