#include "proxy/net/tls.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <system_error>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "policy/ascii.hpp"

namespace maintgate::proxy {
namespace {

// The SSL_CTX ex_data slot that points a context at its listener's ticket keys. Not
// SSL_CTX_set_app_data: Asio's ssl::context keeps its own callbacks there.
int ticket_keys_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

// Every queued OpenSSL error as one line, oldest first, and the queue emptied, so the
// next operation's errors are its own. key_mismatch, when given, says whether one of
// them was a key that does not match the certificate already loaded.
std::string openssl_errors(bool* key_mismatch = nullptr) {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        if (key_mismatch && ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
            *key_mismatch = true;
        const char* reason = ERR_reason_error_string(e);
        if (!out.empty()) out += "; ";
        out += reason ? reason : "error " + std::to_string(ERR_GET_REASON(e));
    }
    return out.empty() ? "unknown OpenSSL error" : out;
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Before OpenSSL reads a file: "Permission denied" says more than its PEM errors.
std::string unreadable(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return std::generic_category().message(errno);
    std::fclose(f);
    return {};
}

// A key protected by a passphrase cannot be loaded unattended (a reload would wait for
// someone to type it): refuse instead of prompting on the terminal.
thread_local bool password_asked = false;
int refuse_password(char*, int, int, void*) {
    password_asked = true;
    return 0;
}

// ALPN: HTTP/1.1 is what this server speaks. A client offering only h2 gets no ALPN
// answer rather than a failed handshake, as nginx does without http2.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char* chosen = nullptr;
    if (SSL_select_next_proto(&chosen, outlen, ours, sizeof ours - 1, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
        *out = chosen;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

int ticket_callback(SSL* ssl, unsigned char name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher,
                    EVP_MAC_CTX* mac, int encrypt) {
    auto* keys = static_cast<ticket_keys*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ticket_keys_index()));
    if (!keys) return -1;
    return keys->handle(name, iv, cipher, mac, encrypt);
}

sys_time to_sys_time(const ASN1_TIME* t) {
    std::tm tm{};
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return {};
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string format_date(sys_time t) {
    const std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
    return buf;
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// The DNS names a certificate is for: its subjectAltName DNS entries, or, for an old
// certificate without any, its common name.
std::vector<std::string> dns_names(X509* x) {
    std::vector<std::string> names;
    auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
    if (sans) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
            const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
            if (gn->type != GEN_DNS) continue;
            const auto* s = gn->d.dNSName;
            names.push_back(lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                                   static_cast<std::size_t>(ASN1_STRING_length(s)))));
        }
        GENERAL_NAMES_free(sans);
    }
    if (names.empty()) {
        char cn[256];
        int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
        if (n > 0) names.push_back(lower(std::string_view(cn, static_cast<std::size_t>(n))));
    }
    return names;
}

std::string subject_line(X509* x) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (!bio) return {};
    X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(std::max(n, 0L)));
    BIO_free(bio);
    return out;
}

bool name_matches(std::string_view pattern, std::string_view name) noexcept {
    if (policy::iequals(pattern, name)) return true;
    // "*.example.com" covers exactly one more label: "a.example.com", not "a.b.example.com".
    if (!pattern.starts_with("*.")) return false;
    const auto dot = name.find('.');
    return dot != std::string_view::npos && dot > 0 &&
           policy::iequals(name.substr(dot + 1), pattern.substr(2));
}

bool is_ip_literal(const std::string& s) {
    unsigned char buf[16];
    return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::string tls_version_name(int v) {
    switch (v) {
    case TLS1_VERSION: return "1.0";
    case TLS1_1_VERSION: return "1.1";
    case TLS1_2_VERSION: return "1.2";
    case TLS1_3_VERSION: return "1.3";
    }
    return std::to_string(v);
}

}  // namespace

// ---------------------------------------------------------------------------------
// Ticket keys

ticket_keys::ticket_keys(std::chrono::seconds rotate_every)
    : rotate_every_(rotate_every), cipher_(EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr)) {
    std::lock_guard lock(mutex_);
    rotate_locked();
}

ticket_keys::~ticket_keys() { EVP_CIPHER_free(cipher_); }

void ticket_keys::rotate() {
    std::lock_guard lock(mutex_);
    rotate_locked();
}

void ticket_keys::rotate_locked() {
    // RAND_bytes fails only without any entropy source. Then the keys stay as they are
    // (none at all at first: no tickets are issued) and the next ticket tries again.
    key next{};
    if (RAND_bytes(next.name, sizeof next.name) != 1 || RAND_bytes(next.aes, sizeof next.aes) != 1 ||
        RAND_bytes(next.hmac, sizeof next.hmac) != 1) {
        ERR_clear_error();
        return;
    }
    previous_ = current_;
    has_previous_ = has_current_;
    current_ = next;
    has_current_ = true;
    created_ = std::chrono::steady_clock::now();
}

int ticket_keys::handle(unsigned char name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
                        int encrypt) {
    key k;
    bool renew = false;
    {
        std::lock_guard lock(mutex_);
        if (!has_current_ || std::chrono::steady_clock::now() - created_ >= rotate_every_) rotate_locked();
        if (!has_current_) return 0;  // no key: no ticket issued, none accepted
        if (encrypt) {
            k = current_;
        } else if (std::memcmp(name, current_.name, sizeof current_.name) == 0) {
            k = current_;
        } else if (has_previous_ && std::memcmp(name, previous_.name, sizeof previous_.name) == 0) {
            k = previous_;
            renew = true;
        } else {
            return 0;  // unknown or expired key: a full handshake, not an error
        }
    }
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof k.hmac),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    const EVP_CIPHER* aes = cipher_ ? cipher_ : EVP_aes_256_cbc();
    if (encrypt) {
        std::memcpy(name, k.name, sizeof k.name);
        if (RAND_bytes(iv, 16) != 1) return -1;
        if (EVP_EncryptInit_ex(cipher, aes, nullptr, k.aes, iv) != 1) return -1;
        if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
        return 1;
    }
    if (EVP_DecryptInit_ex(cipher, aes, nullptr, k.aes, iv) != 1) return -1;
    if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
    return renew ? 2 : 1;
}

// ---------------------------------------------------------------------------------
// Server

std::size_t tls_server::index_of(std::string_view server_name) const noexcept {
    if (server_name.empty()) return 0;
    // Exact names first, then wildcards, as nginx chooses.
    for (std::size_t i = 1; i < certs_.size(); ++i)
        for (const auto& n : certs_[i].names)
            if (!n.starts_with("*.") && policy::iequals(n, server_name)) return i;
    for (std::size_t i = 1; i < certs_.size(); ++i)
        for (const auto& n : certs_[i].names)
            if (n.starts_with("*.") && name_matches(n, server_name)) return i;
    return 0;
}

const certificate_info& tls_server::select(std::string_view server_name) const noexcept {
    return certs_[index_of(server_name)];
}

int tls_server::on_servername(SSL* ssl, int*, void* arg) {
    const auto* self = static_cast<const tls_server*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name) return SSL_TLSEXT_ERR_OK;
    const std::size_t i = self->index_of(name);
    if (i > 0) SSL_set_SSL_CTX(ssl, self->sni_[i - 1]->native_handle());
    return SSL_TLSEXT_ERR_OK;
}

// Builds contexts, recording what goes wrong into the report instead of throwing.
struct tls_builder {
    tls_report& report;

    void error(const std::string& where, const std::string& message) {
        report.errors.push_back((where.empty() ? std::string() : where + ": ") + message);
    }

    // One certificate's context; nullptr (with an error recorded) when it cannot serve.
    std::unique_ptr<ssl::context> server_context(const listener_config& l, const tls_certificate& c,
                                                 const std::string& what, ticket_keys& keys,
                                                 certificate_info& info) {
        ERR_clear_error();
        auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
        SSL_CTX* h = ctx->native_handle();
        if (SSL_CTX_set_min_proto_version(h, l.tls_min_version) != 1) {
            error(c.where,
                  what + ".tls_min_version: OpenSSL refuses TLS " + tls_version_name(l.tls_min_version));
            return nullptr;
        }
        // No compression (CRIME) and no renegotiation (a cheap way to make a server do
        // handshakes); buffers released while a connection is idle, as nginx does,
        // which keeps an idle TLS connection small.
        SSL_CTX_set_options(h, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
        SSL_CTX_set_mode(h, SSL_MODE_RELEASE_BUFFERS);
        if (SSL_CTX_set_cipher_list(h, l.tls_ciphers.c_str()) != 1) {
            ERR_clear_error();
            error(c.where, what + ".tls_ciphers: no cipher OpenSSL knows in " + quoted(l.tls_ciphers));
            return nullptr;
        }
        if (SSL_CTX_set_ciphersuites(h, l.tls_ciphersuites.c_str()) != 1) {
            ERR_clear_error();
            error(c.where, what + ".tls_ciphersuites: not a TLS 1.3 suite list OpenSSL accepts: " +
                               quoted(l.tls_ciphersuites));
            return nullptr;
        }
        SSL_CTX_set_default_passwd_cb(h, refuse_password);

        if (auto why = unreadable(c.cert); !why.empty()) {
            error(c.where, what + ".tls_cert: cannot read " + quoted(c.cert) + ": " + why);
            return nullptr;
        }
        if (auto why = unreadable(c.key); !why.empty()) {
            error(c.where, what + ".tls_key: cannot read " + quoted(c.key) + ": " + why);
            return nullptr;
        }
        if (SSL_CTX_use_certificate_chain_file(h, c.cert.c_str()) != 1) {
            error(c.where, what + ".tls_cert: " + quoted(c.cert) +
                               " is not a PEM certificate chain: " + openssl_errors());
            return nullptr;
        }
        password_asked = false;
        const auto mismatch = [&] {
            error(c.where, what + ": the key " + quoted(c.key) + " does not belong to the certificate " +
                               quoted(c.cert));
        };
        if (SSL_CTX_use_PrivateKey_file(h, c.key.c_str(), SSL_FILETYPE_PEM) != 1) {
            // OpenSSL checks the key against the certificate as it loads it.
            bool key_mismatch = false;
            std::string why = openssl_errors(&key_mismatch);
            if (key_mismatch)
                mismatch();
            else if (password_asked)
                error(c.where,
                      what + ".tls_key: " + quoted(c.key) +
                          " is encrypted; maintgate needs it without a passphrase (openssl pkey -in KEY -out "
                          "PLAIN, then chmod 600)");
            else
                error(c.where, what + ".tls_key: " + quoted(c.key) + " is not a PEM private key: " + why);
            return nullptr;
        }
        if (SSL_CTX_check_private_key(h) != 1) {
            ERR_clear_error();
            mismatch();
            return nullptr;
        }

        X509* leaf = SSL_CTX_get0_certificate(h);
        info.what = what;
        info.file = c.cert;
        info.where = c.where;
        info.subject = subject_line(leaf);
        info.not_before = to_sys_time(X509_get0_notBefore(leaf));
        info.not_after = to_sys_time(X509_get0_notAfter(leaf));
        info.names = c.server_names.empty() ? dns_names(leaf) : c.server_names;

        SSL_CTX_set_alpn_select_cb(h, select_alpn, nullptr);
        // Resumption by stateless tickets only: no per-process session cache to lock
        // across workers or to lose on restart.
        SSL_CTX_set_session_cache_mode(h, SSL_SESS_CACHE_OFF);
        static const unsigned char sid_ctx[] = "maintgate";
        SSL_CTX_set_session_id_context(h, sid_ctx, sizeof sid_ctx - 1);
        // A ticket lives as long as its key is current; it stays usable one period more.
        SSL_CTX_set_timeout(h, static_cast<long>(keys.rotate_every().count()));
        SSL_CTX_set_ex_data(h, ticket_keys_index(), &keys);
        SSL_CTX_set_tlsext_ticket_key_evp_cb(h, ticket_callback);
        return ctx;
    }

    std::shared_ptr<const tls_server> server(const listener_config& l, const std::string& what,
                                             std::shared_ptr<ticket_keys> keys) {
        std::shared_ptr<tls_server> s(new tls_server);
        s->keys_ = keys ? std::move(keys) : std::make_shared<ticket_keys>();
        const std::size_t errors_before = report.errors.size();
        s->certs_.resize(1 + l.sni.size());
        s->default_ = server_context(l, l.tls, what, *s->keys_, s->certs_[0]);
        for (std::size_t i = 0; i < l.sni.size(); ++i) {
            const std::string sni_what = what + ".sni[" + std::to_string(i) + "]";
            auto ctx = server_context(l, l.sni[i], sni_what, *s->keys_, s->certs_[i + 1]);
            if (ctx && s->certs_[i + 1].names.empty())
                error(l.sni[i].where, sni_what +
                                          ": the certificate names no DNS name for SNI to match; give "
                                          "server_names");
            s->sni_.push_back(std::move(ctx));
        }
        if (report.errors.size() != errors_before) return nullptr;
        if (!l.sni.empty()) {
            SSL_CTX_set_tlsext_servername_callback(s->default_->native_handle(), tls_server::on_servername);
            SSL_CTX_set_tlsext_servername_arg(s->default_->native_handle(), s.get());
        }
        for (const auto& c : s->certs_) report.certificates.push_back(c);
        return s;
    }

    std::shared_ptr<const tls_client> client(const upstream_config& u) {
        ERR_clear_error();
        std::shared_ptr<tls_client> c(new tls_client);
        c->ctx_ = std::make_unique<ssl::context>(ssl::context::tls_client);
        SSL_CTX* h = c->ctx_->native_handle();
        SSL_CTX_set_min_proto_version(h, TLS1_2_VERSION);
        SSL_CTX_set_options(h, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
        static const unsigned char alpn[] = "\x08http/1.1";
        SSL_CTX_set_alpn_protos(h, alpn, sizeof alpn - 1);  // 0 on success, unlike the rest
        c->verify_ = u.tls_verify;
        c->name_ = u.tls_server_name.empty() ? u.host : u.tls_server_name;
        c->ip_ = is_ip_literal(c->name_);
        if (u.tls_verify) {
            SSL_CTX_set_verify(h, SSL_VERIFY_PEER, nullptr);
            if (!u.tls_ca_file.empty()) {
                if (auto why = unreadable(u.tls_ca_file); !why.empty()) {
                    error(u.tls_where,
                          "upstream.tls_ca_file: cannot read " + quoted(u.tls_ca_file) + ": " + why);
                    return nullptr;
                }
                if (SSL_CTX_load_verify_locations(h, u.tls_ca_file.c_str(), nullptr) != 1) {
                    error(u.tls_where, "upstream.tls_ca_file: " + quoted(u.tls_ca_file) +
                                           " holds no PEM certificate: " + openssl_errors());
                    return nullptr;
                }
            } else if (SSL_CTX_set_default_verify_paths(h) != 1) {
                error(u.tls_where, "upstream: cannot load the system's CA certificates: " + openssl_errors());
                return nullptr;
            }
        } else {
            SSL_CTX_set_verify(h, SSL_VERIFY_NONE, nullptr);
            report.warnings.push_back(u.tls_where +
                                      ": upstream.tls_verify = false: the upstream's certificate is "
                                      "not checked, so anyone on the path can pose as it");
        }
        return c;
    }
};

// ---------------------------------------------------------------------------------
// Client

bool tls_client::prepare(SSL* ssl) const noexcept {
    // RFC 6066: SNI carries host names only.
    if (!ip_ && SSL_set_tlsext_host_name(ssl, name_.c_str()) != 1) return false;
    if (!verify_) return true;
    if (ip_) return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name_.c_str()) == 1;
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return SSL_set1_host(ssl, name_.c_str()) == 1;
}

std::string tls_client::describe_failure(SSL* ssl, const error_code& ec) const {
    const long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (verify_ && v != X509_V_OK)
        return std::string("certificate verify failed: ") + X509_verify_cert_error_string(v) +
               " (expected name " + quoted(name_) + ")";
    return ec.message();
}

// ---------------------------------------------------------------------------------

tls_report build_tls(config& cfg, const config* previous, bool with_upstream, sys_time now,
                     std::chrono::hours warn_within) {
    tls_report report;
    try {
        tls_builder b{report};
        std::vector<std::shared_ptr<const tls_server>> servers(cfg.listeners.size());
        for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
            const auto& l = cfg.listeners[i];
            if (!l.https()) continue;
            std::shared_ptr<ticket_keys> keys;
            if (previous && i < previous->listeners.size() && previous->listeners[i].tls_context)
                keys = previous->listeners[i].tls_context->keys();
            servers[i] = b.server(l, "listener[" + std::to_string(i) + "]", std::move(keys));
        }
        std::shared_ptr<const tls_client> client;
        if (with_upstream && cfg.upstream.tls) client = b.client(cfg.upstream);

        for (const auto& c : report.certificates) {
            const std::string names = c.names.empty() ? c.subject : [&] {
                std::string s;
                for (const auto& n : c.names) s += (s.empty() ? "" : ", ") + n;
                return s;
            }();
            const std::string head =
                c.where + ": " + c.what + ": certificate " + quoted(c.file) + " (" + names + ")";
            if (now >= c.not_after) {
                report.expired.push_back(head + " expired on " + format_date(c.not_after));
            } else if (now < c.not_before) {
                report.expired.push_back(head + " is not valid before " + format_date(c.not_before));
            } else if (c.not_after - now < warn_within) {
                const auto days =
                    std::chrono::duration_cast<std::chrono::hours>(c.not_after - now).count() / 24;
                report.warnings.push_back(head + " expires on " + format_date(c.not_after) + ", in " +
                                          std::to_string(days) + " day" + (days == 1 ? "" : "s"));
            }
        }
        if (!report.errors.empty()) return report;
        for (std::size_t i = 0; i < cfg.listeners.size(); ++i)
            cfg.listeners[i].tls_context = std::move(servers[i]);
        if (with_upstream) cfg.upstream.tls_context = std::move(client);
    } catch (const std::exception& e) {
        // Allocation failure, or Asio's context constructor failing inside OpenSSL.
        report.errors.push_back(std::string("cannot build the TLS contexts: ") + e.what());
    }
    return report;
}

}  // namespace maintgate::proxy
