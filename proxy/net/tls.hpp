#pragma once
// TLS with OpenSSL, built from the config and then shared read-only by the data path:
// an HTTPS listener's server contexts (its certificate, more chosen by SNI, rotating
// session-ticket keys), the client context of an https:// upstream, and the certificate
// report `maintgate check` prints. Building reads files and may fail; a built context is
// only used, never changed, so a session holds the one it started with while a reload
// builds the next.
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ssl.hpp>

#include "proxy/config/config.hpp"
#include "proxy/net.hpp"
#include "proxy/admin/state_file.hpp"

namespace maintgate::proxy {

namespace ssl = boost::asio::ssl;

// What one certificate says about itself, for check, the start-up log and the expiry
// warnings.
struct certificate_info {
    std::string what;  // "listener[0]", "listener[0].sni[1]"
    std::string file;  // the PEM chain it came from
    std::string where;  // "file:line:column" of its config entry
    std::string subject;  // one line, such as "CN=example.com"
    std::vector<std::string> names;  // the names SNI matches against, lower-case
    sys_time not_before{};
    sys_time not_after{};
};

// Session-ticket keys: one set per HTTPS listener, shared by its SNI contexts and carried
// across reloads, so neither SNI nor a reload forces clients back to full handshakes.
// Tickets are sealed with the current key; every rotate_every a new key takes over, and
// a ticket sealed with the one before still resumes (and is renewed). Older tickets give a
// full handshake, so a stolen key opens at most two periods of sessions.
class ticket_keys {
public:
    explicit ticket_keys(std::chrono::seconds rotate_every = std::chrono::hours(2));
    ~ticket_keys();
    ticket_keys(const ticket_keys&) = delete;
    ticket_keys& operator=(const ticket_keys&) = delete;

    // OpenSSL's ticket-key callback (SSL_CTX_set_tlsext_ticket_key_evp_cb), with its
    // contract: 1 to use the key, 2 to use it and renew the ticket, 0 for an unknown key
    // (full handshake), -1 on failure. Rotates first when the current key is due.
    // Thread-safe: every worker's handshakes call it.
    int handle(unsigned char name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
               int encrypt);

    // Replaces the current key now; the current one becomes the previous.
    void rotate();

    std::chrono::seconds rotate_every() const noexcept { return rotate_every_; }

private:
    struct key {
        unsigned char name[16];
        unsigned char aes[32];
        unsigned char hmac[32];
    };
    void rotate_locked();

    const std::chrono::seconds rotate_every_;
    // Fetched once: OpenSSL 3 looks a cipher up by name (locks, string compares) every
    // time one is used by its legacy handle, and every full handshake seals tickets.
    EVP_CIPHER* cipher_ = nullptr;
    std::mutex mutex_;
    key current_{};
    key previous_{};
    bool has_current_ = false;
    bool has_previous_ = false;
    std::chrono::steady_clock::time_point created_{};
};

// One HTTPS listener's contexts.
class tls_server {
public:
    // The context a new connection starts with (the listener's own certificate); the
    // client's SNI may move the handshake to another before the certificate is sent.
    ssl::context& context() const noexcept { return *default_; }

    // The certificate a handshake naming server_name gets: the first [[listener.sni]]
    // entry with that exact name, else the first whose wildcard covers it, else the
    // listener's own. Case-insensitive; "" means no SNI.
    const certificate_info& select(std::string_view server_name) const noexcept;

    const std::vector<certificate_info>& certificates() const noexcept { return certs_; }
    const std::shared_ptr<ticket_keys>& keys() const noexcept { return keys_; }

private:
    friend struct tls_builder;
    tls_server() = default;
    std::size_t index_of(std::string_view server_name) const noexcept;
    static int on_servername(SSL* ssl, int* alert, void* self);

    std::unique_ptr<ssl::context> default_;
    std::vector<std::unique_ptr<ssl::context>> sni_;  // sni_[i] serves certs_[i + 1]
    std::vector<certificate_info> certs_;  // [0]: the listener's own
    std::shared_ptr<ticket_keys> keys_;
};

// The client side of an https:// upstream.
class tls_client {
public:
    ssl::context& context() const noexcept { return *ctx_; }

    // Readies a new upstream connection's SSL: SNI (unless the name is an IP address,
    // which SNI cannot carry) and, when verifying, the name the certificate must match.
    // False when OpenSSL could not take them (out of memory).
    bool prepare(SSL* ssl) const noexcept;

    // Why a handshake failed, for the log: the verification error when there was one
    // ("certificate verify failed: self-signed certificate (expected name "app")"),
    // else the error's own message.
    std::string describe_failure(SSL* ssl, const error_code& ec) const;

    const std::string& server_name() const noexcept { return name_; }
    bool verifies() const noexcept { return verify_; }

private:
    friend struct tls_builder;
    tls_client() = default;

    std::unique_ptr<ssl::context> ctx_;
    std::string name_;
    bool ip_ = false;
    bool verify_ = true;
};

struct tls_report {
    std::vector<std::string> errors;  // the config cannot be served (nothing was changed)
    std::vector<std::string> warnings;  // served, but an operator should look (expiry within 14 days)
    std::vector<std::string> expired;  // expired or not yet valid: run and reload serve them and log
        // an error, check refuses them
    std::vector<certificate_info> certificates;
};

// Builds the contexts of every HTTPS listener in cfg (listener_config::tls_context) and,
// when with_upstream and the upstream is https://, the upstream's
// (upstream_config::tls_context). Reads the certificate and key files, checks that each
// key matches its certificate, and judges expiry against now (warning within warn_within).
// previous: the running config; listener i keeps previous listener i's ticket keys.
// Every error names its config entry as file:line:column. cfg is changed only when there
// is no error. Never throws.
tls_report build_tls(config& cfg, const config* previous, bool with_upstream, sys_time now,
                     std::chrono::hours warn_within = std::chrono::hours(14 * 24));

}  // namespace maintgate::proxy
