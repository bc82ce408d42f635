// [health_check] and [[smoke_check]]: requests sent straight to the upstream to prove it
// works, before and after each reopen step.
#include "proxy/config/loader.hpp"

#include <algorithm>
#include <utility>

#include "policy/ascii.hpp"
#include "proxy/config/text.hpp"

namespace maintgate::config_detail {

namespace {

// The target of a check is sent on the request line exactly as written, so a space or a
// control byte would split that line.
std::string check_target_problem(std::string_view text) {
    if (text.empty() || text.front() != '/') return "must start with \"/\"";
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c >= 0x7f) return "must be visible ASCII without spaces (percent-encode the rest)";
        if (c == '#') return "must not contain \"#\": a fragment is never sent to a server";
    }
    return {};
}

struct check_draft {
    check_request c;
    std::string_view where;  // "[health_check]", "smoke_check[2]"
    duration* interval = nullptr;  // [health_check] only
    const toml::node* name_node = nullptr;  // [[smoke_check]]: for the duplicate-name rule
};

void read_method(loader& l, const scope& s, std::string_view key, check_draft& d) {
    if (const std::string* m = l.string_value(s, key, "a method name such as \"GET\"")) {
        const toml::node& node = *s.table.get(key);
        if (!is_token(*m))
            l.fail(node, s.name(key) + ": " + quote(*m) + " is not a method name");
        else if (std::any_of(m->begin(), m->end(), [](char ch) { return ch >= 'a' && ch <= 'z'; }))
            l.fail(node, s.name(key) + ": " + quote(*m) + " is not upper-case; methods are case-sensitive");
        else if (*m == "CONNECT")
            l.fail(node, s.name(key) +
                             ": \"CONNECT\" opens a tunnel and cannot be a check; use a method such as "
                             "\"GET\"");
        else
            d.c.method = *m;
    }
}

void read_path(loader& l, const scope& s, std::string_view key, check_draft& d) {
    if (!s.table.get(key)) {
        l.fail(s.table, "missing required key " + quote(key) + " in " + std::string(d.where));
    } else if (const std::string* p = l.string_value(s, key, "a path such as \"/healthz\"")) {
        if (auto problem = check_target_problem(*p); !problem.empty())
            l.fail(*s.table.get(key), s.name(key) + ": " + quote(*p) + " " + problem);
        else
            d.c.path = *p;
    }
}

void read_host(loader& l, const scope& s, std::string_view key, check_draft& d) {
    if (const std::string* h = l.string_value(s, key, "a string such as \"app.example.com\"")) {
        if (is_visible_ascii(*h))
            d.c.host = *h;
        else
            l.fail(*s.table.get(key),
                   s.name(key) + ": " + quote(*h) +
                       " is not a valid Host header value (no spaces, control or non-ASCII "
                       "characters)");
    }
}

void read_expect_status(loader& l, const scope& s, std::string_view key, check_draft& d) {
    if (const auto n = l.integer(s, key, 100, 599)) d.c.expect_status = static_cast<unsigned>(*n);
}

// Read after method (row order).
void read_body_contains(loader& l, const scope& s, std::string_view key, check_draft& d) {
    if (const std::string* b = l.string_value(s, key, "a string to find in the response body")) {
        // The answer to HEAD never has a body, so the check could never pass.
        if (!b->empty() && d.c.method == "HEAD")
            l.fail(*s.table.get(key),
                   s.name(key) + ": a response to HEAD has no body; use \"GET\" to check the content");
        else
            d.c.body_contains = *b;
    }
}

void read_timeout(loader& l, const scope& s, std::string_view key, check_draft& d) {
    if (const auto t = l.positive_duration(s, key)) d.c.timeout = *t;
}

// "0s" is documented as "no background check": the check still gates each step.
void read_interval(loader& l, const scope& s, std::string_view key, check_draft& d) {
    if (const auto t = l.duration_value(s, key, true)) *d.interval = *t;
}

void read_body(loader& l, const scope& s, std::string_view key, check_draft& d) {
    if (const std::string* b = l.string_value(s, key, "a string (the request body)")) d.c.body = *b;
}

void read_headers(loader& l, const scope& s, std::string_view key, check_draft& d) {
    if (const toml::node* node = s.table.get(key)) {
        const std::string hpath = s.name(key);
        if (const auto* headers = node->as_table()) {
            for (const auto& [header, value] : *headers) {
                const std::string_view name = header.str();
                const std::string field = hpath + "." + quote(name);
                if (!is_token(name)) {
                    l.fail(header.source(), field + ": not a valid header name");
                    continue;
                }
                if (policy::iequals(name, "host")) {
                    l.fail(header.source(), field + ": set the Host field with " + s.name("host"));
                    continue;
                }
                // The probe frames the request and closes the connection itself; a
                // configured value would contradict what it sends.
                if (policy::iequals(name, "content-length") || policy::iequals(name, "transfer-encoding") ||
                    policy::iequals(name, "connection")) {
                    l.fail(header.source(), field + ": set by the check itself and cannot be configured");
                    continue;
                }
                const auto* text = value.as_string();
                if (!text) {
                    l.fail(value, field + ": expected a string, got " + describe(value));
                    continue;
                }
                if (has_control(text->get())) {
                    l.fail(value,
                           field + ": " + quote(text->get()) +
                               " contains a control character (CR, LF or NUL would split the request)");
                    continue;
                }
                d.c.headers.emplace_back(std::string(name), text->get());
            }
        } else {
            l.fail(*node,
                   hpath + ": expected a table such as { \"X-Check\" = \"1\" }, got " + describe(*node));
        }
    }
}

void read_name(loader& l, const scope& s, std::string_view key, check_draft& d) {
    d.name_node = s.table.get(key);
    if (const std::string* n = l.string_value(s, key, "a string naming the check")) {
        // The name is printed in reports and logs: one line, no escape sequences.
        if (has_control(*n) || n->find('\t') != std::string::npos)
            l.fail(*s.table.get(key), s.name(key) + ": " + quote(*n) + " contains a control character");
        else
            d.c.name = *n;
    }
}

constexpr field<check_draft> health_check_fields[] = {
    {"method", read_method},
    {"path", read_path},
    {"host", read_host},
    {"expect_status", read_expect_status},
    {"body_contains", read_body_contains},
    {"timeout", read_timeout},
    {"interval", read_interval},
    {"headers", read_headers},
    {"body", read_body},
};
// A smoke check runs only before a reopen step, so it has no interval; it has a name
// because there can be several.
constexpr field<check_draft> smoke_check_fields[] = {
    {"name", read_name},
    {"method", read_method},
    {"path", read_path},
    {"host", read_host},
    {"expect_status", read_expect_status},
    {"body_contains", read_body_contains},
    {"timeout", read_timeout},
    {"headers", read_headers},
    {"body", read_body},
};

// Once every key is read: the name a report shows when none is given.
void finish_check(check_draft& d) {
    if (d.c.name.empty()) d.c.name = d.c.method + " " + d.c.path;
}

}  // namespace

void load_check_table(loader& l, const scope& s, const std::string& where, check_request& out,
                      duration* interval) {
    check_draft d{{}, where, interval};
    l.read_fields(s, health_check_fields, "in " + where, d);
    finish_check(d);
    out = std::move(d.c);
}

void load_health_check(loader& l, const scope& top, std::string_view key, config& cfg) {
    if (const auto s = l.section(top, key)) {
        const std::string where = "[" + s->path + "]";
        check_draft d{{}, where, &cfg.reopen.health_interval};
        l.read_fields(*s, health_check_fields, "in " + where, d);
        finish_check(d);
        cfg.reopen.health = std::move(d.c);
    }
}

void load_smoke_checks(loader& l, const scope& top, std::string_view key, config& cfg) {
    const toml::node* node = top.table.get(key);
    if (!node) return;
    const auto* array = node->as_array();
    if (!array) {
        l.fail(*node,
               std::string(key) + ": expected [[" + std::string(key) + "]] tables, got " + describe(*node));
        return;
    }
    // Explicit name -> index, so two checks never share a line in a report.
    std::vector<std::pair<std::string, std::size_t>> named;
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = (*array)[i];
        const std::string path = std::string(key) + "[" + std::to_string(i) + "]";
        const auto* t = element.as_table();
        if (!t) {
            l.fail(element,
                   path + ": expected a table ([[" + std::string(key) + "]]), got " + describe(element));
            continue;
        }
        const scope s{*t, path};
        check_draft d{{}, path};
        l.read_fields(s, smoke_check_fields, "in " + path, d);
        finish_check(d);
        const toml::node* name = d.name_node;
        if (name && name->is_string() && !name->as_string()->get().empty()) {
            const auto earlier = std::find_if(named.begin(), named.end(),
                                              [&](const auto& entry) { return entry.first == d.c.name; });
            if (earlier != named.end())
                l.fail(*name, path + ".name: " + quote(d.c.name) + " is already used by " + std::string(key) +
                                  "[" + std::to_string(earlier->second) + "]");
            else
                named.emplace_back(d.c.name, i);
        }
        cfg.reopen.smoke.push_back(std::move(d.c));
    }
}

}  // namespace maintgate::config_detail
