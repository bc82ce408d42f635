#pragma once
// The gate's input, built from a parsed request head: what policy::decide() reads of a
// request, as views into the head. A pure function (beast's handle_request, envoy's
// decodeHeaders(HeaderMap&)), so it is tested without a socket
// (tests/proxy/http/request_view_test.cpp), and, since it cannot suspend, the session's
// rule that nothing suspends between reading the gate snapshot, deciding and counting
// the request in flight (what freeze relies on) holds by construction.
#include <cstdint>
#include <string_view>

#include "policy/cidr.hpp"
#include "policy/gate.hpp"
#include "proxy/http/framing.hpp"
#include "proxy/net.hpp"

namespace maintgate::proxy {

// What the request head does not say: who sent it, the gate's mode and the settings
// that change what is looked up.
struct view_facts {
    policy::ip_address peer;
    policy::mode mode = policy::mode::open;
    // Unix seconds, for the bypass cookie's expiry: read from the clock by the caller,
    // and only while the gate is closed (it is not looked at in open mode).
    std::int64_t now = 0;
    underscores_policy underscores = underscores_policy::drop;  // forwarding.underscores_in_headers
    std::size_t underscore_fields = 0;  // underscore_result::fields of apply_underscore_policy
    std::string_view bypass_header;  // gate.policy.bypass_header (lower-case name)
    bool has_rules = false;  // gate.policy.rules is not empty
};

// The fields apps read a method override from (policy::request_view::method_override),
// in the order they are looked up: the first one present wins.
inline constexpr std::string_view method_override_fields[] = {"X-HTTP-Method-Override", "X-HTTP-Method",
                                                              "X-Method-Override"};

// Builds the view decide() takes. The method override is looked up only when it can
// change the decision: the method is a read (an override can make it a write), or there
// are rules (an override can keep a write from matching a rule that does not list it).
// With underscores forwarded, an override spelled with '_' counts too, since a CGI, WSGI
// or PHP app reads it as the dashed one, and a write wins over a read. The cookie, the
// bypass header and the clock are read only while the gate is closed: in open mode
// decide() forwards without looking at them. Host is the Host field, or for an
// HTTP/1.0 absolute-form request without one, the target's authority. Allocation-free;
// the result holds views into req, valid while req is.
policy::request_view make_request_view(const request_head& req, const view_facts& f) noexcept;

}  // namespace maintgate::proxy
