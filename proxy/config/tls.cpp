// The HTTPS side of a [[listener]]: its certificate, the SNI certificates, the cipher
// lists, the lowest TLS version and HSTS. The files are read when the TLS contexts are
// built, not here.
#include "proxy/config/listener.hpp"

#include <algorithm>
#include <cctype>
#include <iterator>
#include <optional>
#include <utility>

#include "policy/ascii.hpp"
#include "proxy/config/address.hpp"
#include "proxy/config/text.hpp"

namespace maintgate::config_detail {

namespace {

constexpr std::string_view tls_versions[] = {"1.0", "1.1", "1.2", "1.3"};

// An SNI name: a DNS name, or a wildcard for one label ("*.example.com"), as a
// certificate's SANs spell them.
bool is_server_name(std::string_view text) {
    if (text.starts_with("*.")) text.remove_prefix(2);
    return is_host_name(text) && !all_digits_and_dots(text);
}

// "max-age=N" and optional directives ("; includeSubDomains; preload"), as RFC 6797 has it.
std::string hsts_problem(std::string_view text) {
    constexpr std::string_view prefix = "max-age=";
    if (text.size() < prefix.size() || !policy::iequals(text.substr(0, prefix.size()), prefix))
        return "must start with \"max-age=\" (seconds), such as \"max-age=31536000\"";
    std::size_t i = prefix.size();
    const std::size_t digits = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    if (i == digits || i - digits > 10)
        return "max-age must be a number of seconds, such as \"max-age=31536000\"";
    for (; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if ((c < 0x20 && c != '\t') || c >= 0x7f)
            return "must be visible ASCII (it is sent as a header value)";
    }
    return {};
}

struct certificate_draft {
    tls_certificate c;
    bool ok = true;  // false: reported, and the certificate is left out
};

// tls_cert and tls_key: both required, each a PEM file.
void read_pem(loader& l, const scope& s, std::string_view key, certificate_draft& d, std::string& target) {
    const toml::node* node = s.table.get(key);
    if (!node) {
        l.fail(s.table, "missing required key " + quote(key) + " in " + s.path);
        d.ok = false;
        return;
    }
    auto path = l.path_value(s, key, "a PEM file path", false);
    if (!path) {
        d.ok = false;
    } else if (path->empty()) {
        l.fail(*node, s.name(key) + ": must name a PEM file");
        d.ok = false;
    } else {
        target = std::move(*path);
    }
}

void read_chain(loader& l, const scope& s, std::string_view key, certificate_draft& d) {
    read_pem(l, s, key, d, d.c.cert);
    // The errors found when the file is read point here.
    if (const toml::node* node = s.table.get(key)) d.c.where = l.position(*node);
}

void read_private_key(loader& l, const scope& s, std::string_view key, certificate_draft& d) {
    read_pem(l, s, key, d, d.c.key);
}

void read_server_names(loader& l, const scope& s, std::string_view key, certificate_draft& d) {
    const toml::node* node = s.table.get(key);
    if (!node) return;
    const auto* array = node->as_array();
    if (!array || array->empty()) {
        l.fail(*node, s.name(key) +
                          ": expected an array of names such as [\"example.com\", "
                          "\"*.example.com\"], got " +
                          describe(*node));
        d.ok = false;
        return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& e = (*array)[i];
        const std::string epath = s.name(key) + "[" + std::to_string(i) + "]";
        const auto* text = e.as_string();
        if (!text || !is_server_name(text->get())) {
            l.fail(e, epath + ": expected a DNS name such as \"example.com\" or \"*.example.com\", got " +
                          describe(e));
            d.ok = false;
            continue;
        }
        std::string name = text->get();
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        d.c.server_names.push_back(std::move(name));
    }
}

// A [[listener.sni]] entry. The listener's own certificate uses the first two rows.
constexpr field<certificate_draft> certificate_fields[] = {
    {"tls_cert", read_chain},
    {"tls_key", read_private_key},
    {"server_names", read_server_names},
};

std::optional<tls_certificate> read_certificate(loader& l, const scope& s, bool names_allowed) {
    certificate_draft d;
    for (const auto& row : certificate_fields) {
        if (row.read == read_server_names && !names_allowed) continue;
        row.read(l, s, row.name, d);
    }
    if (!d.ok) return std::nullopt;
    return std::move(d.c);
}

// The other TLS keys mean something only on an HTTPS listener.
bool https_only(loader& l, const scope& s, std::string_view key, const listener_draft& d) {
    if (d.https()) return true;
    if (const toml::node* n = s.table.get(key))
        l.fail(*n, s.name(key) + ": only an HTTPS listener takes this; give it tls_cert and tls_key");
    return false;
}

// OpenSSL judges the lists when the contexts are built; here only what could never be one.
void read_cipher_list(loader& l, const scope& s, std::string_view key, std::string& target) {
    const auto cipher_text = [](std::string_view text) {
        return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) ||
                   std::string_view("-_:+!@=.,").find(c) != std::string_view::npos;
        });
    };
    if (const std::string* v =
            l.string_value(s, key, "an OpenSSL cipher list such as \"ECDHE-RSA-AES128-GCM-SHA256\"")) {
        if (!cipher_text(*v))
            l.fail(*s.table.get(key),
                   s.name(key) + ": " + quote(*v) + " is not an OpenSSL cipher list (names joined by \":\")");
        else
            target = *v;
    }
}

}  // namespace

void read_tls_cert(loader&, const scope& s, std::string_view key, listener_draft& d) {
    d.cert = s.table.get(key);
    d.cert_key = key;
}

void read_tls_key(loader&, const scope& s, std::string_view key, listener_draft& d) {
    d.key = s.table.get(key);
    d.key_key = key;
}

void read_sni(loader& l, const scope& s, std::string_view key, listener_draft& d) {
    if (!https_only(l, s, key, d)) return;
    const toml::node* node = s.table.get(key);
    if (!node) return;
    const auto* array = node->as_array();
    if (!array) {
        l.fail(*node, s.name(key) + ": expected [[" + s.name(key) + "]] tables, got " + describe(*node));
        return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& e = (*array)[i];
        const std::string epath = s.name(key) + "[" + std::to_string(i) + "]";
        const auto* et = e.as_table();
        if (!et) {
            l.fail(e, epath + ": expected a table with tls_cert and tls_key, got " + describe(e));
            continue;
        }
        const scope es{*et, epath};
        l.check_keys(es, certificate_fields, "in " + epath);
        if (auto c = read_certificate(l, es, true)) d.l.sni.push_back(std::move(*c));
    }
}

void read_tls_ciphers(loader& l, const scope& s, std::string_view key, listener_draft& d) {
    if (https_only(l, s, key, d)) read_cipher_list(l, s, key, d.l.tls_ciphers);
}

void read_tls_ciphersuites(loader& l, const scope& s, std::string_view key, listener_draft& d) {
    if (https_only(l, s, key, d)) read_cipher_list(l, s, key, d.l.tls_ciphersuites);
}

void read_tls_min_version(loader& l, const scope& s, std::string_view key, listener_draft& d) {
    if (!https_only(l, s, key, d)) return;
    if (const auto v = l.one_of(s, key, tls_versions)) {
        d.l.tls_min_version =
            0x0301 + static_cast<int>(std::find(std::begin(tls_versions), std::end(tls_versions), *v) -
                                      std::begin(tls_versions));
    }
}

void read_hsts(loader& l, const scope& s, std::string_view key, listener_draft& d) {
    if (!https_only(l, s, key, d)) return;
    if (const std::string* v =
            l.string_value(s, key, "a Strict-Transport-Security value such as \"max-age=31536000\"")) {
        if (auto problem = hsts_problem(*v); !problem.empty())
            l.fail(*s.table.get(key), s.name(key) + ": " + quote(*v) + " " + problem);
        else if (!v->empty())
            d.l.hsts_field = "Strict-Transport-Security: " + *v + "\r\n";
    }
}

void check_listener_tls(loader& l, const scope& s, listener_draft& d) {
    if (d.cert && !d.key) {
        l.fail(*d.cert, s.name(d.cert_key) + ": set tls_key too (the private key of this certificate)");
    } else if (d.key && !d.cert) {
        l.fail(*d.key, s.name(d.key_key) + ": set tls_cert too (the certificate chain this key belongs to)");
    } else if (d.cert && d.key) {
        if (auto c = read_certificate(l, s, false)) d.l.tls = std::move(*c);
    }
}

}  // namespace maintgate::config_detail
