#include "proxy/forward.hpp"

#include <array>
#include <cstring>
#include <string>

#include "policy/ascii.hpp"

namespace maintgate::proxy {

namespace {

constexpr std::string_view via_value = "1.1 maintgate";

using policy::ascii_lower;
using policy::iequals;
using policy::istarts_with;
using policy::trim_ows;

// The fields RFC 9110 7.6.1 and 9112 make hop-by-hop, plus HTTP2-Settings, which only
// means something next to an h2c upgrade.
constexpr std::array hop_by_hop{
    http::field::connection,       http::field::keep_alive, http::field::proxy_connection,
    http::field::te,               http::field::trailer,    http::field::transfer_encoding,
    http::field::upgrade,          http::field::http2_settings,
};

constexpr bool is_hop_by_hop(http::field f) noexcept
{
    for (auto h : hop_by_hop)
        if (f == h)
            return true;
    return false;
}

// Calls fn with the value of every field called name, in order.
template <class Name, class Fn>
void for_each_value(const http::fields& fields, Name name, Fn&& fn)
{
    const auto [first, last] = fields.equal_range(name);
    for (auto it = first; it != last; ++it)
        fn(it->value());
}

bool connection_has(const http::fields& fields, std::string_view token) noexcept
{
    bool found = false;
    for_each_value(fields, http::field::connection, [&](std::string_view value) {
        for (auto t : http::token_list{value})
            found = found || iequals(t, token);
    });
    return found;
}

// The fields a Connection header names are hop-by-hop too. Host and Content-Length are
// never dropped (the request would change meaning or framing), and the fixed hop-by-hop
// set is left to the caller, which may keep Upgrade.
void erase_connection_named(http::fields& fields)
{
    // Not an equal_range loop: its end is the field after the last Connection, which
    // may be one of those erased. Connection fields themselves are never erased here
    // and Beast keeps same-name fields adjacent, so stepping from one stays valid.
    for (auto it = fields.find(http::field::connection);
         it != fields.end() && it->name() == http::field::connection; ++it) {
        for (auto name : http::token_list{it->value()}) {
            const auto known = http::string_to_field(name);
            if (known == http::field::host || known == http::field::content_length
                || is_hop_by_hop(known))
                continue;
            fields.erase(name);
        }
    }
}

void erase_hop_by_hop(http::fields& fields, bool upgrade)
{
    erase_connection_named(fields);
    for (auto f : hop_by_hop) {
        if (upgrade && f == http::field::upgrade)
            continue;
        fields.erase(f);
    }
    if (upgrade)
        fields.set(http::field::connection, "upgrade");
}

// Builds a field value on the stack when it fits (the common case), on the heap when
// it does not.
class value_builder {
public:
    explicit value_builder(std::size_t size)
    {
        if (size > stack_.size()) {
            heap_.resize(size);
            data_ = heap_.data();
        } else {
            data_ = stack_.data();
        }
    }
    value_builder(const value_builder&) = delete;
    value_builder& operator=(const value_builder&) = delete;

    void append(std::string_view s) noexcept
    {
        if (s.empty())
            return;  // an empty view may hold a null pointer, which memcpy may not take
        std::memcpy(data_ + size_, s.data(), s.size());
        size_ += s.size();
    }
    std::string_view view() const noexcept { return {data_, size_}; }

private:
    std::array<char, 512> stack_;
    std::string heap_;
    char* data_ = nullptr;
    std::size_t size_ = 0;
};

// Beast refuses (throws) a field value of 64 KiB or more; a chain that long is not
// worth keeping.
constexpr std::size_t max_list_value = 32 * 1024;

// Appends item to the list every field named name holds, as one field: receivers that
// read only the first field still see the whole list.
void append_to_list(http::fields& fields, std::string_view name, std::string_view item)
{
    std::size_t size = item.size();
    for_each_value(fields, name, [&](std::string_view v) {
        if (!v.empty())
            size += v.size() + 2;
    });
    if (size > max_list_value) {
        fields.set(name, item);
        return;
    }
    value_builder value(size);
    for_each_value(fields, name, [&](std::string_view v) {
        if (v.empty())
            return;
        value.append(v);
        value.append(", ");
    });
    value.append(item);
    fields.set(name, value.view());
}

// absolute-form ("http://host/path?q") to origin-form ("/path?q"); the authority was
// already checked against Host by check_request_fields.
void to_origin_form(http::request_header<>& req)
{
    const std::string_view target = req.target();
    std::string_view rest;
    if (istarts_with(target, "http://"))
        rest = target.substr(7);
    else if (istarts_with(target, "https://"))
        rest = target.substr(8);
    else
        return;
    const auto path_begin = rest.find_first_of("/?");
    const std::string_view authority = rest.substr(0, path_begin);
    const std::string_view path =
        path_begin == std::string_view::npos ? std::string_view{} : rest.substr(path_begin);

    // An HTTP/1.0 client may send no Host; the target's authority is then the host.
    if (req.find(http::field::host) == req.end() && !authority.empty())
        req.set(http::field::host, authority);

    if (!path.empty() && path.front() == '/') {
        // Beast copies the new target before freeing the old one, so a view into it is safe.
        req.target(path);
        return;
    }
    value_builder origin(1 + path.size());
    origin.append("/");
    origin.append(path);
    req.target(origin.view());
}

}  // namespace

bool wants_upgrade(const http::request_header<>& req) noexcept
{
    // Upgrade is defined for HTTP/1.1 only; a 1.0 client's Upgrade is to be ignored.
    if (req.version() != 11)
        return false;
    bool any_protocol = false;
    bool h2c = false;
    for_each_value(req, http::field::upgrade, [&](std::string_view rest) {
        while (!rest.empty()) {
            const auto comma = rest.find(',');
            const std::string_view protocol = trim_ows(rest.substr(0, comma));
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
            if (protocol.empty())
                continue;
            // "h2c" or "h2c/<version>": either way an HTTP/2 connection the rules
            // could not see into. Offered among others, the upstream might pick it.
            h2c = h2c || iequals(protocol.substr(0, protocol.find('/')), "h2c");
            any_protocol = true;
        }
    });
    return any_protocol && !h2c && connection_has(req, "upgrade");
}

void transform_request(http::request_header<>& req, const forward_context& ctx, bool upgrade)
{
    erase_hop_by_hop(req, upgrade);
    to_origin_form(req);

    // Only a trusted proxy's claims about the client are kept; anyone else could
    // otherwise pick the address the app (and its rate limits) sees.
    const bool trusted = policy::any_contains(ctx.trusted_proxies, ctx.peer);
    std::string peer_fallback;
    std::string_view peer = ctx.peer_text;
    if (peer.empty()) {
        peer_fallback = ctx.peer.to_string();
        peer = peer_fallback;
    }
    if (trusted) {
        append_to_list(req, "X-Forwarded-For", peer);
    } else {
        req.set("X-Forwarded-For", peer);
        // Other spellings of the same claim, which apps behind nginx often trust.
        req.erase(http::field::forwarded);
        req.erase("X-Real-IP");
    }

    if (!trusted || req.find("X-Forwarded-Proto") == req.end())
        req.set("X-Forwarded-Proto", ctx.tls ? "https" : "http");

    if (!trusted || req.find("X-Forwarded-Host") == req.end()) {
        // Taken before host_override replaces Host: the app wants the name the client used.
        const auto host = req.find(http::field::host);
        if (host != req.end())
            req.set("X-Forwarded-Host", host->value());
        else
            req.erase("X-Forwarded-Host");
    }

    if (ctx.via)
        append_to_list(req, "Via", via_value);
    if (!ctx.host_override.empty())
        req.set(http::field::host, ctx.host_override);
    req.version(11);
}

void transform_response(http::response_header<>& res, bool via, bool upgrade)
{
    erase_hop_by_hop(res, upgrade);
    if (via)
        append_to_list(res, "Via", via_value);
}

}  // namespace maintgate::proxy
