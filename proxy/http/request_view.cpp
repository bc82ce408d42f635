#include "proxy/http/request_view.hpp"

#include "proxy/http/forward.hpp"

namespace maintgate::proxy {

policy::request_view make_request_view(const http::request_header<>& req, const view_facts& f) noexcept {
    policy::request_view rv;
    rv.method = req.method_string();
    rv.target = req.target();
    if (auto it = req.find(http::field::host); it != req.end())
        rv.host = it->value();
    else  // HTTP/1.0 absolute-form: the host the request goes upstream with
        rv.host = target_authority(req.target());
    rv.peer = f.peer;
    rv.upgrade = wants_upgrade(req);
    if (policy::classify_method(rv.method) == policy::method_class::read || f.has_rules) {
        for (std::string_view name : method_override_fields)
            if (auto it = req.find(name); it != req.end()) {
                rv.method_override = it->value();
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
    if (f.mode != policy::mode::open) {
        if (auto it = req.find(http::field::cookie); it != req.end()) rv.cookie = it->value();
        if (auto it = req.find(f.bypass_header); it != req.end()) rv.bypass_header = it->value();
        rv.now = f.now;
    }
    return rv;
}

}  // namespace maintgate::proxy
