#pragma once
#include <cstddef>
#include <optional>
#include <string_view>

namespace maintgate::policy {

// Writes the normalised path of a request-target into out (capacity out_cap) and returns
// its length, or nullopt when the target cannot be normalised safely (then no rule may
// match it). Allocation-free.
//
// Gate exceptions only ever loosen the gate, so every doubt here answers nullopt: a rule
// that fails to match costs a refused request, a rule that matches the wrong path lets a
// write through. The steps, in order:
// - the path part: an origin-form target ("/p?q") up to the first '?' or '#'; an
//   absolute-form target ("http://authority/p", "https://...", scheme in any case) gives
//   its path, "/" when it has none; anything else ("*", "host:443", "") is nullopt;
// - every %XX is decoded; a '%' without two hex digits is nullopt, and so is a decoded
//   "%XX" (double encoding, which a second decoder upstream would turn into something else);
// - nullopt for raw bytes that a request-target cannot hold (controls, space), for decoded
//   controls (NUL, CR, LF, DEL...), and for 0xC0/0xC1 (overlong UTF-8, "%c0%ae" is a '.'
//   to old decoders);
// - '\' (raw or decoded) is a separator like '/', and runs of separators collapse, except
//   at the very start: a raw path beginning with two separators ("//host/x", a
//   network-path reference to some URL parsers) is nullopt;
// - a dot segment ("." or "..", raw or encoded) is nullopt, not resolved: the target is
//   forwarded as it came and backends disagree on dot segments, so "/api/write/../../healthz"
//   resolved to "/healthz" would let a write through to a backend that routes on the raw
//   path. Clients resolve dot segments before sending; only crafted requests carry them;
// - so is a segment that a server may read as a dot segment: dots with a ";parameter"
//   ("..;", Tomcat) or made only of dots and spaces ("...", ".. ");
// - a trailing slash is kept; the result always starts with '/'.
// A result longer than out_cap is nullopt; the result never exceeds the raw path's length
// (or 1 for an absolute-form target without a path), so a buffer that size always suffices.
std::optional<std::size_t> normalize_path(std::string_view target, char* out, std::size_t out_cap) noexcept;

// True when path equals prefix or continues it at a segment boundary: prefix "/api"
// matches "/api", "/api/", "/api/x", not "/apix". A prefix ending in '/' matches anything
// under it ("/api/" matches "/api/" and "/api/x", not "/api"). An empty prefix matches
// nothing. Both sides are compared byte for byte: normalise the path first.
bool path_has_prefix(std::string_view path, std::string_view prefix) noexcept;

}  // namespace maintgate::policy
