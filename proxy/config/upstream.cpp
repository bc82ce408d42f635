// [upstream]: the one app behind the gate, its pool, and TLS to it for https:// URLs.
#include "proxy/config/loader.hpp"

#include <algorithm>
#include <utility>

#include "policy/ascii.hpp"
#include "proxy/config/address.hpp"
#include "proxy/config/text.hpp"

namespace maintgate::config_detail {

namespace {

struct upstream_draft {
    upstream_config& out;
    // Judged by the URL's text, so a mistake elsewhere in it does not also make the TLS
    // keys errors.
    bool https = false;
    const toml::node* ca_file = nullptr;  // for the post pass
    std::string_view ca_file_key;
};

void read_url(loader& l, const scope& s, std::string_view key, upstream_draft& d) {
    const toml::node* node = s.table.get(key);
    d.https = node && node->is_string() && policy::istarts_with(node->as_string()->get(), "https://");
    if (!node) {
        l.fail(s.table, "missing required key " + quote(key) + " in [" + s.path + "]");
    } else if (const std::string* url =
                   l.string_value(s, key, "a string such as \"http://127.0.0.1:3000\"")) {
        auto parsed = parse_upstream_url(*url);
        if (!parsed.error.empty()) {
            l.fail(*node, s.name(key) + ": " + parsed.error);
        } else {
            d.out.url = *url;
            d.out.host = std::move(parsed.host);
            d.out.port = parsed.port;
            d.out.tls = parsed.tls;
            d.out.tls_where = l.position(*node);
        }
    }
}

void read_host_header(loader& l, const scope& s, std::string_view key, upstream_draft& d) {
    if (const std::string* host = l.string_value(s, key, "a string such as \"app.example.com\"")) {
        // The value goes verbatim into a request head: a space, CR or LF would let the
        // config split or smuggle headers.
        if (is_visible_ascii(*host))
            d.out.host_header = *host;
        else
            l.fail(*s.table.get(key), s.name(key) + ": " + quote(*host) +
                                          " is not a valid Host header value (no spaces, control or "
                                          "non-ASCII characters)");
    }
}

template <auto Member>
void read_timeout(loader& l, const scope& s, std::string_view key, upstream_draft& d) {
    if (const auto v = l.positive_duration(s, key)) d.out.*Member = *v;
}

void read_max_idle(loader& l, const scope& s, std::string_view key, upstream_draft& d) {
    if (const auto n = l.integer(s, key, 0, 100'000)) d.out.max_idle = static_cast<std::size_t>(*n);
}

// The TLS keys mean something only for an https:// URL.
bool https_only(loader& l, const scope& s, std::string_view key, const upstream_draft& d) {
    if (d.https) return true;
    if (const toml::node* n = s.table.get(key))
        l.fail(*n, s.name(key) + ": only an https:// upstream takes this");
    return false;
}

void read_tls_verify(loader& l, const scope& s, std::string_view key, upstream_draft& d) {
    if (!https_only(l, s, key, d)) return;
    if (const auto v = l.boolean(s, key)) d.out.tls_verify = *v;
}

void read_tls_ca_file(loader& l, const scope& s, std::string_view key, upstream_draft& d) {
    if (!https_only(l, s, key, d)) return;
    d.ca_file = s.table.get(key);
    d.ca_file_key = key;
    if (auto f = l.path_value(s, key, "a PEM file path", false)) d.out.tls_ca_file = std::move(*f);
}

void read_tls_server_name(loader& l, const scope& s, std::string_view key, upstream_draft& d) {
    if (!https_only(l, s, key, d)) return;
    if (const std::string* name = l.string_value(s, key, "a host name such as \"app.internal\"")) {
        if (!name->empty() && !is_host_name(*name))
            l.fail(*s.table.get(key), s.name(key) + ": " + quote(*name) + " is not a valid host name");
        else
            d.out.tls_server_name = *name;
    }
}

constexpr field<upstream_draft> upstream_fields[] = {
    {"url", read_url},
    {"host_header", read_host_header},
    {"connect_timeout", read_timeout<&upstream_config::connect_timeout>},
    {"response_timeout", read_timeout<&upstream_config::response_timeout>},
    {"idle_timeout", read_timeout<&upstream_config::idle_timeout>},
    {"max_idle", read_max_idle},
    {"tls_verify", read_tls_verify},
    {"tls_ca_file", read_tls_ca_file},
    {"tls_server_name", read_tls_server_name},
};

// Cross-field rules, once every key is read.
void check_upstream(loader& l, const scope& s, const upstream_draft& d) {
    if (d.https && !d.out.tls_verify && !d.out.tls_ca_file.empty())
        l.fail(*d.ca_file, s.name(d.ca_file_key) + ": set, but tls_verify = false ignores it; remove one");
}

}  // namespace

void load_upstream(loader& l, const scope& top, std::string_view key, config& cfg) {
    if (!top.table.get(key)) {
        l.fail_document("missing required table [" + std::string(key) +
                        "] (url = \"http://HOST:PORT\" of the app to forward to)");
        return;
    }
    if (const auto s = l.section(top, key)) {
        upstream_draft d{cfg.upstream};
        l.read_fields(*s, upstream_fields, "in [" + s->path + "]", d);
        check_upstream(l, *s, d);
    }
}

}  // namespace maintgate::config_detail
