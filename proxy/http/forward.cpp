#include "proxy/http/forward.hpp"

#include <array>
#include <vector>

#include "policy/ascii.hpp"

namespace maintgate::proxy {

namespace {

constexpr std::string_view via_item = "1.1 maintgate";

using policy::iequals;
using policy::istarts_with;
using policy::trim_ows;

// The fields RFC 9110 7.6.1 and 9112 make hop-by-hop, plus HTTP2-Settings, which only
// means something next to an h2c upgrade.
constexpr std::array hop_by_hop{
    http::field::connection, http::field::keep_alive,     http::field::proxy_connection,
    http::field::te,         http::field::trailer,        http::field::transfer_encoding,
    http::field::upgrade,    http::field::http2_settings,
};

constexpr bool is_hop_by_hop(http::field f) noexcept {
    for (auto h : hop_by_hop)
        if (f == h) return true;
    return false;
}

// Calls fn with the value of every field called name (an id, or a name, ASCII case
// ignored), in order.
template <class Fn>
void for_each_value(const head_fields& fields, http::field id, Fn&& fn) {
    for (const auto& f : fields)
        if (f.name() == id) fn(f.value());
}
template <class Fn>
void for_each_value(const head_fields& fields, std::string_view name, Fn&& fn) {
    if (const auto id = http::string_to_field(name); id != http::field::unknown)
        return for_each_value(fields, id, std::forward<Fn>(fn));
    for (const auto& f : fields)
        if (f.name() == http::field::unknown && iequals(f.name_string(), name)) fn(f.value());
}

bool connection_has(const head_fields& fields, std::string_view token) noexcept {
    bool found = false;
    for_each_value(fields, http::field::connection, [&](std::string_view value) {
        for (auto t : http::token_list{value}) found = found || iequals(t, token);
    });
    return found;
}

// The names a Connection field lists that make other fields hop-by-hop too: not those
// that are hop-by-hop anyway ("keep-alive", "upgrade": the usual tokens, so the list is
// usually empty), and never Host or Content-Length (the request would change meaning or
// framing).
class connection_names {
public:
    explicit connection_names(const head_fields& fields) {
        for_each_value(fields, http::field::connection, [&](std::string_view value) {
            for (auto token : http::token_list{value}) {
                const std::string_view name = token;
                const auto known = http::string_to_field(name);
                if (known == http::field::host || known == http::field::content_length ||
                    is_hop_by_hop(known))
                    continue;
                if (count_ < inline_.size())
                    inline_[count_++] = name;
                else
                    more_.push_back(name);  // only a hostile or very odd client gets here
            }
        });
    }

    bool contains(std::string_view name) const noexcept {
        for (std::size_t i = 0; i < count_; ++i)
            if (iequals(inline_[i], name)) return true;
        for (auto n : more_)
            if (iequals(n, name)) return true;
        return false;
    }

    bool empty() const noexcept { return count_ == 0; }

private:
    std::array<std::string_view, 8> inline_;
    std::size_t count_ = 0;
    std::vector<std::string_view> more_;
};

void append_field(std::string& out, std::string_view name, std::string_view value) {
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
}

// Beast refuses (throws on) a field value of 64 KiB or more, and so may the next hop;
// a chain that long is not worth keeping.
constexpr std::size_t max_list_value = 32 * 1024;

// "name: v1, v2, item": every non-empty value the fields hold under name, as one list,
// so receivers that read only the first field still see all of it. extend false: the
// old values are not forwarded, only item.
template <class Name>
void append_list(std::string& out, const head_fields& fields, Name name, std::string_view spelling,
                 std::string_view item, bool extend) {
    std::size_t size = item.size();
    if (extend)
        for_each_value(fields, name, [&](std::string_view v) {
            if (!v.empty()) size += v.size() + 2;
        });
    out.append(spelling);
    out.append(": ");
    if (extend && size <= max_list_value)
        for_each_value(fields, name, [&](std::string_view v) {
            if (v.empty()) return;
            out.append(v);
            out.append(", ");
        });
    out.append(item);
    out.append("\r\n");
}

}  // namespace

std::string_view target_authority(std::string_view target) noexcept {
    std::string_view rest;
    if (istarts_with(target, "http://"))
        rest = target.substr(7);
    else if (istarts_with(target, "https://"))
        rest = target.substr(8);
    else
        return {};
    return rest.substr(0, rest.find_first_of("/?"));
}

bool wants_upgrade(const request_head& req) noexcept {
    // Upgrade is defined for HTTP/1.1 only; a 1.0 client's Upgrade is to be ignored.
    if (req.version() != 11) return false;
    bool any_protocol = false;
    bool h2c = false;
    for_each_value(req, http::field::upgrade, [&](std::string_view rest) {
        while (!rest.empty()) {
            const auto comma = rest.find(',');
            const std::string_view protocol = trim_ows(rest.substr(0, comma));
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
            if (protocol.empty()) continue;
            // "h2c" or "h2c/<version>": either way an HTTP/2 connection the rules
            // could not see into. Offered among others, the upstream might pick it.
            h2c = h2c || iequals(protocol.substr(0, protocol.find('/')), "h2c");
            any_protocol = true;
        }
    });
    return any_protocol && !h2c && connection_has(req, "upgrade");
}

void render_request_head(const request_head& req, const forward_context& ctx, const request_head_options& o,
                         std::string& out) {
    out.clear();
    out.append(req.method_string());
    out += ' ';

    // absolute-form ("http://host/path?q") goes as origin-form ("/path?q"); its
    // authority was already checked against Host by check_request_fields.
    std::string_view target = req.target();
    const std::string_view authority = target_authority(target);
    if (istarts_with(target, "http://") || istarts_with(target, "https://")) {
        target.remove_prefix(target.find("://") + 3 + authority.size());
        if (target.empty() || target.front() != '/') out += '/';
    }
    out.append(target);
    out.append(" HTTP/1.1\r\n");

    // Only a trusted proxy's claims about the client are kept; anyone else could
    // otherwise pick the address the app (and its rate limits) sees.
    const bool trusted = policy::any_contains(ctx.trusted_proxies, ctx.peer);
    const connection_names named(req);
    bool has_host = false;
    std::string_view client_host;
    bool forwarded_for = false;  // a trusted peer's X-Forwarded-For goes on, extended
    bool forwarded_proto = false;
    bool forwarded_host = false;
    bool via = false;
    for (const auto& f : req) {
        const auto id = f.name();
        const std::string_view name = f.name_string();
        if (is_hop_by_hop(id) && !(o.upgrade && id == http::field::upgrade)) continue;
        if (!named.empty() && id != http::field::host && id != http::field::content_length &&
            named.contains(name))
            continue;
        // The operator's secret is for the gate, never for the app's logs.
        if (!o.drop_field.empty() && iequals(name, o.drop_field)) continue;
        switch (id) {
        case http::field::host:
            has_host = true;
            client_host = f.value();
            if (!ctx.host_override.empty()) continue;
            break;
        case http::field::via:
            via = true;
            if (ctx.via) continue;  // appended to below
            break;
        case http::field::forwarded:
            if (!trusted)
                continue;  // another spelling of the same claim, which apps behind nginx often trust
            break;
        case http::field::expect:
            if (o.drop_expect) continue;
            break;
        case http::field::accept_encoding:
            if (o.identity) continue;  // appended below
            break;
        case http::field::unknown:
            if (iequals(name, "X-Forwarded-For")) {
                forwarded_for = trusted;
                continue;  // appended to or replaced below
            }
            if (iequals(name, "X-Forwarded-Proto")) {
                if (!trusted) continue;
                forwarded_proto = true;
            } else if (iequals(name, "X-Forwarded-Host")) {
                if (!trusted) continue;
                forwarded_host = true;
            } else if (iequals(name, "X-Real-IP")) {
                if (!trusted) continue;
            }
            break;
        default: break;
        }
        append_field(out, name, f.value());
    }

    if (o.upgrade) append_field(out, "Connection", "upgrade");
    // An HTTP/1.0 client may send no Host; the target's authority is then the host.
    if (!has_host) client_host = authority;
    if (!ctx.host_override.empty())
        append_field(out, "Host", ctx.host_override);
    else if (!has_host && !(authority.empty() && o.default_host.empty()))
        append_field(out, "Host", !authority.empty() ? authority : o.default_host);

    std::string peer_fallback;
    std::string_view peer = ctx.peer_text;
    if (peer.empty()) {
        peer_fallback = ctx.peer.to_string();
        peer = peer_fallback;
    }
    append_list(out, req, "X-Forwarded-For", "X-Forwarded-For", peer, forwarded_for);
    if (!forwarded_proto) append_field(out, "X-Forwarded-Proto", ctx.tls ? "https" : "http");
    // The name the client used, whatever host_override sends the app.
    if (!forwarded_host && !client_host.empty()) append_field(out, "X-Forwarded-Host", client_host);
    if (ctx.via) append_list(out, req, http::field::via, "Via", via_item, via);
    if (o.chunked) append_field(out, "Transfer-Encoding", "chunked");
    // The banner goes into the page as it streams: ask for it uncompressed.
    if (o.identity) append_field(out, "Accept-Encoding", "identity");
    out.append("\r\n");
}

void render_response_head(const response_head& res, const response_head_options& o, std::string& out) {
    out.clear();
    out.append("HTTP/1.1 ");
    const unsigned code = res.result_int();  // three digits: the parser checked
    out += static_cast<char>('0' + code / 100 % 10);
    out += static_cast<char>('0' + code / 10 % 10);
    out += static_cast<char>('0' + code % 10);
    out += ' ';
    std::string_view reason = res.reason();
    out.append(reason.empty() ? std::string_view(http::obsolete_reason(res.result())) : reason);
    out.append("\r\n");

    const connection_names named(res);
    bool via = false;
    bool app_hsts = false;
    for (const auto& f : res) {
        const auto id = f.name();
        const std::string_view name = f.name_string();
        if (is_hop_by_hop(id) && !(o.upgrade && id == http::field::upgrade)) continue;
        if (!named.empty() && id != http::field::content_length && named.contains(name)) continue;
        if (id == http::field::via) {
            via = true;
            if (o.via) continue;  // appended to below
        } else if (id == http::field::strict_transport_security) {
            app_hsts = true;  // the app's own wins
        } else if (!o.mode.empty() && id == http::field::unknown && iequals(name, "X-Maintgate-Mode")) {
            continue;  // the gate says its mode, the app cannot
        }
        append_field(out, name, f.value());
    }
    if (o.upgrade)
        append_field(out, "Connection", "upgrade");
    else if (!o.connection.empty())
        append_field(out, "Connection", o.connection);
    if (o.via) append_list(out, res, http::field::via, "Via", via_item, via);
    if (o.chunked) append_field(out, "Transfer-Encoding", "chunked");
    if (!o.mode.empty()) append_field(out, "X-Maintgate-Mode", o.mode);
    if (!o.hsts.empty() && !app_hsts) append_field(out, "Strict-Transport-Security", o.hsts);
    out.append("\r\n");
}

}  // namespace maintgate::proxy
