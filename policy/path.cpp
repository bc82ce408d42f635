#include "policy/path.hpp"

#include <array>
#include <cstdint>
#include <cstring>

namespace maintgate::policy {

namespace {

constexpr int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

constexpr bool is_hex(unsigned char c) noexcept { return hex_value(static_cast<char>(c)) >= 0; }

constexpr bool is_separator(unsigned char c) noexcept { return c == '/' || c == '\\'; }

// What one byte of the raw path means to the scan; one table look-up per byte keeps the
// common case (plain bytes) to a load and a compare.
enum byte_class : std::uint8_t {
    plain,
    refused,  // controls, space, and the overlong-UTF-8 leads 0xc0 and 0xc1
    escape,  // '%'
    end,  // '?' and '#': the path stops here
};

constexpr bool refused_decoded(unsigned char c) noexcept {
    return c < 0x20 || c == 0x7f || c == 0xc0 || c == 0xc1;
}

constexpr std::array<byte_class, 256> make_byte_classes() noexcept {
    std::array<byte_class, 256> t{};
    for (unsigned c = 0; c < 256; ++c)
        t[c] = refused_decoded(static_cast<unsigned char>(c)) ? refused : plain;
    t[' '] = refused;  // a raw space cannot be in a request-target; %20 can
    t['%'] = escape;
    t['?'] = end;
    t['#'] = end;
    return t;
}

constexpr auto byte_classes = make_byte_classes();

bool iequals_prefix(std::string_view text, std::string_view lower_prefix) noexcept {
    if (text.size() < lower_prefix.size()) return false;
    for (std::size_t i = 0; i < lower_prefix.size(); ++i) {
        char c = text[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != lower_prefix[i]) return false;
    }
    return true;
}

// The raw path of a request-target and what follows it (query, fragment); nullopt for
// forms that have no path. An absolute-form target without a path yields an empty view,
// which means "/".
std::optional<std::string_view> path_and_rest(std::string_view target) noexcept {
    if (target.empty()) return std::nullopt;
    if (target[0] == '/') return target;
    std::size_t skip = 0;
    if (iequals_prefix(target, "http://"))
        skip = 7;
    else if (iequals_prefix(target, "https://"))
        skip = 8;
    else
        return std::nullopt;  // "*", authority-form, other schemes, relative paths
    const std::size_t authority_end = target.find_first_of("/?#", skip);
    const std::string_view authority = target.substr(skip, authority_end - skip);
    // WHATWG URL parsers read '\' as '/', so "http://host\healthz" has no clear path.
    if (authority.empty() || authority.find('\\') != std::string_view::npos) return std::nullopt;
    if (authority_end == std::string_view::npos) return std::string_view{};
    return target.substr(authority_end);
}

struct scan_result {
    bool ok = false;
    bool has_escapes = false;
    std::size_t length = 0;  // of the path, up to '?' or '#'
};

// Finds where the path ends and checks every escape and byte once, front to back, so
// that the backward pass can decode without re-validating: after this, each '%' starts a
// valid three-byte escape.
scan_result scan(std::string_view text) noexcept {
    scan_result r;
    // 0: nothing, 1: after a decoded '%', 2: after a decoded '%' and one hex digit.
    int double_encoding = 0;
    std::size_t i = 0;
    for (; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        const byte_class k = byte_classes[c];
        if (k == plain) {
            if (double_encoding != 0) {
                if (double_encoding == 2 && is_hex(c)) return r;
                double_encoding = double_encoding == 1 && is_hex(c) ? 2 : 0;
            }
            continue;
        }
        if (k == end) break;
        if (k == refused) return r;
        // An escape.
        if (text.size() - i < 3) return r;
        const int hi = hex_value(text[i + 1]);
        const int lo = hex_value(text[i + 2]);
        if (hi < 0 || lo < 0) return r;
        const auto d = static_cast<unsigned char>(hi * 16 + lo);
        if (refused_decoded(d)) return r;
        if (double_encoding == 2 && is_hex(d)) return r;
        double_encoding = (double_encoding == 1 && is_hex(d)) ? 2 : (d == '%' ? 1 : 0);
        r.has_escapes = true;
        i += 2;
    }
    r.ok = true;
    r.length = i;
    return r;
}

// Reads a scanned path byte by byte, decoding escapes when Escaped; the plain variant
// is the common case and compiles to bare loads.
template <bool Escaped>
struct reader {
    std::string_view path;

    // The byte that ends just before raw index i; moves i to its start. A '%' three bytes
    // back always starts this byte's escape, since hex digits are never '%'.
    unsigned char back(std::size_t& i) const noexcept {
        if constexpr (Escaped) {
            if (i >= 3 && path[i - 3] == '%') {
                i -= 3;
                return static_cast<unsigned char>(hex_value(path[i + 1]) * 16 + hex_value(path[i + 2]));
            }
        }
        --i;
        return static_cast<unsigned char>(path[i]);
    }

    unsigned char forward(std::size_t& i) const noexcept {
        if constexpr (Escaped) {
            if (path[i] == '%') {
                i += 3;
                return static_cast<unsigned char>(hex_value(path[i - 2]) * 16 + hex_value(path[i - 1]));
            }
        }
        return static_cast<unsigned char>(path[i++]);
    }
};

// dot: "." or "..", raw or encoded, and the shapes some server reads as one.
enum class segment_kind { empty, dot, name };

// Classifies the raw segment [begin, end) by its decoded bytes. The part before the first
// ';' decides: Tomcat and others strip path parameters before resolving dot segments, and
// Windows servers drop trailing dots and spaces, so "..;x", "...", ". ." count as dots too.
template <bool Escaped>
segment_kind classify(const reader<Escaped>& in, std::size_t begin, std::size_t end) noexcept {
    if (begin == end) return segment_kind::empty;
    bool dot = false;
    for (std::size_t i = begin; i < end;) {
        const unsigned char c = in.forward(i);
        if (c == ';') break;
        if (c == '.')
            dot = true;
        else if (c != ' ')
            return segment_kind::name;
    }
    return dot ? segment_kind::dot : segment_kind::name;  // " " and ";x" are names
}

// Copies the segments, decoded, from the right: the result is written backwards from the
// end of out, so the capacity check is on the result alone. Empty segments collapse; a
// dot segment of any spelling ends the walk with nullopt.
//
// Dot segments are refused rather than resolved (RFC 3986 5.2.4) because the proxy
// forwards the target as it came, and backends disagree on them: Tomcat and Apache
// resolve them, Express, Rack, Werkzeug and Django route on the raw path. Resolved here,
// "/api/write/../../healthz" would match a "/healthz" exception while a backend that does
// not resolve it routes a write to /api/write. Clients resolve dot segments before
// sending (RFC 3986 5.2, and every browser and curl do), so only crafted requests have them.
template <bool Escaped>
std::optional<std::size_t> resolve(std::string_view path, char* out, std::size_t out_cap) noexcept {
    const reader<Escaped> in{path};
    std::size_t pos = out_cap;

    bool trailing_slash = false;
    if (!path.empty()) {
        std::size_t i = path.size();
        trailing_slash = is_separator(in.back(i));
    }

    bool wrote_segment = false;
    std::size_t i = path.size();
    while (i > 0) {
        const std::size_t end = i;
        std::size_t begin = i;
        std::size_t before = i;
        while (begin > 0 && !is_separator(in.back(before))) begin = before;
        i = before;  // past the separator, or 0

        const segment_kind kind = classify(in, begin, end);
        if (kind == segment_kind::empty) continue;  // "//" collapses
        if (kind == segment_kind::dot) return std::nullopt;
        if (!wrote_segment && trailing_slash) {
            if (pos == 0) return std::nullopt;
            out[--pos] = '/';
        }
        if constexpr (Escaped) {
            for (std::size_t j = end; j > begin;) {
                if (pos == 0) return std::nullopt;
                out[--pos] = static_cast<char>(in.back(j));
            }
        } else {
            if (pos < end - begin) return std::nullopt;
            pos -= end - begin;
            std::memcpy(out + pos, path.data() + begin, end - begin);
        }
        if (pos == 0) return std::nullopt;
        out[--pos] = '/';
        wrote_segment = true;
    }
    if (!wrote_segment) {
        if (out_cap == 0) return std::nullopt;
        out[0] = '/';
        return 1;
    }
    const std::size_t length = out_cap - pos;
    std::memmove(out, out + pos, length);
    return length;
}

}  // namespace

std::optional<std::size_t> normalize_path(std::string_view target, char* out, std::size_t out_cap) noexcept {
    const auto raw = path_and_rest(target);
    if (!raw) return std::nullopt;
    const scan_result s = scan(*raw);
    if (!s.ok) return std::nullopt;
    const std::string_view path = raw->substr(0, s.length);
    // "//host/x" is a network-path reference: some frameworks and URL libraries read
    // "host" as an authority and "/x" as the path, so it may reach a route no rule sees.
    if (path.size() >= 2 && is_separator(path[0]) && is_separator(path[1])) return std::nullopt;
    return s.has_escapes ? resolve<true>(path, out, out_cap) : resolve<false>(path, out, out_cap);
}

bool path_has_prefix(std::string_view path, std::string_view prefix) noexcept {
    if (prefix.empty() || !path.starts_with(prefix)) return false;
    return prefix.back() == '/' || path.size() == prefix.size() || path[prefix.size()] == '/';
}

}  // namespace maintgate::policy
