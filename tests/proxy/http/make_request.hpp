#pragma once
// Heads for the tests of what reads one (framing, forward, request_view): built from
// their parts, or parsed by the session's own parser (head_parser.hpp), without a socket.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/http/head.hpp"
#include "proxy/http/head_parser.hpp"
#include "proxy/net.hpp"
#include "proxy/net/buffer_pool.hpp"

namespace maintgate::proxy::test {

using proxy::field_list;

inline request_head make_request(std::string_view method, std::string_view target, unsigned version,
                                 const field_list& fields) {
    return request_head::build(method, target, version, fields);
}

inline field_list fields_of(const head_fields& h) {
    field_list out;
    for (const auto& f : h) out.emplace_back(std::string(f.name_string()), std::string(f.value()));
    return out;
}

// A copy that owns its bytes: a parsed head's go with its parser.
inline request_head owned(const request_head& h) {
    return request_head::build(h.method_string(), h.target(), h.version(), fields_of(h));
}
inline response_head owned(const response_head& h) {
    return response_head::build(h.result_int(), h.reason(), h.version(), fields_of(h));
}

template <bool isRequest>
struct parsed_head {
    error_code ec;
    std::size_t used = 0;
    std::optional<typename head_parser<isRequest>::head_type> head;  // set when the head was complete
};

// The way the session parses a head: eager(false), so the parser stops after it. The
// body limit is lifted (the session sets its own) so that the framing rules show alone.
template <bool isRequest>
parsed_head<isRequest> parse_text(std::string_view text) {
    buffer_pool pool;
    head_parser<isRequest> p(pool);
    p.eager(false);
    p.body_limit(boost::none);
    parsed_head<isRequest> out;
    out.used = p.put(net::buffer(text.data(), text.size()), out.ec);
    if (!out.ec && !p.is_header_done()) out.ec = http::error::need_more;
    if (!out.ec) out.head.emplace(owned(p.get()));
    return out;
}

}  // namespace maintgate::proxy::test
