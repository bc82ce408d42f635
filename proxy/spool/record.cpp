#include "proxy/spool/record.hpp"

#include <cstring>

#include "proxy/spool/crc32c.hpp"

namespace maintgate::spool {
namespace {

constexpr std::uint8_t event_type = 1;

void put32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put64(std::string& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_str(std::string& out, std::string_view s) {
    put32(out, static_cast<std::uint32_t>(s.size()));
    out.append(s);
}

std::uint32_t get32(const char* p) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}
std::uint64_t get64(const char* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

// Reads from a payload; any read past its end makes ok false and the record is refused.
struct reader {
    std::string_view in;
    bool ok = true;
    std::uint8_t u8() {
        if (in.size() < 1) return fail<std::uint8_t>();
        auto v = static_cast<std::uint8_t>(in[0]);
        in.remove_prefix(1);
        return v;
    }
    std::uint32_t u32() {
        if (in.size() < 4) return fail<std::uint32_t>();
        auto v = get32(in.data());
        in.remove_prefix(4);
        return v;
    }
    std::uint64_t u64() {
        if (in.size() < 8) return fail<std::uint64_t>();
        auto v = get64(in.data());
        in.remove_prefix(8);
        return v;
    }
    std::string str() {
        const auto n = u32();
        if (!ok || in.size() < n) return fail<std::string>();
        std::string v(in.substr(0, n));
        in.remove_prefix(n);
        return v;
    }
    template <class T>
    T fail() {
        ok = false;
        in = {};
        return T{};
    }
};

// Frames the payload the caller wrote after the 8 reserved bytes at `start`.
void seal(std::string& out, std::size_t start) {
    const std::size_t len = out.size() - start - frame_header;
    const std::uint32_t crc = crc32c(out.data() + start + frame_header, len, 0);
    std::string head;
    put32(head, static_cast<std::uint32_t>(len));
    put32(head, crc);
    std::memcpy(out.data() + start, head.data(), frame_header);
}

}  // namespace

void append_frame(std::string& out, const event& e) {
    const std::size_t start = out.size();
    out.append(frame_header, '\0');
    out.push_back(static_cast<char>(event_type));
    put64(out, e.id);
    put64(out, static_cast<std::uint64_t>(e.arrival_ms));
    put_str(out, e.method);
    put_str(out, e.target);
    put_str(out, e.delivery_id);
    put_str(out, e.dedupe_key);
    put_str(out, e.order_key);
    put32(out, static_cast<std::uint32_t>(e.headers.size()));
    for (const auto& [name, value] : e.headers) {
        put_str(out, name);
        put_str(out, value);
    }
    put_str(out, e.body);
    seal(out, start);
}

void append_frame(std::string& out, const mark& m) {
    const std::size_t start = out.size();
    out.append(frame_header, '\0');
    out.push_back(static_cast<char>(m.kind));
    put64(out, m.id);
    put32(out, m.status);
    put_str(out, m.detail);
    seal(out, start);
}

std::size_t scan_frames(std::string_view bytes,
                        const std::function<void(std::size_t offset, std::string_view payload)>& f) {
    std::size_t at = 0;
    while (bytes.size() - at >= frame_header) {
        const std::uint32_t len = get32(bytes.data() + at);
        const std::uint32_t crc = get32(bytes.data() + at + 4);
        if (len == 0 || len > max_frame || bytes.size() - at - frame_header < len) break;
        const std::string_view payload = bytes.substr(at + frame_header, len);
        if (crc32c(payload) != crc) break;
        f(at, payload);
        at += frame_header + len;
    }
    return at;
}

std::optional<record> decode(std::string_view payload) {
    reader r{payload};
    const auto type = r.u8();
    if (type == event_type) {
        event e;
        e.id = r.u64();
        e.arrival_ms = static_cast<std::int64_t>(r.u64());
        e.method = r.str();
        e.target = r.str();
        e.delivery_id = r.str();
        e.dedupe_key = r.str();
        e.order_key = r.str();
        const auto n = r.u32();
        if (!r.ok || n > payload.size()) return std::nullopt;
        e.headers.reserve(n);
        for (std::uint32_t i = 0; i < n && r.ok; ++i) {
            auto name = r.str();
            auto value = r.str();
            e.headers.emplace_back(std::move(name), std::move(value));
        }
        e.body = r.str();
        if (!r.ok || !r.in.empty()) return std::nullopt;
        return record{std::move(e)};
    }
    if (type >= 2 && type <= 5) {
        mark m;
        m.kind = static_cast<mark_kind>(type);
        m.id = r.u64();
        m.status = r.u32();
        m.detail = r.str();
        if (!r.ok || !r.in.empty()) return std::nullopt;
        return record{std::move(m)};
    }
    return std::nullopt;
}

}  // namespace maintgate::spool
