// [spool] and the spool keys of a webhook [[rule]]: where and how much the webhook spool
// stores, how it replays, and what each spooled route checks (its keys, its signature).
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "proxy/config/loader.hpp"
#include "proxy/config/text.hpp"
#include "proxy/spool/signature.hpp"

namespace maintgate::config_detail {

namespace {

void read_dir(loader& l, const scope& s, std::string_view key, spool_settings& out) {
    if (auto p = l.path_value(s, key, "a folder such as \"/var/lib/maintgate/spool\"", true)) out.dir = *p;
}

template <auto Member, std::int64_t Lowest, std::int64_t Highest>
void read_u64(loader& l, const scope& s, std::string_view key, spool_settings& out) {
    if (const auto n = l.integer(s, key, Lowest, Highest)) out.*Member = static_cast<std::uint64_t>(*n);
}

void read_concurrency(loader& l, const scope& s, std::string_view key, spool_settings& out) {
    if (const auto n = l.integer(s, key, 1, 256)) out.concurrency = static_cast<unsigned>(*n);
}

void read_max_attempts(loader& l, const scope& s, std::string_view key, spool_settings& out) {
    if (const auto n = l.integer(s, key, 1, 1000)) out.max_attempts = static_cast<unsigned>(*n);
}

void read_rate(loader& l, const scope& s, std::string_view key, spool_settings& out) {
    const toml::node* n = s.table.get(key);
    if (!n) return;
    std::optional<double> v;
    if (const auto* i = n->as_integer()) v = static_cast<double>(i->get());
    if (const auto* f = n->as_floating_point()) v = f->get();
    if (!v || *v < 0 || *v > 100'000) {
        l.fail(*n, s.name(key) + ": expected deliveries per second from 0 (unlimited) to 100000, got " +
                       describe(*n));
        return;
    }
    out.rate = *v;
}

void read_commit_interval(loader& l, const scope& s, std::string_view key, spool_settings& out) {
    if (const auto d = l.duration_value(s, key, true)) {
        if (d->count() > 1000)
            l.fail(*s.table.get(key), s.name(key) + ": at most 1s (every spooled request waits this long)");
        else
            out.commit_interval = *d;
    }
}

constexpr field<spool_settings> spool_fields[] = {
    {"dir", read_dir},
    {"max_bytes", read_u64<&spool_settings::max_bytes, 1024, std::int64_t(1) << 50>},
    {"max_events", read_u64<&spool_settings::max_events, 1, 100'000'000>},
    {"max_age", read_positive_duration<&spool_settings::max_age>},
    {"max_event_bytes", read_u64<&spool_settings::max_event_bytes, 1, 64 << 20>},
    {"segment_bytes", read_u64<&spool_settings::segment_bytes, 4096, std::int64_t(1) << 32>},
    {"dedupe_ttl", read_positive_duration<&spool_settings::dedupe_ttl>},
    {"commit_interval", read_commit_interval},
    {"concurrency", read_concurrency},
    {"rate", read_rate},
    {"retry_base", read_positive_duration<&spool_settings::retry_base>},
    {"retry_cap", read_positive_duration<&spool_settings::retry_cap>},
    {"max_attempts", read_max_attempts},
    {"delivery_timeout", read_positive_duration<&spool_settings::delivery_timeout>},
};

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

void load_spool(loader& l, const scope& top, std::string_view key, config& cfg) {
    if (const auto s = l.section(top, key)) {
        l.read_fields(*s, spool_fields, "in [" + s->path + "]", cfg.spool);
        if (cfg.spool.retry_cap < cfg.spool.retry_base)
            l.fail(s->table, s->path + ": retry_cap must not be below retry_base");
        if (cfg.spool.dir.empty()) l.fail(s->table, s->path + ": \"dir\" is required: where the spool is kept");
    }
}

void read_rule_key(loader& l, const scope& s, std::string_view key, request_key& out) {
    const std::string* v = l.string_value(s, key, "a key source such as \"header:X-GitHub-Delivery\"");
    if (!v) return;
    constexpr std::string_view prefix = "header:";
    const std::string_view text = *v;
    if (!text.starts_with(prefix) || !is_token(text.substr(prefix.size()))) {
        l.fail(*s.table.get(key), s.name(key) + ": " + quote(*v) +
                                      " is not a key source; write \"header:NAME\" such as \"header:X-GitHub-Delivery\"");
        return;
    }
    out.header = lower(std::string(text.substr(prefix.size())));
}

void read_rule_signature(loader& l, const scope& s, std::string_view key, webhook_spool& out) {
    constexpr std::string_view names[] = {"none", "github", "stripe", "standard-webhooks"};
    if (const auto v = l.one_of(s, key, names)) out.signature = *spool::parse_signature_scheme(*v);
}

void read_rule_secret_file(loader& l, const scope& s, std::string_view key, webhook_spool& out) {
    const auto p = l.path_value(s, key, "a file holding the webhook secret", false);
    if (!p || p->empty()) return;
    std::ifstream f(*p, std::ios::binary);
    if (!f) {
        l.fail(*s.table.get(key), s.name(key) + ": cannot read " + quote(*p));
        return;
    }
    std::ostringstream text;
    text << f.rdbuf();
    std::string secret = text.str();
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    if (secret.empty()) {
        l.fail(*s.table.get(key), s.name(key) + ": " + quote(*p) + " is empty");
        return;
    }
    out.secret = std::move(secret);
}

void read_rule_secret_env(loader& l, const scope& s, std::string_view key, webhook_spool& out) {
    const std::string* v = l.string_value(s, key, "an environment variable name such as \"GITHUB_WEBHOOK_SECRET\"");
    if (!v) return;
    if (s.table.get("secret_file")) {
        l.fail(*s.table.get(key), s.name(key) + ": give secret_file or secret_env, not both");
        return;
    }
    const char* value = std::getenv(v->c_str());
    if (!value || !*value) {
        l.fail(*s.table.get(key), s.name(key) + ": the environment variable " + quote(*v) + " is not set");
        return;
    }
    out.secret = value;
}

void check_rule_spool(loader& l, const scope& s, bool is_webhook, webhook_spool& w) {
    const toml::node& at = s.table;
    w.where = l.position(at);
    const bool any = s.table.get("spool") || s.table.get("dedupe_key") || s.table.get("order_key") ||
                     s.table.get("signature") || s.table.get("secret_file") || s.table.get("secret_env") ||
                     s.table.get("tolerance");
    if (any && !is_webhook) {
        l.fail(at, s.path + ": spool, dedupe_key, order_key and signature apply to action = \"webhook\" only");
        w = {};
        return;
    }
    if (!w.spool && (s.table.get("dedupe_key") || s.table.get("order_key") || s.table.get("signature")))
        l.fail(at, s.path + ": dedupe_key, order_key and signature take effect with spool = true");
    if (w.signature != signature_scheme::none && w.secret.empty() && !s.table.get("secret_file") &&
        !s.table.get("secret_env"))
        l.fail(at, s.path + ": signature = " + quote(spool::to_string(w.signature)) +
                       " needs secret_file or secret_env");
}

void check_spool(loader& l, const config& cfg) {
    if (!cfg.spool.dir.empty()) return;
    for (const auto& w : cfg.gate.spool_rules) {
        if (!w.spool) continue;
        // The position is the rule's, kept as text: split it back for the error list.
        const auto c2 = w.where.rfind(':');
        const auto c1 = w.where.rfind(':', c2 - 1);
        l.fail_in(w.where.substr(0, c1), static_cast<std::uint32_t>(std::stoul(w.where.substr(c1 + 1, c2 - c1 - 1))),
                  static_cast<std::uint32_t>(std::stoul(w.where.substr(c2 + 1))),
                  "spool = true needs a [spool] section with dir");
    }
}

}  // namespace maintgate::config_detail
