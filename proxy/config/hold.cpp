// [hold]: during a freeze, writes wait in their sessions instead of being refused, and
// are forwarded in arrival order once writes open again (proxy/http/hold.cpp).
#include "proxy/config/loader.hpp"

#include <chrono>

#include "proxy/config/text.hpp"

namespace maintgate::config_detail {

namespace {

void read_max_wait(loader& l, const scope& s, std::string_view key, hold_config& out) {
    if (const auto d = l.positive_duration(s, key)) {
        // A client (and its user) waits this long for an answer: past a few minutes every
        // browser and most HTTP clients have given up anyway.
        if (*d > std::chrono::minutes(10))
            l.fail(*s.table.get(key),
                   s.name(key) + ": must be at most 10m, got " + quote(s.table.get(key)->as_string()->get()));
        else
            out.max_wait = *d;
    }
}

void read_release_rate(loader& l, const scope& s, std::string_view key, hold_config& out) {
    const toml::node* node = s.table.get(key);
    if (!node) return;
    std::optional<double> rate;
    if (const auto* f = node->as_floating_point())
        rate = f->get();
    else if (const auto* n = node->as_integer())
        rate = static_cast<double>(n->get());
    if (!rate)
        l.fail(*node, s.name(key) + ": expected a number of writes per second such as 100, got " +
                          describe(*node));
    else if (!(*rate >= 0.1 && *rate <= 1'000'000.0))  // written so that nan fails too
        l.fail(*node, s.name(key) + ": must be between 0.1 and 1000000 writes per second, got " +
                          describe(*node));
    else
        out.release_rate = *rate;
}

constexpr field<hold_config> hold_fields[] = {
    {"enabled", read_boolean<&hold_config::enabled>},
    {"max_wait", read_max_wait},
    {"max_held", read_integer<&hold_config::max_held, 1, 1'000'000>},
    {"max_bytes", read_integer<&hold_config::max_bytes, 0, std::int64_t(1) << 40>},
    {"release_rate", read_release_rate},
    // Small on purpose: a held body is memory that nothing else can use.
    {"body_cap", read_integer<&hold_config::body_cap, 0, 64 * 1024>},
};

}  // namespace

void load_hold(loader& l, const scope& top, std::string_view key, config& cfg) {
    if (const auto s = l.section(top, key)) l.read_fields(*s, hold_fields, "in [" + s->path + "]", cfg.hold);
}

}  // namespace maintgate::config_detail
