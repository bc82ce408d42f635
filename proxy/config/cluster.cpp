// [cluster]: several replicas behind one gate through etcd v3 (proxy/cluster/). The
// post pass holds the rule that makes fencing safe: a replica fences itself at
// (last keep-alive acknowledged + lease_ttl - 2 x keepalive), which must come before
// etcd lets its lease expire, so 2 x keepalive must be shorter than lease_ttl.
#include "proxy/config/loader.hpp"

#include <chrono>
#include <optional>
#include <string>

#include "proxy/config/address.hpp"
#include "proxy/config/duration.hpp"
#include "proxy/config/text.hpp"

namespace maintgate::config_detail {

namespace {

void read_etcd(loader& l, const scope& s, std::string_view key, cluster_config& out) {
    const toml::node* node = s.table.get(key);
    const std::string name = s.name(key);
    if (!node) {
        l.fail(s.table.source(), name + ": missing; list the etcd endpoints, such as [\"http://127.0.0.1:2379\"]");
        return;
    }
    const auto* array = node->as_array();
    if (!array || array->empty()) {
        l.fail(*node, name + ": expected a non-empty array of URLs such as [\"http://127.0.0.1:2379\"], got " +
                          (array ? std::string("an empty array") : describe(*node)));
        return;
    }
    out.etcd.clear();
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = (*array)[i];
        const std::string element_name = name + "[" + std::to_string(i) + "]";
        const auto* text = element.as_string();
        if (!text) {
            l.fail(element, element_name + ": expected a URL such as \"http://127.0.0.1:2379\", got " +
                                describe(element));
            continue;
        }
        auto parsed = parse_upstream_url(text->get(), "the etcd URL");
        if (!parsed.error.empty()) {
            l.fail(element, element_name + ": " + parsed.error);
            continue;
        }
        const bool explicit_port = text->get().find(':', text->get().find("//") + 2) != std::string::npos &&
                                   text->get().back() != ']';
        etcd_endpoint ep;
        ep.url = text->get();
        ep.tls = parsed.tls;
        ep.host = parsed.host;
        // etcd's client port, not HTTP's, when the URL names none.
        ep.port = explicit_port ? parsed.port : std::uint16_t(2379);
        out.etcd.push_back(std::move(ep));
    }
}

void read_prefix(loader& l, const scope& s, std::string_view key, cluster_config& out) {
    const std::string* text = l.string_value(s, key, "a key prefix such as \"/maintgate/shop\"");
    if (!text) return;
    if (text->empty() || text->front() != '/' || text->back() == '/' || has_nul(*text)) {
        l.fail(*s.table.get(key), s.name(key) + ": " + quote(*text) +
                                      " must start with '/', not end with one, and hold no NUL");
        return;
    }
    out.prefix = *text;
}

void read_replica_id(loader& l, const scope& s, std::string_view key, cluster_config& out) {
    const std::string* text = l.string_value(s, key, "a name such as \"web-1\"");
    if (!text) return;
    const bool ok = !text->empty() && text->size() <= 128 &&
                    text->find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") ==
                        std::string::npos;
    if (!ok) {
        l.fail(*s.table.get(key), s.name(key) + ": " + quote(*text) +
                                      " must be 1-128 letters, digits, '.', '_', ':' or '-' (it is part of a key)");
        return;
    }
    out.replica_id = *text;
}

void read_fence_mode(loader& l, const scope& s, std::string_view key, cluster_config& out) {
    static constexpr std::string_view modes[] = {"read-only", "maintenance"};
    if (const auto m = l.one_of(s, key, modes)) out.fence_mode = *policy::parse_mode(*m);
}

template <auto Member>
void read_file_path(loader& l, const scope& s, std::string_view key, cluster_config& out) {
    if (auto p = l.path_value(s, key, "a file path", false)) out.*Member = std::move(*p);
}

void read_user(loader& l, const scope& s, std::string_view key, cluster_config& out) {
    if (const std::string* text = l.string_value(s, key, "an etcd user name")) out.user = *text;
}

constexpr field<cluster_config> cluster_fields[] = {
    {"etcd", read_etcd},
    {"prefix", read_prefix},
    {"replica_id", read_replica_id},
    {"lease_ttl", read_positive_duration<&cluster_config::lease_ttl>},
    {"keepalive", read_positive_duration<&cluster_config::keepalive>},
    {"fence_mode", read_fence_mode},
    {"resync", read_positive_duration<&cluster_config::resync>},
    {"request_timeout", read_positive_duration<&cluster_config::request_timeout>},
    {"tls_ca_file", read_file_path<&cluster_config::tls_ca_file>},
    {"tls_cert", read_file_path<&cluster_config::tls_cert>},
    {"tls_key", read_file_path<&cluster_config::tls_key>},
    {"user", read_user},
    {"password_file", read_file_path<&cluster_config::password_file>},
};

void check_cluster(loader& l, const scope& s, const cluster_config& c) {
    const auto at = [&s](std::string_view key) -> const toml::node* { return s.table.get(key); };
    if (c.keepalive * 2 >= c.lease_ttl) {
        const toml::node* node = at("keepalive") ? at("keepalive") : at("lease_ttl");
        std::string msg = s.name("keepalive") + ": " + format_duration(c.keepalive) +
                          " is too long for lease_ttl " + format_duration(c.lease_ttl) +
                          "; a replica fences itself at lease_ttl - 2 x keepalive after the last "
                          "keep-alive, which must be later than that keep-alive";
        if (node)
            l.fail(*node, std::move(msg));
        else
            l.fail(s.table.source(), std::move(msg));
    }
    if (c.lease_ttl < std::chrono::seconds(2) || c.lease_ttl > std::chrono::hours(1)) {
        if (const toml::node* node = at("lease_ttl"))
            l.fail(*node, s.name("lease_ttl") + ": must be between 2s and 1h (etcd counts it in seconds)");
    } else if (c.lease_ttl.count() % 1000 != 0) {
        if (const toml::node* node = at("lease_ttl"))
            l.fail(*node, s.name("lease_ttl") + ": must be whole seconds (etcd counts it in seconds)");
    }
    if (c.tls_cert.empty() != c.tls_key.empty()) {
        const toml::node* node = at("tls_cert") ? at("tls_cert") : at("tls_key");
        l.fail(*node, s.name(at("tls_cert") ? "tls_cert" : "tls_key") +
                          ": tls_cert and tls_key go together (a client certificate and its key)");
    }
    // TLS keys with no https:// endpoint would be read and never used: the operator
    // meant TLS and would get plain HTTP.
    bool any_tls = false;
    for (const auto& ep : c.etcd) any_tls |= ep.tls;
    const bool paired = c.tls_cert.empty() == c.tls_key.empty();  // else said above: one mistake, one message
    if (!any_tls && !c.etcd.empty() && paired)
        for (const char* key : {"tls_ca_file", "tls_cert", "tls_key"})
            if (const toml::node* node = at(key)) {
                l.fail(*node, s.name(key) + ": set, but every cluster.etcd URL is http://; give https:// URLs "
                                            "for TLS to etcd");
                break;
            }
    if (c.user.empty() != c.password_file.empty()) {
        const toml::node* node = at("user") ? at("user") : at("password_file");
        l.fail(*node, s.name(at("user") ? "user" : "password_file") +
                          ": user and password_file go together (etcd authentication)");
    }
}

}  // namespace

void load_cluster(loader& l, const scope& top, std::string_view key, config& cfg) {
    const auto s = l.section(top, key);
    if (!s) return;
    cluster_config c;
    l.read_fields(*s, cluster_fields, "in [" + s->path + "]", c);
    check_cluster(l, *s, c);
    cfg.cluster = std::move(c);
}

}  // namespace maintgate::config_detail
