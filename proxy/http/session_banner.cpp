// The session's side of the maintenance window's banner (proxy/http/banner.hpp says what
// gets it and why; banner_inject.hpp how it goes in).
//
// When it runs: decide() serves /.maintgate/banner.css and banner.js itself, in every
// mode, before the gate (banner_asset), and, for a forwarded request while the snapshot
// carries a window notice, makes the request-side plan (plan_banner_for: one pointer
// test otherwise). forward_request asks the upstream for identity on a `page` plan.
// relay_response calls start_banner only when a plan was made: it decides from the
// response head whether this body gets the banner (then the stale Content-Length goes,
// the body is chunked for HTTP/1.1 and close-delimited for HTTP/1.0), or, for an API
// client, adds the Maintgate-Window field. end_banner counts how it ended.
//
// Nothing here allocates per request: the fragment and the field were rendered when the
// notice was published (worker_context::banner), and the session only holds a reference.
#include "policy/ascii.hpp"
#include "proxy/http/session_io.hpp"

namespace maintgate::proxy {

template <class Stream>
int client_session<Stream>::banner_asset() const noexcept {
    std::string_view target = req_->get().target();
    if (!target.starts_with("/.maintgate/banner.")) return -1;
    target = target.substr(0, target.find('?'));
    if (target == banner_css_path) return 0;
    if (target == banner_js_path) return 1;
    return -1;
}

template <class Stream>
void client_session<Stream>::plan_banner_for(const policy::request_view& rv) noexcept {
    const auto& b = ctx_.banner();
    if (!b || !cfg_->banner.enabled) return;
    const auto& req = req_->get();
    if (req.method() == http::verb::head) return;  // no body to put it in, none to announce with
    auto field = [&](http::field f) {
        auto it = req.find(f);
        return it == req.end() ? std::string_view{} : std::string_view(it->value());
    };
    banner_request br;
    const auto dest = req.find("Sec-Fetch-Dest");
    br.has_sec_fetch_dest = dest != req.end();
    if (br.has_sec_fetch_dest) br.sec_fetch_dest = dest->value();
    br.accept = field(http::field::accept);
    br.cookie = field(http::field::cookie);  // rv.cookie is filled only when the gate needs it
    br.path = rv.target.substr(0, rv.target.find('?'));
    const auto& off = cfg_->banner.route_off;
    const bool route_off = !off.rules.empty() && policy::match_rule(off, rv) >= 0;
    const banner_decision d = plan_banner(br, cfg_->banner, b->cookie_name, route_off);
    if (d.skip) ctx_.stats().banner_skipped[static_cast<std::size_t>(*d.skip)].inc();
    banner_plan_ = d.plan;
    if (d.plan == banner_plan::api || d.plan == banner_plan::page) banner_ = b;
}

template <class Stream>
bool client_session<Stream>::start_banner(bool no_body) noexcept {
    // Before the head is rendered: an injected body changes its framing.
    if (banner_plan_ != banner_plan::page) return false;
    const auto& res = res_->get();
    banner_response r;
    r.status = res.result_int();
    r.has_body = !no_body;
    auto ct = res.find(http::field::content_type);
    if (ct != res.end()) r.content_type = ct->value();
    for (const auto& f : res) {
        if (f.name() == http::field::cache_control)
            r.no_transform = r.no_transform || names_no_transform(f.value());
        else if (f.name() == http::field::content_encoding)
            r.encoded = r.encoded || !is_identity_encoding(f.value());
    }
    if (const auto skip = check_response(r)) {
        ctx_.stats().banner_skipped[static_cast<std::size_t>(*skip)].inc();
        banner_plan_ = banner_plan::skipped;
        return false;
    }
    injector_.reset(banner_->fragment);
    return true;
}

template <class Stream>
void client_session<Stream>::end_banner() noexcept {
    // A body relayed in full with the injector at work: did it find <body>?
    if (banner_plan_ != banner_plan::page) return;
    if (injector_.state() == banner_injector::outcome::inserted)
        ctx_.stats().banners_inserted.inc();
    else
        ctx_.stats().banner_skipped[static_cast<std::size_t>(banner_skip::no_body_tag)].inc();
}

template <class Stream>
void client_session<Stream>::edit_head_for_banner(bool inject) noexcept {
    // head_out_ ends with the blank line; fields are "Name: value\r\n", names as the
    // upstream spelled them.
    if (inject) {
        std::size_t at = 0;
        for (;;) {
            at = head_out_.find("\r\n", at);
            if (at == std::string::npos || at + 2 >= head_out_.size()) break;
            const std::size_t line = at + 2;
            const std::size_t end = head_out_.find("\r\n", line);
            if (end == std::string::npos) break;
            constexpr std::string_view name = "content-length:";
            if (end - line >= name.size() && policy::iequals(std::string_view(head_out_).substr(line, name.size()), name))
                head_out_.erase(line, end + 2 - line);
            else
                at = end;
        }
    } else if (banner_plan_ == banner_plan::api) {
        // Capacity reused from the previous heads: no allocation once warm.
        head_out_.insert(head_out_.size() - 2, banner_->window_field);
    }
}

template int client_session<tcp::socket>::banner_asset() const noexcept;
template int client_session<tls_client_stream>::banner_asset() const noexcept;
template void client_session<tcp::socket>::plan_banner_for(const policy::request_view&) noexcept;
template void client_session<tls_client_stream>::plan_banner_for(const policy::request_view&) noexcept;
template bool client_session<tcp::socket>::start_banner(bool) noexcept;
template bool client_session<tls_client_stream>::start_banner(bool) noexcept;
template void client_session<tcp::socket>::end_banner() noexcept;
template void client_session<tls_client_stream>::end_banner() noexcept;
template void client_session<tcp::socket>::edit_head_for_banner(bool) noexcept;
template void client_session<tls_client_stream>::edit_head_for_banner(bool) noexcept;

}  // namespace maintgate::proxy
