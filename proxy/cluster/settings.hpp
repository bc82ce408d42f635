#pragma once
// Whether a reload changed [cluster]: the node runs with the settings it started with
// (its lease, watch and replica id are bound to them), so reload keeps them and says so.
#include <optional>

#include "proxy/config/config.hpp"

namespace maintgate::proxy::cluster {

bool settings_differ(const std::optional<cluster_config>& a, const std::optional<cluster_config>& b);

}  // namespace maintgate::proxy::cluster
