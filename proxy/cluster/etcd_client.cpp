#include "proxy/cluster/etcd_client.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "proxy/cluster/base64.hpp"

namespace maintgate::proxy::cluster {
namespace js = boost::json;
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
// A watch line or a reply larger than this is not etcd talking to us about one key.
constexpr std::size_t max_body = 4 * 1024 * 1024;

std::string b64(std::string_view s) { return base64_encode(s); }

std::string unb64(const js::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (!v || !v->is_string()) return {};
    auto d = base64_decode(v->as_string());
    return d ? *d : std::string();
}

// The gateway's error body: {"error":"...","message":"...","code":N}; etcd's own HTTP
// layer answers some refusals in plain text instead (one line), which is kept too.
std::string gateway_error(unsigned status, const std::string& body) {
    js::error_code ec;
    auto v = js::parse(body, ec);
    const std::string code = " (HTTP " + std::to_string(status) + ")";
    if (!ec && v.is_object()) {
        const auto& o = v.as_object();
        for (const char* k : {"message", "error"})
            if (const auto* m = o.if_contains(k); m && m->is_string() && !m->as_string().empty())
                return "etcd: " + std::string(m->as_string()) + code;
    }
    std::string text = body.substr(0, std::min<std::size_t>(body.find('\n'), 200));
    const bool printable = !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) {
        return c >= 0x20 && c < 0x7f;
    });
    if (!ec || !printable) return "etcd: HTTP " + std::to_string(status);
    std::string out = "etcd: " + text + code;
    // etcd 3.4 with auth enabled refuses, on its JSON gateway, every client certificate
    // that has a CommonName (it would not be used as the user): say what to change.
    if (text.find("CommonName") != std::string::npos)
        out += "; with auth enabled, etcd's gateway takes only client certificates without a CommonName "
               "(tls_cert)";
    return out;
}

}  // namespace

std::int64_t json_int(const js::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (!v) return 0;
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
    if (v->is_string()) {
        try {
            return std::stoll(std::string(v->as_string()));
        } catch (const std::exception&) {
            return 0;
        }
    }
    return 0;
}

etcd_kv decode_kv(const js::object& o) {
    etcd_kv kv;
    kv.key = unb64(o, "key");
    kv.value = unb64(o, "value");
    kv.mod_revision = json_int(o, "mod_revision");
    kv.create_revision = json_int(o, "create_revision");
    kv.lease = json_int(o, "lease");
    return kv;
}

std::optional<watch_message> decode_watch_line(std::string_view line, std::string& error) {
    js::error_code ec;
    auto v = js::parse(line, ec);
    if (ec || !v.is_object()) {
        error = "watch: not a JSON object";
        return std::nullopt;
    }
    const auto& top = v.as_object();
    const auto* result = top.if_contains("result");
    if (!result || !result->is_object()) {
        if (const auto* e = top.if_contains("error"); e && e->is_object()) {
            const auto* m = e->as_object().if_contains("message");
            error = "watch: " + (m && m->is_string() ? std::string(m->as_string()) : std::string("error"));
        } else {
            error = "watch: no result";
        }
        return std::nullopt;
    }
    const auto& r = result->as_object();
    watch_message m;
    if (const auto* h = r.if_contains("header"); h && h->is_object()) m.revision = json_int(h->as_object(), "revision");
    const auto flag = [&r](std::string_view k) {
        const auto* f = r.if_contains(k);
        return f && f->is_bool() && f->as_bool();
    };
    m.created = flag("created");
    m.canceled = flag("canceled");
    m.compact_revision = json_int(r, "compact_revision");
    if (const auto* c = r.if_contains("cancel_reason"); c && c->is_string()) m.cancel_reason = c->as_string();
    if (const auto* evs = r.if_contains("events"); evs && evs->is_array()) {
        for (const auto& e : evs->as_array()) {
            if (!e.is_object()) continue;
            const auto& eo = e.as_object();
            watch_message::event ev;
            if (const auto* t = eo.if_contains("type"); t && t->is_string()) ev.deleted = t->as_string() == "DELETE";
            if (const auto* kv = eo.if_contains("kv"); kv && kv->is_object()) ev.kv = decode_kv(kv->as_object());
            m.events.push_back(std::move(ev));
        }
    }
    return m;
}

struct etcd_client::connection {
    connection(net::io_context& ioc, net::ssl::context* tls_ctx) {
        if (tls_ctx)
            tls.emplace(ioc, *tls_ctx);
        else
            plain.emplace(ioc);
    }
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> tls;

    beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
    template <class F>
    auto with(F&& f) {
        if (tls) return f(*tls);
        return f(*plain);
    }
};

etcd_client::etcd_client(net::io_context& ioc, const cluster_config& c) : ioc_(ioc), cfg_(c) {}

std::string etcd_client::prepare() {
    if (!cfg_.password_file.empty()) {
        std::ifstream in(cfg_.password_file);
        if (!in) return "cannot read cluster.password_file " + cfg_.password_file;
        std::getline(in, password_);
    }
    bool any_tls = false;
    for (const auto& ep : cfg_.etcd) any_tls |= ep.tls;
    if (any_tls) {
        try {
            tls_ = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
            tls_->set_verify_mode(net::ssl::verify_peer);
            if (cfg_.tls_ca_file.empty())
                tls_->set_default_verify_paths();
            else
                tls_->load_verify_file(cfg_.tls_ca_file);
            if (!cfg_.tls_cert.empty()) {
                tls_->use_certificate_chain_file(cfg_.tls_cert);
                tls_->use_private_key_file(cfg_.tls_key, net::ssl::context::pem);
            }
        } catch (const std::exception& e) {
            return std::string("cluster TLS: ") + e.what();
        }
    }
    return {};
}

net::awaitable<std::string> etcd_client::connect(connection& c, const etcd_endpoint& ep) {
    if (ep.tls && !c.tls) co_return "no TLS context for " + ep.url;
    c.tcp().expires_after(cfg_.request_timeout);
    tcp::resolver resolver(ioc_);
    auto [rec, results] = co_await resolver.async_resolve(ep.host, std::to_string(ep.port), use_tuple);
    if (rec) co_return "cannot resolve " + ep.host + ": " + rec.message();
    auto [cec, where] = co_await c.tcp().async_connect(results, use_tuple);
    if (cec) co_return "cannot connect to " + ep.url + ": " + cec.message();
    error_code ignored;
    c.tcp().socket().set_option(tcp::no_delay(true), ignored);
    if (c.tls) {
        SSL* ssl = c.tls->native_handle();
        // An IP address is checked against the certificate's IP entries and is never
        // sent as SNI (RFC 6066 carries host names only); a name against its DNS entries.
        error_code aec;
        net::ip::make_address(ep.host, aec);
        const bool ip = !aec;
        const bool named = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ep.host.c_str()) == 1
                              : SSL_set_tlsext_host_name(ssl, ep.host.c_str()) == 1 &&
                                    SSL_set1_host(ssl, ep.host.c_str()) == 1;
        if (!named) co_return "TLS: cannot set the name to check for " + ep.url;
        auto [hec] = co_await c.tls->async_handshake(net::ssl::stream_base::client, use_tuple);
        if (hec) {
            // "certificate verify failed" alone does not say what to fix: OpenSSL's
            // verify result does (an unknown issuer: tls_ca_file; a name mismatch).
            std::string why = hec.message();
            if (const long v = SSL_get_verify_result(ssl); v != X509_V_OK)
                why = std::string("certificate verify failed: ") + X509_verify_cert_error_string(v) +
                      " (tls_ca_file " + (cfg_.tls_ca_file.empty() ? std::string("unset: the system store")
                                                                   : cfg_.tls_ca_file) + ")";
            co_return "TLS handshake with " + ep.url + ": " + why;
        }
    }
    co_return std::string();
}

net::awaitable<etcd_reply> etcd_client::call_once(const etcd_endpoint& ep, const std::string& path,
                                                  const std::string& body) {
    etcd_reply out;
    connection c(ioc_, ep.tls ? tls_.get() : nullptr);
    if (auto err = co_await connect(c, ep); !err.empty()) {
        out.error = err;
        co_return out;
    }
    http::request<http::string_body> req{http::verb::post, path, 11};
    req.set(http::field::host, ep.host + ":" + std::to_string(ep.port));
    req.set(http::field::content_type, "application/json");
    req.set(http::field::connection, "close");
    if (!token_.empty()) req.set(http::field::authorization, token_);
    req.body() = body;
    req.prepare_payload();
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_body);
    auto [wec, wn] = co_await c.with([&](auto& s) { return http::async_write(s, req, use_tuple); });
    if (wec) {
        out.error = "send to " + ep.url + ": " + wec.message();
        co_return out;
    }
    auto [rec, rn] = co_await c.with([&](auto& s) { return http::async_read(s, buf, parser, use_tuple); });
    if (rec) {
        out.error = "read from " + ep.url + ": " + rec.message();
        co_return out;
    }
    const auto& res = parser.get();
    if (res.result_int() != 200) {
        out.error = gateway_error(res.result_int(), res.body());
        co_return out;
    }
    js::error_code jec;
    auto v = js::parse(res.body(), jec);
    // keepalive answers {"result":{...}} like a stream; everything else is the object.
    if (!jec && v.is_object() && v.as_object().contains("result") && v.as_object().at("result").is_object())
        v = v.as_object().at("result");
    if (jec || !v.is_object()) {
        out.error = "etcd: not a JSON object from " + ep.url;
        co_return out;
    }
    out.body = std::move(v.as_object());
    if (const auto* h = out.body.if_contains("header"); h && h->is_object())
        out.revision = json_int(h->as_object(), "revision");
    const auto take_kvs = [&out](const js::object& o) {
        if (const auto* kvs = o.if_contains("kvs"); kvs && kvs->is_array())
            for (const auto& kv : kvs->as_array())
                if (kv.is_object()) out.kvs.push_back(decode_kv(kv.as_object()));
    };
    take_kvs(out.body);
    if (const auto* rs = out.body.if_contains("responses"); rs && rs->is_array())
        for (const auto& r : rs->as_array())
            if (r.is_object())
                if (const auto* rr = r.as_object().if_contains("response_range"); rr && rr->is_object())
                    take_kvs(rr->as_object());
    co_return out;
}

net::awaitable<std::string> etcd_client::authenticate(const etcd_endpoint& ep) {
    token_.clear();
    js::object o{{"name", cfg_.user}, {"password", password_}};
    const std::string path = "/v3/auth/authenticate", body = js::serialize(o);
    auto r = co_await call_once(ep, path, body);
    // Named for the operator: which user, since a wrong password and a wrong user read alike.
    if (!r.ok()) co_return "etcd authentication as user " + cfg_.user + " failed: " + r.error;
    const auto* t = r.body.if_contains("token");
    if (!t || !t->is_string() || t->as_string().empty())
        co_return "etcd authentication as user " + cfg_.user + " gave no token (is auth enabled on etcd?)";
    token_ = t->as_string();
    co_return std::string();
}

bool etcd_client::token_refused(const std::string& error) const {
    // etcd's words for a token it no longer knows (restarted, expired, revoked); its
    // gateway answers HTTP 401 for them.
    return !cfg_.user.empty() && !token_.empty() &&
           (error.find("invalid auth token") != std::string::npos || error.find("HTTP 401") != std::string::npos);
}

net::awaitable<etcd_reply> etcd_client::call(std::string path, js::object body) {
    const std::string text = js::serialize(body);
    etcd_reply last;
    // Each endpoint once, starting with the one that answered last.
    for (std::size_t n = 0; n < cfg_.etcd.size(); ++n) {
        const auto& ep = cfg_.etcd[current_];
        if (!cfg_.user.empty() && token_.empty()) {
            if (auto err = co_await authenticate(ep); !err.empty()) {
                last.error = err;
                current_ = (current_ + 1) % cfg_.etcd.size();
                continue;
            }
        }
        last = co_await call_once(ep, path, text);
        if (!last.ok() && token_refused(last.error)) {
            // An expired token (etcd restarted, or its TTL passed): once more with a new one.
            spdlog::info("cluster: etcd token refused ({}); authenticating again", last.error);
            if (auto err = co_await authenticate(ep); err.empty())
                last = co_await call_once(ep, path, text);
            else
                last.error = err;
        }
        // A refusal from etcd itself (HTTP 4xx/5xx with a message) is an answer, not a
        // dead endpoint; only connection failures move on.
        if (last.ok() || last.error.starts_with("etcd: ")) co_return last;
        current_ = (current_ + 1) % cfg_.etcd.size();
    }
    co_return last;
}

net::awaitable<etcd_reply> etcd_client::range(std::string key, std::optional<std::string> range_end) {
    js::object o{{"key", b64(key)}};
    if (range_end) o["range_end"] = b64(*range_end);
    std::string path = "/v3/kv/range";
    co_return co_await call(std::move(path), std::move(o));
}

net::awaitable<etcd_reply> etcd_client::put(std::string key, std::string value, std::int64_t lease) {
    js::object o{{"key", b64(key)}, {"value", b64(value)}};
    if (lease) o["lease"] = std::to_string(lease);
    std::string path = "/v3/kv/put";
    co_return co_await call(std::move(path), std::move(o));
}

net::awaitable<etcd_reply> etcd_client::put_if(std::string key, std::string value, std::int64_t mod_revision) {
    const std::string k = b64(key);
    js::object cmp{{"key", k}, {"result", "EQUAL"}};
    if (mod_revision == 0) {
        cmp["target"] = "CREATE";
        cmp["create_revision"] = "0";
    } else {
        cmp["target"] = "MOD";
        cmp["mod_revision"] = std::to_string(mod_revision);
    }
    js::object o{{"compare", js::array{cmp}},
                 {"success", js::array{js::object{{"request_put", js::object{{"key", k}, {"value", b64(value)}}}}}},
                 {"failure", js::array{js::object{{"request_range", js::object{{"key", k}}}}}}};
    std::string path = "/v3/kv/txn";
    co_return co_await call(std::move(path), std::move(o));
}

net::awaitable<etcd_reply> etcd_client::lease_grant(std::int64_t ttl_seconds) {
    // Named locals: GCC 12 cannot take an initializer list with literals across co_await.
    js::object o;
    o["TTL"] = std::to_string(ttl_seconds);
    std::string path = "/v3/lease/grant";
    co_return co_await call(std::move(path), std::move(o));
}

net::awaitable<etcd_reply> etcd_client::lease_keepalive(std::int64_t id) {
    js::object o;
    o["ID"] = std::to_string(id);
    std::string path = "/v3/lease/keepalive";
    co_return co_await call(std::move(path), std::move(o));
}

void etcd_client::forget_token_if_refused(const std::string& error) {
    // The watch cannot retry in place (its stream is gone): the next one authenticates.
    if (token_refused(error) || (!token_.empty() && error.find("token") != std::string::npos)) {
        spdlog::info("cluster: etcd token refused for the watch ({}); authenticating again", error);
        token_.clear();
    }
}

void etcd_client::cancel_watch() {
    if (watching_) {
        error_code ignored;
        watching_->tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
        watching_->tcp().cancel();
    }
}

net::awaitable<std::string> etcd_client::watch(std::string key, std::int64_t start_revision,
                                               std::function<net::awaitable<bool>(const watch_message&)> on_message) {
    const auto& ep = cfg_.etcd[current_];
    if (!cfg_.user.empty() && token_.empty())
        if (auto err = co_await authenticate(ep); !err.empty()) co_return err;
    auto c = std::make_shared<connection>(ioc_, ep.tls ? tls_.get() : nullptr);
    if (auto err = co_await connect(*c, ep); !err.empty()) {
        current_ = (current_ + 1) % cfg_.etcd.size();
        co_return err;
    }
    watching_ = c;
    struct forget {
        etcd_client& self;
        std::shared_ptr<connection> c;
        ~forget() {
            if (self.watching_ == c) self.watching_.reset();
        }
    } forget_on_exit{*this, c};

    js::object create{{"key", b64(key)}, {"start_revision", std::to_string(start_revision)}, {"progress_notify", true}};
    http::request<http::string_body> req{http::verb::post, "/v3/watch", 11};
    req.set(http::field::host, ep.host + ":" + std::to_string(ep.port));
    req.set(http::field::content_type, "application/json");
    if (!token_.empty()) req.set(http::field::authorization, token_);
    req.body() = js::serialize(js::object{{"create_request", create}});
    req.prepare_payload();
    auto [wec, wn] = co_await c->with([&](auto& s) { return http::async_write(s, req, use_tuple); });
    if (wec) co_return "watch: send: " + wec.message();

    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);
    // The stream stays open as long as etcd does: no deadline on its reads. A dead etcd
    // shows in the keep-alives, and the node cancels the watch then.
    c->tcp().expires_never();
    auto [hec, hn] = co_await c->with([&](auto& s) { return http::async_read_header(s, buf, parser, use_tuple); });
    if (hec) co_return "watch: " + hec.message();
    if (parser.get().result_int() != 200) {
        const auto status = parser.get().result_int();
        // The error body is small; read it for etcd's words, under the request timeout.
        c->tcp().expires_after(cfg_.request_timeout);
        auto [bec, bn] = co_await c->with([&](auto& s) { return http::async_read(s, buf, parser, use_tuple); });
        std::string err = "watch: " + gateway_error(status, bec ? std::string() : parser.get().body());
        forget_token_if_refused(err);
        co_return err;
    }
    std::size_t scanned = 0;
    for (;;) {
        auto& body = parser.get().body();
        // The gateway writes one JSON object per line.
        for (;;) {
            const auto nl = body.find('\n', scanned);
            if (nl == std::string::npos) {
                scanned = body.size();
                break;
            }
            std::string line = body.substr(0, nl);
            body.erase(0, nl + 1);
            scanned = 0;
            if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
            std::string error;
            auto m = decode_watch_line(line, error);
            if (!m) {
                forget_token_if_refused(error);
                co_return error;
            }
            if (!co_await on_message(*m)) co_return std::string();
        }
        if (body.size() > max_body) co_return std::string("watch: a line over 4 MiB");
        if (parser.is_done()) co_return std::string("watch: etcd ended the stream");
        auto [ec, n] = co_await c->with([&](auto& s) { return http::async_read_some(s, buf, parser, use_tuple); });
        if (ec) co_return "watch: " + ec.message();
    }
}

}  // namespace maintgate::proxy::cluster
