// [forwarding]: what the proxy adds to and strips from what it forwards.
#include "proxy/config/loader.hpp"

namespace maintgate::config_detail {

namespace {

void read_trusted_proxies(loader& l, const scope& s, std::string_view key, forwarding_config& out) {
    if (const toml::node* node = s.table.get(key)) l.load_cidrs(*node, s.name(key), out.trusted_proxies);
}

void read_underscores(loader& l, const scope& s, std::string_view key, forwarding_config& out) {
    constexpr std::string_view underscore_choices[] = {"drop", "reject", "forward"};
    if (const auto choice = l.one_of(s, key, underscore_choices)) {
        out.underscores_in_headers = *choice == "reject"    ? underscores_policy::reject
                                     : *choice == "forward" ? underscores_policy::forward
                                                            : underscores_policy::drop;
    }
}

constexpr field<forwarding_config> forwarding_fields[] = {
    {"trusted_proxies", read_trusted_proxies},
    {"via", read_boolean<&forwarding_config::via>},
    {"underscores_in_headers", read_underscores},
};

}  // namespace

void load_forwarding(loader& l, const scope& top, std::string_view key, config& cfg) {
    if (const auto s = l.section(top, key))
        l.read_fields(*s, forwarding_fields, "in [" + s->path + "]", cfg.forwarding);
}

}  // namespace maintgate::config_detail
