#include "proxy/cluster/settings.hpp"

#include <tuple>

namespace maintgate::proxy::cluster {

bool settings_differ(const std::optional<cluster_config>& a, const std::optional<cluster_config>& b) {
    if (a.has_value() != b.has_value()) return true;
    if (!a) return false;
    const auto urls = [](const cluster_config& c) {
        std::vector<std::string> v;
        for (const auto& e : c.etcd) v.push_back(e.url);
        return v;
    };
    const auto tie = [](const cluster_config& c) {
        return std::tie(c.prefix, c.replica_id, c.lease_ttl, c.keepalive, c.fence_mode, c.resync, c.request_timeout,
                        c.tls_ca_file, c.tls_cert, c.tls_key, c.user, c.password_file);
    };
    return urls(*a) != urls(*b) || tie(*a) != tie(*b);
}

}  // namespace maintgate::proxy::cluster
