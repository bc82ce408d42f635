#include "proxy/net/tls.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

using namespace maintgate;
using namespace maintgate::proxy;

namespace {

namespace fs = std::filesystem;

// A throwaway PKI in a temp folder: a CA and certificates it signs, written as PEM files
// the way an operator would have them.
class test_pki {
public:
    test_pki() {
        char tmpl[] = "/tmp/maintgate-tls-test-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        dir_ = tmpl;
        ca_key_ = new_key();
        ca_ = make_cert(ca_key_, "maintgate test CA", {}, nullptr, nullptr, -3600, 86400 * 30, true);
        ca_file = write_cert(ca_, "ca.pem");
    }
    ~test_pki() {
        X509_free(ca_);
        EVP_PKEY_free(ca_key_);
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    test_pki(const test_pki&) = delete;
    test_pki& operator=(const test_pki&) = delete;

    struct pair {
        std::string cert;
        std::string key;
    };

    // A certificate for cn with the given subjectAltName entries ("DNS:a", "IP:127.0.0.1"),
    // valid from `from` to `to` seconds from now, signed by the CA (or self-signed).
    pair issue(const std::string& name, const std::string& cn, const std::vector<std::string>& sans,
               long from = -3600, long to = 86400 * 30, bool self_signed = false) {
        EVP_PKEY* key = new_key();
        X509* x = self_signed ? make_cert(key, cn, sans, nullptr, nullptr, from, to, false)
                              : make_cert(key, cn, sans, ca_, ca_key_, from, to, false);
        pair p{write_cert(x, name + ".pem"), write_key(key, name + ".key", nullptr)};
        X509_free(x);
        EVP_PKEY_free(key);
        return p;
    }

    // Another key, matching no certificate; encrypted with a passphrase when asked.
    std::string lone_key(const std::string& name, const char* passphrase = nullptr) {
        EVP_PKEY* key = new_key();
        auto path = write_key(key, name, passphrase);
        EVP_PKEY_free(key);
        return path;
    }

    std::string file(const std::string& name, const std::string& text) {
        const auto path = (dir_ / name).string();
        std::FILE* f = std::fopen(path.c_str(), "w");
        REQUIRE(f);
        std::fputs(text.c_str(), f);
        std::fclose(f);
        return path;
    }

    std::string ca_file;

private:
    static EVP_PKEY* new_key() {
        EVP_PKEY* k = EVP_EC_gen("P-256");
        REQUIRE(k);
        return k;
    }

    X509* make_cert(EVP_PKEY* key, const std::string& cn, const std::vector<std::string>& sans, X509* issuer,
                    EVP_PKEY* issuer_key, long from, long to, bool ca) {
        X509* x = X509_new();
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial_);
        X509_gmtime_adj(X509_getm_notBefore(x), from);
        X509_gmtime_adj(X509_getm_notAfter(x), to);
        X509_set_pubkey(x, key);
        X509_NAME* name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
        X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, issuer ? issuer : x, x, nullptr, nullptr, 0);
        auto add = [&](int nid, const std::string& value) {
            X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
            REQUIRE(ext);
            X509_add_ext(x, ext, -1);
            X509_EXTENSION_free(ext);
        };
        if (ca) {
            add(NID_basic_constraints, "critical,CA:TRUE");
            add(NID_key_usage, "critical,keyCertSign,cRLSign");
        }
        if (!sans.empty()) {
            std::string value;
            for (const auto& s : sans) value += (value.empty() ? "" : ",") + s;
            add(NID_subject_alt_name, value);
        }
        REQUIRE(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
        return x;
    }

    std::string write_cert(X509* x, const std::string& name) {
        const auto path = (dir_ / name).string();
        std::FILE* f = std::fopen(path.c_str(), "w");
        REQUIRE(f);
        PEM_write_X509(f, x);
        std::fclose(f);
        return path;
    }

    std::string write_key(EVP_PKEY* k, const std::string& name, const char* passphrase) {
        const auto path = (dir_ / name).string();
        std::FILE* f = std::fopen(path.c_str(), "w");
        REQUIRE(f);
        if (passphrase)
            PEM_write_PrivateKey(f, k, EVP_aes_256_cbc(), reinterpret_cast<const unsigned char*>(passphrase),
                                 static_cast<int>(std::strlen(passphrase)), nullptr, nullptr);
        else
            PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr);
        std::fclose(f);
        return path;
    }

    fs::path dir_;
    EVP_PKEY* ca_key_ = nullptr;
    X509* ca_ = nullptr;
    long serial_ = 0;
};

listener_config https_listener(const test_pki::pair& p) {
    listener_config l;
    l.address = "127.0.0.1:0";
    l.host = "127.0.0.1";
    l.tls = {p.cert, p.key, {}, "t.toml:3:12"};
    return l;
}

config one_listener(listener_config l) {
    config c;
    c.listeners.push_back(std::move(l));
    return c;
}

struct client_options {
    std::string ca_file;
    std::string sni;  // empty: none
    int max_version = 0;  // 0: the library's highest
    int min_version = 0;
    std::string ciphers;  // empty: default
    const unsigned char* alpn = reinterpret_cast<const unsigned char*>("\x02h2\x08http/1.1");
    unsigned alpn_len = 12;
    SSL_SESSION* resume = nullptr;
    std::function<void(SSL*)> prepare;  // instead of the default verification setup
    SSL_CTX* ctx = nullptr;  // instead of a context built from the above
};

struct handshake_result {
    bool ok = false;
    std::string error;
    std::string peer_cn;
    std::string alpn;
    bool reused = false;
    std::shared_ptr<SSL_SESSION> session;  // resumable, after the first application bytes
    long verify = X509_V_OK;
    SSL* client = nullptr;  // valid only inside the callback of handshake()
};

std::string cn_of(X509* x) {
    if (!x) return {};
    char buf[256];
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

// One TLS handshake between server_ctx and a client, in memory (a BIO pair), then a byte
// each way so TLS 1.3 tickets reach the client.
handshake_result handshake(SSL_CTX* server_ctx, const client_options& o,
                           const std::function<void(SSL*, handshake_result&)>& inspect = {}) {
    ERR_clear_error();
    handshake_result r;
    SSL_CTX* cctx = o.ctx;
    bool own_ctx = false;
    if (!cctx) {
        cctx = SSL_CTX_new(TLS_client_method());
        own_ctx = true;
        if (!o.ca_file.empty()) {
            REQUIRE(SSL_CTX_load_verify_locations(cctx, o.ca_file.c_str(), nullptr) == 1);
            SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, nullptr);
        }
        if (o.max_version) SSL_CTX_set_max_proto_version(cctx, o.max_version);
        if (o.min_version) SSL_CTX_set_min_proto_version(cctx, o.min_version);
        if (!o.ciphers.empty()) SSL_CTX_set_cipher_list(cctx, o.ciphers.c_str());
        // No client session cache: freeing the context would mark its cached sessions
        // not resumable, and the tests keep sessions across contexts.
        if (o.alpn) SSL_CTX_set_alpn_protos(cctx, o.alpn, o.alpn_len);
    }
    SSL* s = SSL_new(server_ctx);
    SSL* c = SSL_new(cctx);
    BIO* cb = nullptr;
    BIO* sb = nullptr;
    REQUIRE(BIO_new_bio_pair(&cb, 0, &sb, 0) == 1);
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_accept_state(s);
    SSL_set_connect_state(c);
    if (!o.sni.empty()) SSL_set_tlsext_host_name(c, o.sni.c_str());
    if (o.prepare) o.prepare(c);
    if (o.resume) SSL_set_session(c, o.resume);

    bool c_done = false, s_done = false, failed = false;
    for (int i = 0; i < 100 && !(c_done && s_done) && !failed; ++i) {
        for (auto [ssl, done] : {std::pair{c, &c_done}, std::pair{s, &s_done}}) {
            if (*done) continue;
            int rc = SSL_do_handshake(ssl);
            if (rc == 1) {
                *done = true;
                continue;
            }
            int err = SSL_get_error(ssl, rc);
            if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
                failed = true;
                unsigned long e = ERR_peek_error();
                const char* reason = e ? ERR_reason_error_string(e) : nullptr;
                r.error = reason ? reason : "handshake failed";
                break;
            }
        }
    }
    r.verify = SSL_get_verify_result(c);
    if (!failed && c_done && s_done) {
        // Application bytes both ways: the client takes the tickets on its way.
        char buf[8];
        REQUIRE(SSL_write(s, "s", 1) == 1);
        REQUIRE(SSL_read(c, buf, sizeof buf) == 1);
        REQUIRE(SSL_write(c, "c", 1) == 1);
        REQUIRE(SSL_read(s, buf, sizeof buf) == 1);
        REQUIRE(SSL_write(s, "s", 1) == 1);
        REQUIRE(SSL_read(c, buf, sizeof buf) == 1);
        r.ok = true;
        r.peer_cn = cn_of(SSL_get0_peer_certificate(c));
        const unsigned char* data = nullptr;
        unsigned len = 0;
        SSL_get0_alpn_selected(c, &data, &len);
        r.alpn.assign(reinterpret_cast<const char*>(data), len);
        r.reused = SSL_session_reused(c) == 1;
        r.session.reset(SSL_get1_session(c), SSL_SESSION_free);
        r.client = c;
        if (inspect) inspect(c, r);
        r.client = nullptr;
        // As if closed with close_notify: OpenSSL makes the session of a connection
        // freed without it unresumable.
        SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
    SSL_free(c);
    SSL_free(s);
    if (own_ctx) SSL_CTX_free(cctx);
    ERR_clear_error();
    return r;
}

SSL_CTX* server_ctx(const config& c, std::size_t i = 0) {
    REQUIRE(c.listeners[i].tls_context);
    return c.listeners[i].tls_context->context().native_handle();
}

const auto now = [] { return std::chrono::system_clock::now(); };

}  // namespace

TEST_CASE("an HTTPS listener: its certificate, SNI choosing others, ALPN http/1.1", "[tls]") {
    test_pki pki;
    const auto main = pki.issue("main", "main", {"DNS:localhost", "DNS:app.test", "IP:127.0.0.1"});
    const auto other = pki.issue("other", "other", {"DNS:other.test", "DNS:*.wild.test"});
    const auto named = pki.issue("named", "named", {"DNS:ignored.test"});
    auto l = https_listener(main);
    l.sni.push_back({other.cert, other.key, {}, "t.toml:8:12"});
    l.sni.push_back({named.cert, named.key, {"explicit.test", "*.other.test"}, "t.toml:12:12"});
    auto cfg = one_listener(l);

    const auto report = build_tls(cfg, nullptr, false, now());
    INFO(report.errors.size() << " error(s): " << (report.errors.empty() ? "" : report.errors[0]));
    REQUIRE(report.errors.empty());
    CHECK(report.expired.empty());
    CHECK(report.warnings.empty());
    REQUIRE(report.certificates.size() == 3);
    CHECK(report.certificates[0].names == std::vector<std::string>{"localhost", "app.test"});
    CHECK(report.certificates[0].what == "listener[0]");
    CHECK(report.certificates[1].what == "listener[0].sni[0]");
    CHECK(report.certificates[2].names == std::vector<std::string>{"explicit.test", "*.other.test"});

    const auto& srv = *cfg.listeners[0].tls_context;
    CHECK(srv.select("").file == main.cert);
    CHECK(srv.select("localhost").file == main.cert);
    CHECK(srv.select("unknown.test").file == main.cert);
    CHECK(srv.select("OTHER.test").file == other.cert);
    CHECK(srv.select("a.wild.test").file == other.cert);
    CHECK(srv.select("a.b.wild.test").file == main.cert);  // a wildcard covers one label
    CHECK(srv.select("wild.test").file == main.cert);
    CHECK(srv.select("explicit.test").file == named.cert);
    CHECK(srv.select("ignored.test").file == main.cert);  // server_names replace the certificate's own
    // An exact name wins over an earlier wildcard.
    CHECK(srv.select("other.test").file == other.cert);
    CHECK(srv.select("x.other.test").file == named.cert);

    // The handshakes themselves get those certificates.
    const struct {
        const char* sni;
        const char* cn;
    } picks[] = {{"", "main"},
                 {"localhost", "main"},
                 {"other.test", "other"},
                 {"b.wild.test", "other"},
                 {"explicit.test", "named"},
                 {"nobody.test", "main"}};
    for (const auto& p : picks) {
        INFO("SNI " << p.sni);
        client_options o;
        o.ca_file = pki.ca_file;
        o.sni = p.sni;
        const auto r = handshake(server_ctx(cfg), o);
        REQUIRE(r.ok);
        CHECK(r.verify == X509_V_OK);
        CHECK(r.peer_cn == p.cn);
        CHECK(r.alpn == "http/1.1");
    }

    // A client offering only h2 still connects, without ALPN, and speaks HTTP/1.1.
    client_options h2;
    h2.alpn = reinterpret_cast<const unsigned char*>("\x02h2");
    h2.alpn_len = 3;
    const auto r = handshake(server_ctx(cfg), h2);
    CHECK(r.ok);
    CHECK(r.alpn.empty());
}

TEST_CASE("TLS 1.2 and 1.3 only by default, and tls_min_version raises the floor", "[tls]") {
    test_pki pki;
    auto cfg = one_listener(https_listener(pki.issue("main", "main", {"DNS:localhost"})));
    REQUIRE(build_tls(cfg, nullptr, false, now()).errors.empty());

    for (int v : {TLS1_VERSION, TLS1_1_VERSION}) {
        INFO("client at most version " << v);
        client_options o;
        o.max_version = v;
        o.ciphers = "DEFAULT@SECLEVEL=0";  // the client side would refuse on its own otherwise
        CHECK_FALSE(handshake(server_ctx(cfg), o).ok);
    }
    for (int v : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        client_options o;
        o.min_version = v;
        o.max_version = v;
        CHECK(handshake(server_ctx(cfg), o).ok);
    }

    cfg.listeners[0].tls_min_version = TLS1_3_VERSION;
    REQUIRE(build_tls(cfg, nullptr, false, now()).errors.empty());
    client_options tls12;
    tls12.max_version = TLS1_2_VERSION;
    CHECK_FALSE(handshake(server_ctx(cfg), tls12).ok);
}

TEST_CASE("session tickets resume, across a reload, and for one rotation more", "[tls]") {
    test_pki pki;
    auto cfg = one_listener(https_listener(pki.issue("main", "main", {"DNS:localhost"})));
    REQUIRE(build_tls(cfg, nullptr, false, now()).errors.empty());

    for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        INFO("TLS version " << version);
        client_options o;
        o.min_version = version;
        o.max_version = version;
        const auto first = handshake(server_ctx(cfg), o);
        REQUIRE(first.ok);
        CHECK_FALSE(first.reused);
        REQUIRE(first.session);

        o.resume = first.session.get();
        CHECK(handshake(server_ctx(cfg), o).reused);

        // A reload builds new contexts with the same keys: the ticket still resumes.
        config reloaded = cfg;
        REQUIRE(build_tls(reloaded, &cfg, false, now()).errors.empty());
        REQUIRE(reloaded.listeners[0].tls_context != cfg.listeners[0].tls_context);
        CHECK(reloaded.listeners[0].tls_context->keys() == cfg.listeners[0].tls_context->keys());
        CHECK(handshake(server_ctx(reloaded), o).reused);

        // A fresh start has fresh keys: a full handshake, not an error.
        config restarted = cfg;
        REQUIRE(build_tls(restarted, nullptr, false, now()).errors.empty());
        const auto full = handshake(server_ctx(restarted), o);
        CHECK(full.ok);
        CHECK_FALSE(full.reused);
    }

    // One rotation: the ticket still opens (and is renewed). Two: it no longer does.
    client_options o;
    const auto first = handshake(server_ctx(cfg), o);
    REQUIRE(first.session);
    o.resume = first.session.get();
    cfg.listeners[0].tls_context->keys()->rotate();
    CHECK(handshake(server_ctx(cfg), o).reused);
    cfg.listeners[0].tls_context->keys()->rotate();
    const auto expired = handshake(server_ctx(cfg), o);
    CHECK(expired.ok);
    CHECK_FALSE(expired.reused);
}

TEST_CASE("a bad or mismatched pair is refused with the reason and the entry's position", "[tls]") {
    test_pki pki;
    const auto good = pki.issue("good", "good", {"DNS:localhost"});
    const auto other = pki.issue("other", "other", {"DNS:other.test"});
    const std::string wrong_key = pki.lone_key("wrong.key");
    const std::string locked_key = pki.lone_key("locked.key", "secret passphrase");
    const std::string not_pem = pki.file("not.pem", "hello\n");

    struct bad {
        std::string cert, key;
        std::string error;
    };
    const bad cases[] = {
        {good.cert, wrong_key,
         "t.toml:3:12: listener[0]: the key \"" + wrong_key + "\" does not belong to the certificate \"" +
             good.cert + "\""},
        {good.cert, other.key,
         "t.toml:3:12: listener[0]: the key \"" + other.key + "\" does not belong to the certificate \"" +
             good.cert + "\""},
        {good.cert + ".missing", good.key,
         "t.toml:3:12: listener[0].tls_cert: cannot read \"" + good.cert +
             ".missing\": No such file or directory"},
        {good.cert, good.key + ".missing",
         "t.toml:3:12: listener[0].tls_key: cannot read \"" + good.key +
             ".missing\": No such file or directory"},
        {not_pem, good.key,
         "t.toml:3:12: listener[0].tls_cert: \"" + not_pem + "\" is not a PEM certificate chain"},
        {good.cert, not_pem,
         "t.toml:3:12: listener[0].tls_key: \"" + not_pem + "\" is not a PEM private key"},
        {good.cert, locked_key,
         "t.toml:3:12: listener[0].tls_key: \"" + locked_key +
             "\" is encrypted; maintgate needs it without a passphrase"},
        // A certificate where the key should be, and the other way round.
        {good.key, good.cert,
         "t.toml:3:12: listener[0].tls_cert: \"" + good.key + "\" is not a PEM certificate chain"},
    };
    for (const auto& c : cases) {
        INFO("cert " << c.cert << ", key " << c.key);
        auto cfg = one_listener(https_listener({c.cert, c.key}));
        const auto report = build_tls(cfg, nullptr, false, now());
        REQUIRE(report.errors.size() == 1);
        CHECK(report.errors[0].substr(0, c.error.size()) == c.error);
        CHECK(cfg.listeners[0].tls_context == nullptr);
    }

    // A reload that fails changes nothing: the running contexts stay.
    auto cfg = one_listener(https_listener(good));
    REQUIRE(build_tls(cfg, nullptr, false, now()).errors.empty());
    const auto running = cfg.listeners[0].tls_context;
    config next = cfg;
    next.listeners[0].tls.key = wrong_key;
    CHECK_FALSE(build_tls(next, &cfg, false, now()).errors.empty());
    CHECK(next.listeners[0].tls_context == running);

    // One bad SNI entry refuses the listener, naming that entry.
    auto with_sni = one_listener(https_listener(good));
    with_sni.listeners[0].sni.push_back({other.cert, wrong_key, {}, "t.toml:9:12"});
    auto report = build_tls(with_sni, nullptr, false, now());
    REQUIRE(report.errors.size() == 1);
    CHECK(report.errors[0].starts_with("t.toml:9:12: listener[0].sni[0]: the key"));

    // An SNI certificate without any DNS name has nothing for SNI to match.
    const auto nameless = pki.issue("nameless", "", {"IP:127.0.0.2"});
    with_sni.listeners[0].sni[0] = {nameless.cert, nameless.key, {}, "t.toml:9:12"};
    report = build_tls(with_sni, nullptr, false, now());
    REQUIRE(report.errors.size() == 1);
    CHECK(
        report.errors[0] ==
        "t.toml:9:12: listener[0].sni[0]: the certificate names no DNS name for SNI to match; give server_names");

    // Cipher lists OpenSSL does not know.
    auto ciphers = one_listener(https_listener(good));
    ciphers.listeners[0].tls_ciphers = "NO-SUCH-CIPHER";
    report = build_tls(ciphers, nullptr, false, now());
    REQUIRE(report.errors.size() == 1);
    CHECK(report.errors[0] ==
          "t.toml:3:12: listener[0].tls_ciphers: no cipher OpenSSL knows in \"NO-SUCH-CIPHER\"");
    ciphers.listeners[0].tls_ciphers = std::string(default_tls_ciphers);
    ciphers.listeners[0].tls_ciphersuites = "TLS_NO_SUCH_SUITE";
    report = build_tls(ciphers, nullptr, false, now());
    REQUIRE(report.errors.size() == 1);
    CHECK(report.errors[0].starts_with("t.toml:3:12: listener[0].tls_ciphersuites: "));
}

TEST_CASE("expiry: expired and not yet valid are reported, within 14 days warns", "[tls]") {
    test_pki pki;
    const long day = 86400;
    const auto expired = pki.issue("expired", "expired", {"DNS:old.test"}, -30 * day, -day);
    const auto future = pki.issue("future", "future", {"DNS:new.test"}, 2 * day, 30 * day);
    const auto soon = pki.issue("soon", "soon", {"DNS:soon.test"}, -day, 5 * day + 3600);
    const auto fine = pki.issue("fine", "fine", {"DNS:fine.test"}, -day, 15 * day + 3600);

    auto report_for = [&](const test_pki::pair& p) {
        auto cfg = one_listener(https_listener(p));
        auto r = build_tls(cfg, nullptr, false, now());
        REQUIRE(r.errors.empty());
        CHECK(cfg.listeners[0].tls_context != nullptr);  // served all the same
        return r;
    };
    auto r = report_for(expired);
    REQUIRE(r.expired.size() == 1);
    CHECK(r.expired[0].starts_with("t.toml:3:12: listener[0]: certificate \"" + expired.cert +
                                   "\" (old.test) expired on "));
    r = report_for(future);
    REQUIRE(r.expired.size() == 1);
    CHECK(r.expired[0].find("is not valid before") != std::string::npos);
    r = report_for(soon);
    CHECK(r.expired.empty());
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].find("(soon.test) expires on ") != std::string::npos);
    CHECK(r.warnings[0].ends_with(", in 5 days"));
    r = report_for(fine);
    CHECK(r.expired.empty());
    CHECK(r.warnings.empty());
}

TEST_CASE("an https:// upstream: the chain and the name are verified, SNI is sent", "[tls]") {
    test_pki pki;
    const auto srv = pki.issue("upstream", "upstream", {"DNS:app.test", "IP:127.0.0.1"});
    const auto self_signed = pki.issue("self", "self", {"DNS:app.test"}, -3600, 86400, true);
    auto server = one_listener(https_listener(srv));
    REQUIRE(build_tls(server, nullptr, false, now()).errors.empty());
    auto rogue = one_listener(https_listener(self_signed));
    REQUIRE(build_tls(rogue, nullptr, false, now()).errors.empty());

    auto client_for = [&](upstream_config u) {
        u.tls = true;
        u.tls_where = "t.toml:4:7";
        config c;
        c.upstream = u;
        auto r = build_tls(c, nullptr, true, now());
        REQUIRE(r.errors.empty());
        REQUIRE(c.upstream.tls_context);
        return std::pair{c.upstream.tls_context, r};
    };
    // Connects with the upstream's client context, prepared as the pool does.
    auto connect = [&](const tls_client& tc, SSL_CTX* to, std::string* sni_seen = nullptr) {
        client_options o;
        o.ctx = tc.context().native_handle();
        o.prepare = [&](SSL* ssl) { REQUIRE(tc.prepare(ssl)); };
        auto r = handshake(to, o, [&](SSL* c, handshake_result&) {
            if (sni_seen) {
                const char* name = SSL_get_servername(c, TLSEXT_NAMETYPE_host_name);
                *sni_seen = name ? name : "";
            }
        });
        return r;
    };

    upstream_config u;
    u.host = "app.test";
    u.tls_ca_file = pki.ca_file;
    auto [named, report] = client_for(u);
    CHECK(report.warnings.empty());
    CHECK(named->server_name() == "app.test");
    std::string sni;
    CHECK(connect(*named, server_ctx(server), &sni).ok);
    CHECK(sni == "app.test");
    // A certificate from someone else fails, and says why.
    auto bad = connect(*named, server_ctx(rogue));
    CHECK_FALSE(bad.ok);
    CHECK(bad.verify != X509_V_OK);

    // The name verified is tls_server_name when set, so a wrong one fails.
    u.tls_server_name = "wrong.test";
    auto [wrong, r2] = client_for(u);
    auto mismatch = connect(*wrong, server_ctx(server));
    CHECK_FALSE(mismatch.ok);
    CHECK(mismatch.verify == X509_V_ERR_HOSTNAME_MISMATCH);

    // An IP address is verified against the IP SANs and sent without SNI (RFC 6066).
    u.host = "127.0.0.1";
    u.tls_server_name.clear();
    auto [by_ip, r3] = client_for(u);
    sni = "unset";
    CHECK(connect(*by_ip, server_ctx(server), &sni).ok);
    CHECK(sni.empty());

    // Without tls_ca_file the system store is used, which does not know the test CA.
    upstream_config system;
    system.host = "app.test";
    auto [sys, r4] = client_for(system);
    auto unknown = connect(*sys, server_ctx(server));
    CHECK_FALSE(unknown.ok);
    CHECK(unknown.verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);

    // tls_verify = false connects to anyone, and says so.
    upstream_config blind;
    blind.host = "app.test";
    blind.tls_verify = false;
    auto [none, r5] = client_for(blind);
    REQUIRE(r5.warnings.size() == 1);
    CHECK(r5.warnings[0].starts_with("t.toml:4:7: upstream.tls_verify = false"));
    CHECK(connect(*none, server_ctx(rogue)).ok);

    // A CA file that is not one is refused at build time.
    upstream_config broken;
    broken.tls = true;
    broken.host = "app.test";
    broken.tls_where = "t.toml:4:7";
    broken.tls_ca_file = pki.file("empty.pem", "no certificates here\n");
    config c;
    c.upstream = broken;
    const auto r6 = build_tls(c, nullptr, true, now());
    REQUIRE(r6.errors.size() == 1);
    CHECK(r6.errors[0].starts_with("t.toml:4:7: upstream.tls_ca_file: \"" + broken.tls_ca_file +
                                   "\" holds no PEM"));
    CHECK(c.upstream.tls_context == nullptr);
}

TEST_CASE("describe_failure names the verification error and the expected name", "[tls]") {
    test_pki pki;
    const auto srv = pki.issue("upstream", "upstream", {"DNS:app.test"});
    auto server = one_listener(https_listener(srv));
    REQUIRE(build_tls(server, nullptr, false, now()).errors.empty());
    config c;
    c.upstream.tls = true;
    c.upstream.host = "other.test";
    c.upstream.tls_ca_file = pki.ca_file;
    REQUIRE(build_tls(c, nullptr, true, now()).errors.empty());
    const auto& tc = *c.upstream.tls_context;

    // Runs the failing handshake by hand to keep the client SSL for describe_failure.
    SSL* s = SSL_new(server_ctx(server));
    SSL* cl = SSL_new(tc.context().native_handle());
    BIO* cb = nullptr;
    BIO* sb = nullptr;
    REQUIRE(BIO_new_bio_pair(&cb, 0, &sb, 0) == 1);
    SSL_set_bio(cl, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_accept_state(s);
    SSL_set_connect_state(cl);
    REQUIRE(tc.prepare(cl));
    for (int i = 0; i < 20; ++i) {
        if (SSL_do_handshake(cl) == 1) break;
        SSL_do_handshake(s);
    }
    const std::string why = tc.describe_failure(cl, make_error_code(boost::system::errc::io_error));
    CHECK(why == "certificate verify failed: hostname mismatch (expected name \"other.test\")");
    SSL_free(cl);
    SSL_free(s);
    ERR_clear_error();
}
