#pragma once
// An etcd v3 client over its JSON gateway (POST /v3/kv/range, /v3/kv/txn, /v3/lease/grant,
// /v3/lease/keepalive, /v3/watch, /v3/auth/authenticate), with Beast on the admin thread's
// io_context. One short-lived connection per call (the calls are few: a keep-alive per
// interval, an ack per change), a long-lived one per watch. Endpoints are tried in order;
// the one that answered last is tried first next time. Keys and values are base64 on the
// wire; this interface speaks plain strings. int64 fields come back as JSON strings.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ssl/context.hpp>
#include <boost/json/object.hpp>

#include "proxy/config/config.hpp"
#include "proxy/net.hpp"

namespace maintgate::proxy::cluster {

struct etcd_kv {
    std::string key, value;
    std::int64_t mod_revision = 0;
    std::int64_t create_revision = 0;
    std::int64_t lease = 0;
};

struct etcd_reply {
    std::string error;  // empty: the call succeeded
    std::int64_t revision = 0;  // header.revision: the store's revision when it answered
    boost::json::object body;  // the whole answer (for txn and lease fields)
    std::vector<etcd_kv> kvs;  // range: the keys found; txn: those of its range responses
    bool ok() const noexcept { return error.empty(); }
};

// A watch event or notification, already decoded.
struct watch_message {
    std::int64_t revision = 0;  // header.revision
    bool created = false;
    bool canceled = false;
    std::int64_t compact_revision = 0;  // set when the start revision was compacted away
    std::string cancel_reason;
    struct event {
        bool deleted = false;
        etcd_kv kv;
    };
    std::vector<event> events;  // empty: a progress notification (or created/canceled)
};

// An int64 of the gateway's JSON: a string ("12"), or a number; 0 when missing.
std::int64_t json_int(const boost::json::object& o, std::string_view key);
// One etcd key-value object of the gateway ({"key":b64,"value":b64,"mod_revision":"5"...}).
etcd_kv decode_kv(const boost::json::object& o);
// One line of a watch stream ({"result":{...}}), or nullopt with why.
std::optional<watch_message> decode_watch_line(std::string_view line, std::string& error);

class etcd_client {
public:
    etcd_client(net::io_context& ioc, const cluster_config& c);

    // Reads the password file: "" or why not. Called once before start.
    std::string prepare();

    net::awaitable<etcd_reply> call(std::string path, boost::json::object body);

    net::awaitable<etcd_reply> range(std::string key, std::optional<std::string> range_end = std::nullopt);
    net::awaitable<etcd_reply> put(std::string key, std::string value, std::int64_t lease);
    // Puts value at key if key's mod_revision is mod_revision (0: if key does not exist);
    // the reply's body has "succeeded", and on failure kvs holds the key as it is.
    net::awaitable<etcd_reply> put_if(std::string key, std::string value, std::int64_t mod_revision);
    net::awaitable<etcd_reply> lease_grant(std::int64_t ttl_seconds);
    // The reply's body "TTL" is the lease's remaining seconds; 0 or missing: it is gone.
    net::awaitable<etcd_reply> lease_keepalive(std::int64_t id);

    // Streams a watch of key from start_revision with progress notifications; on_message
    // runs for every message and returns false to end the watch. Returns why the stream
    // ended ("" when on_message ended it). cancel() closes an open watch from outside.
    net::awaitable<std::string> watch(std::string key, std::int64_t start_revision,
                                      std::function<net::awaitable<bool>(const watch_message&)> on_message);
    void cancel_watch();
    // After a watch ended on etcd refusing its token: the next watch authenticates first.
    void forget_token_if_refused(const std::string& error);

    const std::string& endpoint_url() const noexcept { return cfg_.etcd[current_].url; }

private:
    struct connection;
    net::awaitable<std::string> connect(connection& c, const etcd_endpoint& ep);
    net::awaitable<etcd_reply> call_once(const etcd_endpoint& ep, const std::string& path, const std::string& body);
    net::awaitable<std::string> authenticate(const etcd_endpoint& ep);
    // Whether an error is etcd refusing the token this client holds (authenticate again).
    bool token_refused(const std::string& error) const;

    net::io_context& ioc_;
    const cluster_config& cfg_;
    std::unique_ptr<net::ssl::context> tls_;
    std::string password_;
    std::string token_;
    std::size_t current_ = 0;
    std::shared_ptr<connection> watching_;
};

}  // namespace maintgate::proxy::cluster
