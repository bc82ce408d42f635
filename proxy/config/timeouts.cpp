// [timeouts]: the client side's deadlines. Every one is a duration greater than 0.
#include "proxy/config/loader.hpp"

namespace maintgate::config_detail {

namespace {

constexpr field<timeouts_config> timeouts_fields[] = {
    {"header", read_positive_duration<&timeouts_config::header>},
    {"body_idle", read_positive_duration<&timeouts_config::body_idle>},
    {"keepalive", read_positive_duration<&timeouts_config::keepalive>},
    {"send", read_positive_duration<&timeouts_config::send>},
    {"tunnel_idle", read_positive_duration<&timeouts_config::tunnel_idle>},
    {"expect_continue", read_positive_duration<&timeouts_config::expect_continue>},
    {"shutdown", read_positive_duration<&timeouts_config::shutdown>},
};

}  // namespace

void load_timeouts(loader& l, const scope& top, std::string_view key, config& cfg) {
    if (const auto s = l.section(top, key))
        l.read_fields(*s, timeouts_fields, "in [" + s->path + "]", cfg.timeouts);
}

}  // namespace maintgate::config_detail
