// [reopen]: the automatic step back after a reopen step, and freeze's default wait.
#include "proxy/config/loader.hpp"

#include <chrono>
#include <optional>

#include "proxy/config/text.hpp"

namespace maintgate::config_detail {

namespace {

void read_max_error_rate(loader& l, const scope& s, std::string_view key, reopen_config& out) {
    const toml::node* node = s.table.get(key);
    if (!node) return;
    // An integer is accepted too: "max_error_rate = 1" is a natural way to write it.
    std::optional<double> rate;
    if (const auto* f = node->as_floating_point())
        rate = f->get();
    else if (const auto* n = node->as_integer())
        rate = static_cast<double>(n->get());
    if (!rate) {
        l.fail(*node, s.name(key) + ": expected a number such as 0.05 (5%), got " + describe(*node));
    } else if (!(*rate > 0.0 && *rate <= 1.0)) {  // written so that nan fails too
        l.fail(*node, s.name(key) + ": must be greater than 0 and at most 1 (a share: 0.05 is 5%), got " +
                          describe(*node));
    } else {
        out.max_error_rate = *rate;
    }
}

void read_freeze_timeout(loader& l, const scope& s, std::string_view key, reopen_config& out) {
    if (const auto d = l.positive_duration(s, key)) {
        // Users' writes are refused while a freeze waits; an hour is already a long outage.
        if (*d > std::chrono::hours(1))
            l.fail(*s.table.get(key),
                   s.name(key) + ": must be at most 1h, got " + quote(s.table.get(key)->as_string()->get()));
        else
            out.freeze_timeout = *d;
    }
}

constexpr field<reopen_config> reopen_fields[] = {
    {"watch", read_duration_or_zero<&reopen_config::watch>},
    {"max_error_rate", read_max_error_rate},
    {"min_requests", read_integer<&reopen_config::min_requests, 1, 1'000'000'000>},
    {"freeze_timeout", read_freeze_timeout},
    {"hooks", read_reopen_hooks, key_kind::table},
};

}  // namespace

void load_reopen(loader& l, const scope& top, std::string_view key, config& cfg) {
    if (const auto s = l.section(top, key)) {
        l.read_fields(*s, reopen_fields, "in [" + s->path + "]", cfg.reopen);
        check_reopen_hooks(l, *s, cfg);
    }
}

}  // namespace maintgate::config_detail
