// The decide step: what to do with a request whose head was read, before anything of
// it is forwarded.
//
// When it runs: after read_head returned next_request. In order:
// - the underscore policy (forwarding.underscores_in_headers), before anything reads the
//   fields: a dropped X_HTTP_Method_Override is seen by neither the gate nor the app;
// - on a plain listener with redirect_https, the redirect (301 for reads, 308 otherwise,
//   which keeps the method and body), unless the path is one of redirect_except: a
//   redirect listener serves nothing but redirects, and the gate applies on the HTTPS
//   side;
// - the gate: the worker's snapshot is read once, make_request_view() builds the policy
//   input (a pure function: request_view.hpp), policy::decide() judges it, and a
//   forwarded request is counted in flight (as a read or a write). Nothing suspends
//   between reading the snapshot, deciding and counting: once a worker has taken a new
//   snapshot (and acknowledged it), every write forwarded under the old one is already
//   counted, which is what lets freeze wait for exactly those.
//
// - the banner's assets (/.maintgate/banner.css, banner.js: session_banner.cpp), served
//   here in every mode, before the gate; and while a window notice is present, the
//   banner's request side for a forwarded request (one pointer test otherwise).
//
// decide() itself never suspends; answer() writes what it found.
//
// Outcomes: kind::none: forward it (forward_request runs next, the request in flight);
// otherwise answer() sends the local answer (reply.cpp: the 503 page or refusal, the
// status endpoint, the bypass cookie, a 405; a 400 for underscores; a redirect) and
// returns the step after it.
#include "policy/ascii.hpp"
#include "proxy/http/request_view.hpp"
#include "proxy/http/session_io.hpp"

namespace maintgate::proxy {
namespace {

// The path and query as the client asked; an absolute-form target names the host too.
std::string_view redirect_target(std::string_view target) noexcept {
    if (policy::istarts_with(target, "http://") || policy::istarts_with(target, "https://")) {
        target.remove_prefix(target.find("://") + 3);
        const auto path = target.find_first_of("/?");
        target = path == std::string_view::npos ? std::string_view{} : target.substr(path);
    }
    if (target.empty() || target.front() != '/') target = "/";  // "*" or an authority alone
    return target;
}

}  // namespace

template <class Stream>
typename client_session<Stream>::local_answer client_session<Stream>::decide() noexcept {
    auto& req = req_->get();
    client_version_ = req.version();
    client_keep_alive_ = req_->keep_alive();
    // Before anything reads the fields: a dropped X_HTTP_Method_Override is seen by
    // neither the gate nor the app.
    const auto underscore_policy = cfg_->forwarding.underscores_in_headers;
    const auto underscores = apply_underscore_policy(req, underscore_policy);
    if (underscores.error)
        return {local_answer::kind::error, underscores.error.status, underscores.error.detail, {}};

    if constexpr (!is_tls) {
        // Before the gate: a redirect listener serves nothing but redirects.
        if (cfg_->listeners[listener_].redirect_https && !redirect_excepted())
            return {local_answer::kind::redirect};
    }

    // The banner's assets are maintgate's own, in every mode (session_banner.cpp).
    refresh_gate();
    // The banner's assets are maintgate's own, in every mode (session_banner.cpp).
    if (cfg_->banner.enabled) [[likely]] {
        if (const int asset = banner_asset(); asset >= 0) [[unlikely]] {
            if (req.method() != http::verb::get && req.method() != http::verb::head)
                return {local_answer::kind::error, 405, "banner assets are GET only", {}};
            return {local_answer::kind::asset, static_cast<unsigned>(asset)};
        }
    }

    // The gate: no suspension from here to begin_in_flight (see the file's comment).
    const auto d = judge(underscores.fields);
    ctx_.stats().decisions[static_cast<std::size_t>(gate_mode_)][static_cast<std::size_t>(d.what)].inc();
    if (d.what != policy::verdict::forward) [[unlikely]] {
        // A freeze that holds writes ([hold], hold.cpp): the write waits in this session
        // instead of its 503; it is not in flight. Upgrades are never held.
        if (d.what == policy::verdict::refuse_write && gate_->record.hold && !upgrade_) {
            held_underscores_ = underscores.fields;
            return {local_answer::kind::hold, 0, nullptr, d};
        }
        return {local_answer::kind::gate, 0, nullptr, d};
    }
    begin_in_flight(d.write);
    return {};
}

template <class Stream>
policy::decision client_session<Stream>::judge(std::size_t underscore_fields) noexcept {
    refresh_gate();
    const gate_snapshot& gate = *gate_;
    gate_mode_ = gate.record.mode;
    view_facts facts;
    facts.peer = peer_;
    facts.mode = gate_mode_;
    if (gate_mode_ != policy::mode::open)
        facts.now = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    facts.underscores = cfg_->forwarding.underscores_in_headers;
    facts.underscore_fields = underscore_fields;
    facts.bypass_header = cfg_->gate.policy.bypass_header;
    facts.has_rules = !cfg_->gate.policy.rules.empty();
    const policy::request_view rv = make_request_view(req_->get(), facts);
    upgrade_ = rv.upgrade;  // looked up once: the gate and the exchange both need it
    const auto d = policy::decide(gate.record.view(), cfg_->gate.policy, rv);
    // A maintenance window is announced or under way: the banner's request side.
    if (gate.notice && d.what == policy::verdict::forward) [[unlikely]]
        plan_banner_for(rv);
    return d;
}

template <class Stream>
net::awaitable<session_base::step> client_session<Stream>::answer(const local_answer& a) {
    switch (a.what) {
    case local_answer::kind::error: co_return co_await reply(a.status, a.detail);
    case local_answer::kind::redirect: co_return co_await redirect_to_https();
    case local_answer::kind::gate:
        if (const webhook_spool* w = spool_rule(a.verdict)) co_return co_await spool_request(*w);
        co_return co_await gate_reply(a.verdict);
    case local_answer::kind::asset: co_return co_await write_rendered(gate_->banner_assets[a.status], 200);
    case local_answer::kind::hold: co_return co_await hold_write();
    case local_answer::kind::none: break;
    }
    co_return step::close;  // not reached: decide() forwards those
}

template <class Stream>
bool client_session<Stream>::redirect_excepted() const noexcept {
    const std::string_view target = redirect_target(req_->get().target());
    const std::string_view path = target.substr(0, target.find('?'));
    for (const auto& except : cfg_->listeners[listener_].redirect_except) {
        if (path == except || (except.back() == '/' && path.starts_with(except))) return true;
    }
    return false;
}

template <class Stream>
net::awaitable<session_base::step> client_session<Stream>::redirect_to_https() {
    const auto& l = cfg_->listeners[listener_];
    auto& req = req_->get();
    const std::string_view target = redirect_target(req.target());

    // Rare next to the proxied traffic (a browser follows it once, then remembers it), so
    // building the reply here is fine.
    std::string location;
    if (!l.redirect_to.empty()) {
        location = l.redirect_to;
    } else {
        auto host = req.find(http::field::host);
        if (host == req.end() || host->value().empty())
            co_return co_await reply(400, "no Host to redirect to HTTPS");
        // The name without the client's port: the HTTPS listener has its own.
        std::string_view name = host->value();
        if (name.front() == '[')
            name = name.substr(0, name.find(']') + 1);
        else
            name = name.substr(0, name.find(':'));
        location = "https://" + std::string(name);
        if (const auto port = ctx_.https_port(); port != 443) location += ":" + std::to_string(port);
    }
    location += target;

    // 301 may turn a POST into a GET in browsers; 308 keeps the method and body.
    const bool read = retryable_method(req.method());
    rendered_reply r;
    r.body = "This site is served over HTTPS: " + location + "\n";
    r.head = std::string(read ? "HTTP/1.1 301 Moved Permanently" : "HTTP/1.1 308 Permanent Redirect") +
             "\r\nLocation: " + location + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
             std::to_string(r.body.size()) + "\r\n";
    co_return co_await write_rendered(r, read ? 301 : 308);
}

template client_session<tcp::socket>::local_answer client_session<tcp::socket>::decide() noexcept;
template client_session<tls_client_stream>::local_answer client_session<tls_client_stream>::decide() noexcept;
template policy::decision client_session<tcp::socket>::judge(std::size_t) noexcept;
template policy::decision client_session<tls_client_stream>::judge(std::size_t) noexcept;
template net::awaitable<session_base::step> client_session<tcp::socket>::answer(const local_answer&);
template net::awaitable<session_base::step> client_session<tls_client_stream>::answer(const local_answer&);
template bool client_session<tcp::socket>::redirect_excepted() const noexcept;
template bool client_session<tls_client_stream>::redirect_excepted() const noexcept;
template net::awaitable<session_base::step> client_session<tcp::socket>::redirect_to_https();
template net::awaitable<session_base::step> client_session<tls_client_stream>::redirect_to_https();

}  // namespace maintgate::proxy
