#include "proxy/http/request_view.hpp"

#include <array>
#include <iterator>

#include "policy/ascii.hpp"

#include "proxy/http/forward.hpp"

namespace maintgate::proxy {

policy::request_view make_request_view(const request_head& req, const view_facts& f) noexcept {
    policy::request_view rv;
    rv.method = req.method_string();
    rv.target = req.target();
    rv.peer = f.peer;
    const bool want_override =
        policy::classify_method(rv.method) == policy::method_class::read || f.has_rules;
    const bool closed = f.mode != policy::mode::open;

    // One walk over the fields in their order, instead of a lookup per name (each a
    // scan of the table, comparing names for the unknown ones): the first Host, Cookie
    // and bypass field, the first field of each override name, and whether an Upgrade
    // field is there at all. The first in order is what find() returns too.
    constexpr std::size_t n_overrides = std::size(method_override_fields);
    std::array<const head_field*, n_overrides> overrides{};
    const head_field* host = nullptr;
    const head_field* cookie = nullptr;
    const head_field* bypass = nullptr;
    bool upgrade_field = false;
    for (const auto& field : req) {
        switch (field.name()) {
        case http::field::host:
            if (!host) host = &field;
            break;
        case http::field::cookie:
            if (!cookie) cookie = &field;
            break;
        case http::field::upgrade: upgrade_field = true; break;
        default: break;
        }
        const std::string_view name = field.name_string();
        if (want_override)
            for (std::size_t i = 0; i < n_overrides; ++i)
                if (!overrides[i] && policy::iequals(name, method_override_fields[i])) overrides[i] = &field;
        if (closed && !bypass && policy::iequals(name, f.bypass_header)) bypass = &field;
    }

    // Without Host (HTTP/1.0, absolute-form): the host the request goes upstream with.
    rv.host = host ? std::string_view(host->value()) : target_authority(req.target());
    rv.upgrade = upgrade_field && wants_upgrade(req);
    if (want_override) {
        for (const auto* o : overrides)  // the first name present wins
            if (o) {
                rv.method_override = o->value();
                break;
            }
        if (f.underscore_fields != 0 && f.underscores == underscores_policy::forward) {
            for (std::string_view name : method_override_fields) {
                const std::string_view alias = find_underscore_alias(req, name);
                if (!alias.empty() &&
                    (rv.method_override.empty() ||
                     policy::classify_method(rv.method_override) == policy::method_class::read))
                    rv.method_override = alias;
            }
        }
    }
    if (closed) {
        if (cookie) rv.cookie = cookie->value();
        if (bypass) rv.bypass_header = bypass->value();
        rv.now = f.now;
    }
    return rv;
}

}  // namespace maintgate::proxy
