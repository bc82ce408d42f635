// [[listener]]: where clients connect, and whether a plain listener sends them to HTTPS.
// The HTTPS keys are read in tls.cpp.
#include "proxy/config/listener.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include "policy/ascii.hpp"
#include "proxy/config/address.hpp"
#include "proxy/config/text.hpp"

namespace maintgate::config_detail {

namespace {

// A path a plain listener keeps serving instead of redirecting: the path part of the
// request-target, so no query, fragment, spaces or control bytes.
std::string redirect_path_problem(std::string_view text) {
    if (text.empty() || text.front() != '/') return "must start with \"/\"";
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c >= 0x7f) return "must be visible ASCII without spaces";
        if (c == '?' || c == '#') return "must not contain '?' or '#': it is compared with the path alone";
    }
    return {};
}

void read_address(loader& l, const scope& s, std::string_view key, listener_draft& d) {
    const toml::node* node = s.table.get(key);
    if (!node) {
        l.fail(s.table, "missing required key " + quote(key) + " in " + s.path);
        return;
    }
    const std::string* address = l.string_value(s, key, "a string such as \"127.0.0.1:8080\"");
    if (!address) return;
    auto parsed = parse_listen_address(*address);
    if (!parsed.error.empty()) {
        l.fail(*node, s.name(key) + ": " + parsed.error);
        return;
    }
    d.address_ok = true;
    d.address = node;
    d.address_name = s.name(key);
    d.identity = std::move(parsed.identity);
    d.l.address = *address;
    d.l.host = std::move(parsed.host);
    d.l.port = parsed.port;
}

// Read after the TLS keys (row order): an HTTPS listener cannot redirect.
void read_redirect_https(loader& l, const scope& s, std::string_view key, listener_draft& d) {
    const toml::node* node = s.table.get(key);
    if (!node) return;
    d.redirect = node;
    if (d.https()) {
        l.fail(*node,
               s.name(key) + ": an HTTPS listener cannot redirect to HTTPS; set it on a plain listener");
        d.redirect_ok = false;
    } else if (const auto* b = node->as_boolean()) {
        d.l.redirect_https = b->get();
    } else if (const auto* text = node->as_string()) {
        const std::string& url = text->get();
        auto parsed = parse_upstream_url(url, "the redirect URL");
        if (url.size() < 8 || !policy::iequals(std::string_view(url).substr(0, 8), "https://")) {
            l.fail(*node, s.name(key) + ": " + quote(url) +
                              " is not an https:// URL; use true, or "
                              "a URL such as \"https://example.com\"");
            d.redirect_ok = false;
        } else if (!parsed.error.empty()) {
            l.fail(*node, s.name(key) + ": " + parsed.error);
            d.redirect_ok = false;
        } else {
            d.l.redirect_https = true;
            // The request's own path and query follow the authority.
            std::string_view authority = std::string_view(url).substr(8);
            authority = authority.substr(0, authority.find('/'));
            d.l.redirect_to = "https://" + std::string(authority);
        }
    } else {
        l.fail(*node, s.name(key) + ": expected true or a URL such as \"https://example.com\", got " +
                          describe(*node));
        d.redirect_ok = false;
    }
}

// Read after redirect_https (row order).
void read_redirect_except(loader& l, const scope& s, std::string_view key, listener_draft& d) {
    const toml::node* node = s.table.get(key);
    if (!node) return;
    if (!d.l.redirect_https) {
        if (d.redirect_ok) l.fail(*node, s.name(key) + ": only a listener with redirect_https takes this");
        return;
    }
    const auto* array = node->as_array();
    if (!array) {
        l.fail(*node,
               s.name(key) + ": expected an array of paths such as [\"/healthz\"], got " + describe(*node));
        return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& e = (*array)[i];
        const std::string epath = s.name(key) + "[" + std::to_string(i) + "]";
        const auto* text = e.as_string();
        if (!text) {
            l.fail(e, epath + ": expected a path such as \"/healthz\", got " + describe(e));
            continue;
        }
        if (auto problem = redirect_path_problem(text->get()); !problem.empty())
            l.fail(e, epath + ": " + quote(text->get()) + " " + problem);
        else
            d.l.redirect_except.push_back(text->get());
    }
}

constexpr field<listener_draft> listener_fields[] = {
    {"address", read_address},
    {"tls_cert", read_tls_cert},
    {"tls_key", read_tls_key},
    {"sni", read_sni, key_kind::table_array},
    {"tls_ciphers", read_tls_ciphers},
    {"tls_ciphersuites", read_tls_ciphersuites},
    {"tls_min_version", read_tls_min_version},
    {"hsts", read_hsts},
    {"redirect_https", read_redirect_https},
    {"redirect_except", read_redirect_except},
};

}  // namespace

void load_listeners(loader& l, const scope& top, std::string_view key, config& cfg) {
    const std::string name(key);
    const std::string required = "at least one [[" + name + "]] is required";
    const toml::node* node = top.table.get(key);
    if (!node) {
        l.fail_document(required);
        return;
    }
    const auto* array = node->as_array();
    if (!array) {
        l.fail(*node, name + ": expected an array of tables ([[" + name + "]]), got " + describe(*node));
        return;
    }
    if (array->empty()) {
        l.fail(*node, required);
        return;
    }

    // Identity -> index of the first listener that used it.
    std::vector<std::pair<std::string, std::size_t>> seen;
    std::vector<const toml::node*> redirect_to_own_port;
    bool any_https = false;
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = (*array)[i];
        const std::string path = name + "[" + std::to_string(i) + "]";
        const auto* t = element.as_table();
        if (!t) {
            l.fail(element, path + ": expected a table ([[" + name + "]]), got " + describe(element));
            continue;
        }
        const scope s{*t, path};
        listener_draft d;
        l.read_fields(s, listener_fields, "in " + path, d);
        check_listener_tls(l, s, d);
        if (d.l.redirect_https && d.l.redirect_to.empty()) redirect_to_own_port.push_back(d.redirect);
        any_https = any_https || d.https();
        if (!d.address_ok) continue;

        // Port 0 is exempt: each such listener gets its own kernel-chosen port.
        if (d.l.port != 0) {
            const auto earlier = std::find_if(seen.begin(), seen.end(),
                                              [&](const auto& entry) { return entry.first == d.identity; });
            if (earlier != seen.end()) {
                l.fail(*d.address, d.address_name + ": " + quote(d.l.address) + " is already used by " +
                                       name + "[" + std::to_string(earlier->second) + "]");
                continue;
            }
            seen.emplace_back(d.identity, i);
        }
        cfg.listeners.push_back(std::move(d.l));
    }
    // `redirect_https = true` sends clients to this server's own HTTPS port.
    if (!any_https) {
        for (const toml::node* n : redirect_to_own_port)
            l.fail(
                *n,
                "redirect_https: true needs an HTTPS listener (one with tls_cert) in this file; otherwise give "
                "the URL, such as \"https://example.com\"");
    }
}

}  // namespace maintgate::config_detail
