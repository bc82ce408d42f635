// libFuzzer target: a client's bytes through every check the proxy makes before it
// forwards anything, in the order client_session makes them: scan_request_head, the
// session's parser (head_parser.hpp), check_request_fields, render_request_head, then the
// body and its trailers.
//
// Beyond "no crash, no sanitizer report", it checks the properties the proxy relies on:
// - scan_request_head is incremental: a prefix of the input either waits or already
//   gives the verdict the whole input gives (so a verdict never depends on how reads
//   split the bytes);
// - a head the proxy accepts renders into a head that passes the same checks again: what
//   reaches the upstream is never less clean than what was checked;
// - no hop-by-hop field survives the rendering, except the upgrade pair when upgrading;
// - the session's parser, which keeps the head as views into a copy of its bytes, reads
//   the same head as Beast's own parser into basic_fields: start line, and every field's
//   name, id and value in order (an obs-folded response value included).
// An input that starts with "HTTP/" is an upstream's response instead: the session's
// parser, check_response_fields and render_response_head, which must leave no hop-by-hop
// field.
// A broken property aborts, which libFuzzer reports as a crash with the input saved.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "policy/ascii.hpp"
#include "policy/cidr.hpp"
#include "proxy/http/forward.hpp"
#include "proxy/http/framing.hpp"
#include "proxy/http/head_parser.hpp"

using namespace maintgate;
using namespace maintgate::proxy;

namespace {

// Small limits, so that inputs of a few KiB reach every limit check.
constexpr head_limits limits{2048, 24, 512};

[[noreturn]] void broken(const char* property) {
    std::fprintf(stderr, "fuzz_framing: property broken: %s\n", property);
    std::abort();
}

void check(bool ok, const char* property) {
    if (!ok) broken(property);
}

void check_prefix(std::string_view data, const head_scan& full, std::size_t k) {
    if (k > data.size()) return;
    const head_scan part = scan_request_head(data.substr(0, k), limits);
    if (part.error) {
        check(part.error.status == full.error.status &&
                  std::string_view(part.error.detail) == full.error.detail,
              "a prefix reports another error than the whole input");
    } else if (part.end != 0) {
        check(!full.error && part.end == full.end, "a prefix ends the head elsewhere");
    } else {
        // Waiting is right when the whole input also waits, fails, or ends past the prefix.
        check(full.error || full.end == 0 || full.end > k,
              "a prefix waits although the whole head fits in it");
    }
}

// The same head, field for field, as Beast's basic_fields hold it. The session's head
// lists fields in the order they came; Beast lists a field right after the last one of
// the same name (ASCII case ignored), so ours are put in that order first.
template <class Head, class Fields>
void check_same_fields(const Head& ours, const Fields& beasts) {
    std::vector<const head_field*> order;
    for (const auto& f : ours) {
        auto at = order.end();
        for (auto it = order.begin(); it != order.end(); ++it)
            if (policy::iequals((*it)->name_string(), f.name_string())) at = it + 1;
        order.insert(at, &f);
    }
    auto it = beasts.begin();
    for (const head_field* f : order) {
        check(it != beasts.end(), "the session's parser has a field Beast's has not");
        check(f->name() == it->name() && f->name_string() == std::string_view(it->name_string()) &&
                  f->value() == std::string_view(it->value()),
              "the session's parser reads a field otherwise than Beast's");
        ++it;
    }
    check(it == beasts.end(), "Beast's parser has a field the session's has not");
}

// Scans the rendered head again and parses it: the upstream's view, returned.
request_head check_forwarded_head(buffer_pool& pool, const std::string& wire) {
    // The transform adds a handful of fields and may lengthen values: generous limits.
    const head_limits wide{1 << 20, 1000, 1 << 20};
    const head_scan again = scan_request_head(wire, wide);
    check(!again.error, "the forwarded head fails scan_request_head");
    check(again.skip == 0 && again.end == wire.size(), "the forwarded head does not end where it should");

    request_parser p(pool);
    p.header_limit(1 << 20);
    error_code ec;
    p.put(net::buffer(wire), ec);
    check(!ec && p.is_header_done(), "Beast refuses the forwarded head");
    check(!check_request_fields(p.get()), "the forwarded head fails check_request_fields");
    field_list fields;
    for (const auto& f : p.get()) fields.emplace_back(f.name_string(), f.value());
    return request_head::build(p.get().method_string(), p.get().target(), p.get().version(), fields);
}

void hop_by_hop_gone(const request_head& req, bool upgrade) {
    for (auto f : {http::field::keep_alive, http::field::proxy_connection, http::field::te,
                   http::field::trailer, http::field::http2_settings})
        check(req.find(f) == req.end(), "a hop-by-hop field survived the transform");
    if (!upgrade) {
        check(req.find(http::field::connection) == req.end(), "Connection survived the transform");
        check(req.find(http::field::upgrade) == req.end(), "Upgrade survived without an upgrade");
    }
}

// The upstream's side: a response head as client_session reads it.
void check_response(std::string_view data) {
    buffer_pool pool;
    response_parser parser(pool);
    parser.header_limit(64 * 1024);
    parser.skip(true);  // the head alone, as read_response_head does
    error_code ec;
    parser.put(net::buffer(data.data(), data.size()), ec);

    http::response_parser<http::empty_body> beast;
    beast.header_limit(64 * 1024);
    beast.skip(true);
    error_code beast_ec;
    beast.put(net::buffer(data.data(), data.size()), beast_ec);
    check(ec == beast_ec && parser.is_header_done() == beast.is_header_done(),
          "the session's parser and Beast's disagree on a response head");
    if (ec || !parser.is_header_done()) return;
    const auto& res = parser.get();
    check(res.result_int() == beast.get().result_int() && res.version() == beast.get().version() &&
              (res.reason().empty() ? std::string_view(http::obsolete_reason(res.result())) : res.reason()) ==
                  std::string_view(beast.get().reason()),
          "the session's parser reads another status line than Beast's");
    check_same_fields(res, beast.get());

    if (check_response_fields(res)) return;
    const bool upgrade = res.result() == http::status::switching_protocols;
    std::string wire;
    render_response_head(res, {.via = true, .upgrade = upgrade}, wire);
    http::response_parser<http::empty_body> again;
    again.header_limit(1 << 20);
    again.skip(true);
    again.put(net::buffer(wire), ec);
    check(!ec && again.is_header_done(), "Beast refuses the relayed response head");
    const auto& out = again.get();
    for (auto f : {http::field::keep_alive, http::field::proxy_connection, http::field::te,
                   http::field::trailer, http::field::transfer_encoding, http::field::http2_settings})
        check(out.find(f) == out.end(), "a hop-by-hop field survived render_response_head");
    if (!upgrade)
        check(out.find(http::field::upgrade) == out.end() && out.find(http::field::connection) == out.end(),
              "Upgrade or Connection survived render_response_head");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    const std::string_view data(reinterpret_cast<const char*>(bytes), size);
    if (data.starts_with("HTTP/")) {
        check_response(data);
        return 0;
    }

    const head_scan scan = scan_request_head(data, limits);
    // A few split points rather than all of them: every split would be quadratic.
    check_prefix(data, scan, size / 2);
    check_prefix(data, scan, size == 0 ? 0 : size - 1);
    if (size > 0) check_prefix(data, scan, static_cast<std::size_t>(bytes[0]) * 7 % (size + 1));
    if (scan.error || scan.end == 0) return 0;
    check(scan.skip <= scan.end && scan.end <= limits.max_header_size, "head bounds out of range");

    // What client_session does with an accepted head.
    buffer_pool pool;
    request_parser parser(pool);
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header_size + 4));
    parser.body_limit(64 * 1024);
    error_code ec;
    const std::size_t used = parser.put(net::buffer(data.data() + scan.skip, scan.end - scan.skip), ec);
    {
        http::request_parser<http::empty_body> beast;
        beast.header_limit(static_cast<std::uint32_t>(limits.max_header_size + 4));
        beast.body_limit(64 * 1024);
        error_code beast_ec;
        beast.put(net::buffer(data.data() + scan.skip, scan.end - scan.skip), beast_ec);
        check(ec == beast_ec && parser.is_header_done() == beast.is_header_done(),
              "the session's parser and Beast's disagree on a request head");
        if (!ec && parser.is_header_done()) {
            const auto& r = parser.get();
            check(r.method() == beast.get().method() &&
                      r.method_string() == std::string_view(beast.get().method_string()) &&
                      r.target() == std::string_view(beast.get().target()) &&
                      r.version() == beast.get().version(),
                  "the session's parser reads another request line than Beast's");
            check_same_fields(r, beast.get());
        }
    }
    if (ec || !parser.is_header_done()) return 0;
    auto& req = parser.get();
    if (check_request_fields(req)) return 0;

    const bool upgrade = wants_upgrade(req);
    const auto peer = policy::parse_ip("192.0.2.7");
    const auto trusted = policy::parse_cidr("198.51.100.0/24");
    const policy::cidr trusted_list[] = {*trusted.value};
    const forward_context ctx{*peer, "192.0.2.7", false, trusted_list, true, {}};
    request_head_options o;
    o.upgrade = upgrade;
    o.chunked = parser.chunked();
    o.default_host = "127.0.0.1:3000";  // as client_session does for HTTP/1.0
    std::string wire;
    render_request_head(req, ctx, o, wire);
    hop_by_hop_gone(check_forwarded_head(pool, wire), upgrade);
    const auto head_fields = req.size();

    // The body, through the same parser, in a fixed buffer as the session reads it (the
    // parser checks every chunk size and judges the trailers).
    parser.eager(true);
    std::string_view rest = data.substr(scan.skip + used);
    char buf[512];
    for (int rounds = 0; rounds < 10'000 && !parser.is_done(); ++rounds) {
        parser.body().data = buf;
        parser.body().size = sizeof buf;
        const std::size_t n = parser.put(net::buffer(rest.data(), rest.size()), ec);
        if (ec == http::error::need_buffer) ec = {};
        if (ec) return 0;
        rest.remove_prefix(n);
        if (n == 0 && parser.body().size == sizeof buf) break;  // needs bytes the input does not have
    }
    check(req.size() == head_fields, "a trailer was added to the head");
    if (parser.is_done() && parser.chunked()) (void)parser.refused_trailer();
    return 0;
}
