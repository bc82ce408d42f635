// [[rule]]: the exceptions to the mode, each with the reason it exists.
#include "proxy/config/loader.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>

#include "proxy/config/text.hpp"

namespace maintgate::config_detail {

namespace {

constexpr std::string_view rule_actions[] = {"allow", "read", "allow-writes-in-read-only", "webhook"};

struct rule_draft {
    policy::rule r;
    bool ok = true;  // false: reported, and the rule is left out
    int matchers = 0;  // path, path_prefix and path_regex present
    bool has_host = false;
    webhook_spool spool;  // action = "webhook" only
    std::optional<bool> banner;  // banner = false: the rule also opts its routes out of the banner
    bool gate = true;  // false: a banner-only rule (no action), never seen by the gate
};

// path and path_prefix: compared with the normalised path.
void read_rule_path(loader& l, const scope& s, std::string_view key, std::string_view expected, rule_draft& d,
                    std::string& target) {
    if (const std::string* v = l.string_value(s, key, expected)) {
        ++d.matchers;
        if (v->empty() || v->front() != '/')
            l.fail(*s.table.get(key), s.name(key) + ": " + quote(*v) + " must start with \"/\"");
        else
            target = *v;
    }
}

void read_path(loader& l, const scope& s, std::string_view key, rule_draft& d) {
    read_rule_path(l, s, key, "a path such as \"/login\"", d, d.r.path);
}

void read_path_prefix(loader& l, const scope& s, std::string_view key, rule_draft& d) {
    read_rule_path(l, s, key, "a path such as \"/healthz\"", d, d.r.path_prefix);
}

void read_path_regex(loader& l, const scope& s, std::string_view key, rule_draft& d) {
    if (const std::string* v =
            l.string_value(s, key, "a regular expression such as \"^/api/v[0-9]+/search$\"")) {
        ++d.matchers;
        auto compiled = policy::path_regex::compile(*v);
        if (compiled.value) {
            d.r.regex = std::move(*compiled.value);
        } else {
            // Point at the offending character inside the quoted string.
            const toml::node& n = *s.table.get(key);
            toml::source_region at = n.source();
            at.begin.column += static_cast<toml::source_index>(1 + compiled.offset);
            l.fail(at, s.name(key) + ": " + compiled.error);
            d.ok = false;
        }
    }
}

void read_methods(loader& l, const scope& s, std::string_view key, rule_draft& d) {
    const toml::node* m = s.table.get(key);
    if (!m) return;
    const auto* methods = m->as_array();
    if (!methods) {
        l.fail(*m, s.name(key) + ": expected an array such as [\"POST\"], got " + describe(*m));
        d.ok = false;
        return;
    }
    for (std::size_t j = 0; j < methods->size(); ++j) {
        const toml::node& e = (*methods)[j];
        const auto* text = e.as_string();
        const std::string mpath = s.name(key) + "[" + std::to_string(j) + "]";
        if (!text || !is_token(text->get())) {
            l.fail(e, mpath + ": expected a method name such as \"POST\", got " + describe(e));
            d.ok = false;
        } else if (std::any_of(text->get().begin(), text->get().end(),
                               [](unsigned char c) { return std::islower(c); })) {
            // Methods are case-sensitive; "post" would never match a real POST.
            l.fail(e, mpath + ": " + quote(text->get()) + " is not upper-case; methods are case-sensitive");
            d.ok = false;
        } else {
            d.r.methods.push_back(text->get());
        }
    }
}

void read_host(loader& l, const scope& s, std::string_view key, rule_draft& d) {
    d.has_host = s.table.get(key) != nullptr;
    if (const std::string* h = l.string_value(s, key, "a host name such as \"app.example.com\"")) {
        d.r.host = *h;
        std::transform(d.r.host.begin(), d.r.host.end(), d.r.host.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    }
}

void read_banner(loader& l, const scope& s, std::string_view key, rule_draft& d) {
    if (const auto b = l.boolean(s, key)) d.banner = *b;
}

void read_action(loader& l, const scope& s, std::string_view key, rule_draft& d) {
    if (const auto a = l.one_of(s, key, rule_actions)) {
        d.r.action = *policy::parse_rule_action(*a);
        return;
    }
    // A rule that only turns the banner off needs no action: the gate never sees it.
    if (!s.table.get(key) && d.banner == false) {
        d.gate = false;
        return;
    }
    if (!s.table.get(key))
        l.fail(s.table, s.path + ": " + quote(key) +
                            " is required (allow, read, allow-writes-in-read-only or webhook)");
    d.ok = false;
}

void read_reason(loader& l, const scope& s, std::string_view key, rule_draft& d) {
    if (const std::string* reason = l.string_value(s, key, "a string saying why the exception exists")) {
        if (reason->empty()) {
            l.fail(*s.table.get(key), s.name(key) + ": must not be empty: say why this exception exists");
            d.ok = false;
        } else {
            d.r.reason = *reason;
        }
        return;
    }
    if (!s.table.get(key))
        l.fail(s.table, s.path + ": " + quote(key) + " is required: say why this exception exists");
    d.ok = false;
}

constexpr field<rule_draft> rule_fields[] = {
    {"path", read_path},
    {"path_prefix", read_path_prefix},
    {"path_regex", read_path_regex},
    {"methods", read_methods},
    {"host", read_host},
    {"banner", read_banner},  // before action: a banner-only rule needs none
    {"action", read_action},
    {"reason", read_reason},
    // The webhook spool's keys (proxy/config/spool.cpp).
    {"spool", [](loader& l, const scope& s, std::string_view k, rule_draft& d) {
         if (auto b = l.boolean(s, k)) d.spool.spool = *b;
     }},
    {"dedupe_key", [](loader& l, const scope& s, std::string_view k, rule_draft& d) {
         read_rule_key(l, s, k, d.spool.dedupe_key);
     }},
    {"order_key", [](loader& l, const scope& s, std::string_view k, rule_draft& d) {
         read_rule_key(l, s, k, d.spool.order_key);
     }},
    {"signature", [](loader& l, const scope& s, std::string_view k, rule_draft& d) {
         read_rule_signature(l, s, k, d.spool);
     }},
    {"secret_file", [](loader& l, const scope& s, std::string_view k, rule_draft& d) {
         read_rule_secret_file(l, s, k, d.spool);
     }},
    {"secret_env", [](loader& l, const scope& s, std::string_view k, rule_draft& d) {
         read_rule_secret_env(l, s, k, d.spool);
     }},
    {"tolerance", [](loader& l, const scope& s, std::string_view k, rule_draft& d) {
         if (auto t = l.positive_duration(s, k)) d.spool.tolerance = *t;
     }},
};

// Cross-field rules, once every key is read: a rule must match something.
void check_rule(loader& l, const scope& s, rule_draft& d) {
    if (d.matchers == 0 && !d.has_host) {
        l.fail(s.table, s.path + ": give at least one of path, path_prefix, path_regex or host");
        d.ok = false;
    }
}

}  // namespace

void load_rules(loader& l, const scope& top, std::string_view key, config& cfg) {
    const toml::node* node = top.table.get(key);
    if (!node) return;
    const auto* array = node->as_array();
    if (!array) {
        l.fail(*node,
               std::string(key) + ": expected [[" + std::string(key) + "]] tables, got " + describe(*node));
        return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = (*array)[i];
        const std::string path = std::string(key) + "[" + std::to_string(i) + "]";
        const auto* t = element.as_table();
        if (!t) {
            l.fail(element, path + ": expected a table, got " + describe(element));
            continue;
        }
        const scope s{*t, path};
        rule_draft d;
        l.read_fields(s, rule_fields, "in [[" + std::string(key) + "]]", d);
        check_rule(l, s, d);
        check_rule_spool(l, s, d.r.action == policy::rule_action::webhook, d.spool);
        if (!d.ok) continue;
        if (d.banner == false) cfg.banner.route_off.rules.push_back(d.r);
        if (d.gate) {
            cfg.gate.policy.rules.push_back(std::move(d.r));
            cfg.gate.spool_rules.push_back(std::move(d.spool));
        }
    }
}

}  // namespace maintgate::config_detail
