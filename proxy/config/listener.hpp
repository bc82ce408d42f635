#pragma once
// Inside the config library only: what the [[listener]] readers (listener.cpp) and the
// HTTPS ones (tls.cpp) share while one listener is read.
#include <string>
#include <string_view>

#include "proxy/config/loader.hpp"

namespace maintgate::config_detail {

struct listener_draft {
    listener_config l;
    const toml::node* cert = nullptr;  // tls_cert, as written
    const toml::node* key = nullptr;  // tls_key, as written
    std::string_view cert_key;  // their rows' names, for the post pass's messages
    std::string_view key_key;
    const toml::node* address = nullptr;  // the address, as written, for the duplicate rule
    std::string address_name;  // "listener[1].address"
    bool address_ok = false;  // false: reported, and the listener is left out
    std::string identity;  // the address, canonical, to find duplicates
    const toml::node* redirect = nullptr;  // redirect_https, as written
    bool redirect_ok = true;  // false: redirect_https was reported

    // Judged by the keys present, so one mistake in tls_cert does not also make every
    // other TLS key an error.
    bool https() const noexcept { return cert || key; }
};

// tls.cpp: the HTTPS keys of a listener, in its rows.
void read_tls_cert(loader& l, const scope& s, std::string_view key, listener_draft& d);
void read_tls_key(loader& l, const scope& s, std::string_view key, listener_draft& d);
void read_sni(loader& l, const scope& s, std::string_view key, listener_draft& d);
void read_tls_ciphers(loader& l, const scope& s, std::string_view key, listener_draft& d);
void read_tls_ciphersuites(loader& l, const scope& s, std::string_view key, listener_draft& d);
void read_tls_min_version(loader& l, const scope& s, std::string_view key, listener_draft& d);
void read_hsts(loader& l, const scope& s, std::string_view key, listener_draft& d);
// The post pass: tls_cert and tls_key go together, and name readable PEM paths.
void check_listener_tls(loader& l, const scope& s, listener_draft& d);

}  // namespace maintgate::config_detail
