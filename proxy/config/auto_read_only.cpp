// [auto_read_only]: the gate moves from open to read-only by itself when the app says so
// (a response header), when writes fail (a 5xx share over a window), or when a probe
// fails; it leaves through the writes stage (proxy/admin/auto_read_only.cpp).
#include "proxy/config/loader.hpp"

#include <optional>

#include "policy/ascii.hpp"
#include "proxy/config/text.hpp"

namespace maintgate::config_detail {

namespace {

void read_header(loader& l, const scope& s, std::string_view key, auto_read_only_config& out) {
    if (const std::string* h = l.string_value(s, key, "a header name such as \"Maintgate-Write-State\"")) {
        if (h->empty() || !is_token(*h)) {
            l.fail(*s.table.get(key), s.name(key) + ": " + quote(*h) + " is not a header name");
        } else {
            out.header = *h;
            for (char& c : out.header) c = policy::ascii_lower(c);
        }
    }
}

void read_error_threshold(loader& l, const scope& s, std::string_view key, auto_read_only_config& out) {
    const toml::node* node = s.table.get(key);
    if (!node) return;
    std::optional<double> rate;
    if (const auto* f = node->as_floating_point())
        rate = f->get();
    else if (const auto* n = node->as_integer())
        rate = static_cast<double>(n->get());
    if (!rate)
        l.fail(*node, s.name(key) + ": expected a number such as 0.5 (50%), got " + describe(*node));
    else if (!(*rate > 0.0 && *rate <= 1.0))  // written so that nan fails too
        l.fail(*node, s.name(key) + ": must be greater than 0 and at most 1 (a share: 0.5 is 50%), got " +
                          describe(*node));
    else
        out.error_threshold = *rate;
}

void read_probe(loader& l, const scope& s, std::string_view key, auto_read_only_config& out) {
    const toml::node* node = s.table.get(key);
    if (!node) return;
    const auto* t = node->as_table();
    if (!t) {
        l.fail(*node, s.name(key) + ": expected a table ([" + s.name(key) + "]) with the keys of [health_check], got " +
                          describe(*node));
        return;
    }
    const scope ps{*t, s.name(key)};
    check_request c;
    load_check_table(l, ps, "[" + ps.path + "]", c, &out.probe_interval);
    out.probe = std::move(c);
}

constexpr field<auto_read_only_config> auto_read_only_fields[] = {
    {"enabled", read_boolean<&auto_read_only_config::enabled>},
    {"header", read_header},
    {"error_threshold", read_error_threshold},
    {"min_writes", read_integer<&auto_read_only_config::min_writes, 1, 1'000'000'000>},
    {"window", read_positive_duration<&auto_read_only_config::window>},
    {"probe", read_probe, key_kind::table},
    {"recover_after", read_duration_or_zero<&auto_read_only_config::recover_after>},
    {"ttl", read_positive_duration<&auto_read_only_config::ttl>},
};

}  // namespace

void load_auto_read_only(loader& l, const scope& top, std::string_view key, config& cfg) {
    if (const auto s = l.section(top, key))
        l.read_fields(*s, auto_read_only_fields, "in [" + s->path + "]", cfg.auto_read_only);
}

}  // namespace maintgate::config_detail
