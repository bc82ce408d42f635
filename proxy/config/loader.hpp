#pragma once
// Inside the config library only: the loader that walks a TOML document once, the rows
// that name each key together with the function that reads it, and the value readers
// the section files share. Each section lives in its own file (listener.cpp,
// upstream.cpp, ...) as a table of rows plus, where keys depend on each other, a post
// pass; loader.cpp composes the sections in document order.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "proxy/config/config.hpp"

namespace maintgate::config_detail {

// A table being read, with the dotted path that names its keys in messages
// ("upstream", "listener[1]", "" for the document root).
struct scope {
    const toml::table& table;
    std::string path;

    std::string name(std::string_view key) const;
};

enum class key_kind { value, table, table_array };

class loader;

// One key of a table: its name, how it is written (for the did-you-mean hint), and the
// function that reads it into T. The reader is called for every row, present or not, in
// row order, after the table's unknown keys have been reported; it gets the row's name
// so the key is spelled only here. T is the section's config struct, or a small draft
// that also carries what the section's post pass needs.
template <class T>
struct field {
    std::string_view name;
    void (*read)(loader&, const scope&, std::string_view key, T&);
    key_kind kind = key_kind::value;
};

struct known_key {
    std::string_view name;
    key_kind kind;
};

class loader {
public:
    explicit loader(std::string file);

    void load(const toml::table& root, config& cfg);
    std::vector<config_error> take_errors();

    // Recording problems.
    void fail(const toml::source_region& where, std::string message);
    void fail(const toml::node& where, std::string message) { fail(where.source(), std::move(message)); }
    void fail_document(std::string message);
    void fail_in(std::string file, std::uint32_t line, std::uint32_t column, std::string message);
    const std::string& file() const noexcept { return file_; }
    std::string position(const toml::node& node) const;  // "file:line:column"

    // Reports every key of s that no row names, with a suggestion for typos.
    void check_keys(const scope& s, std::span<const known_key> known, std::string_view where);
    template <class T, std::size_t N>
    void check_keys(const scope& s, const field<T> (&rows)[N], std::string_view where) {
        std::array<known_key, N> known;
        for (std::size_t i = 0; i < N; ++i) known[i] = {rows[i].name, rows[i].kind};
        check_keys(s, known, where);
    }

    // check_keys, then every row's reader in row order.
    template <class T, std::size_t N>
    void read_fields(const scope& s, const field<T> (&rows)[N], std::string_view where, T& out) {
        check_keys(s, rows, where);
        for (const auto& row : rows) row.read(*this, s, row.name, out);
    }

    // root[key] as a table, or nullptr (absent, or reported as the wrong type).
    const toml::table* table(const toml::table& root, std::string_view key);
    // The [key] table of the document as a scope named key, if there is one.
    std::optional<scope> section(const scope& top, std::string_view key);

    // The value readers: nullopt / nullptr when the key is absent or was reported.
    std::optional<std::int64_t> integer(const scope& s, std::string_view key, std::int64_t lowest,
                                        std::int64_t highest);
    std::optional<duration> positive_duration(const scope& s, std::string_view key);
    std::optional<duration> duration_value(const scope& s, std::string_view key, bool zero_allowed);
    std::optional<std::string> path_value(const scope& s, std::string_view key, std::string_view expected,
                                          bool folder);
    const std::string* string_value(const scope& s, std::string_view key, std::string_view expected);
    std::optional<bool> boolean(const scope& s, std::string_view key);
    std::optional<std::string_view> one_of(const scope& s, std::string_view key,
                                           std::span<const std::string_view> allowed);
    void load_cidrs(const toml::node& node, const std::string& path, std::vector<policy::cidr>& out);

private:
    std::string file_;
    std::string folder_;  // the config file's folder with a trailing '/', or empty
    std::vector<config_error> errors_;
};

// Generic rows: a reader that stores into one member of T.
template <class M>
struct member_of;
template <class C, class V>
struct member_of<V C::*> {
    using owner = C;
    using value = V;
};

template <auto Member>
void read_positive_duration(loader& l, const scope& s, std::string_view key,
                            typename member_of<decltype(Member)>::owner& out) {
    if (const auto d = l.positive_duration(s, key)) out.*Member = *d;
}

// "0s" allowed: for keys documented as "0s = off".
template <auto Member>
void read_duration_or_zero(loader& l, const scope& s, std::string_view key,
                           typename member_of<decltype(Member)>::owner& out) {
    if (const auto d = l.duration_value(s, key, true)) out.*Member = *d;
}

template <auto Member, std::int64_t Lowest, std::int64_t Highest>
void read_integer(loader& l, const scope& s, std::string_view key,
                  typename member_of<decltype(Member)>::owner& out) {
    if (const auto n = l.integer(s, key, Lowest, Highest))
        out.*Member = static_cast<typename member_of<decltype(Member)>::value>(*n);
}

template <auto Member>
void read_boolean(loader& l, const scope& s, std::string_view key,
                  typename member_of<decltype(Member)>::owner& out) {
    if (const auto b = l.boolean(s, key)) out.*Member = *b;
}

// The sections, in document order (loader.cpp). Each reads root[key] into cfg.
void load_listeners(loader& l, const scope& top, std::string_view key, config& cfg);
void load_upstream(loader& l, const scope& top, std::string_view key, config& cfg);
void load_timeouts(loader& l, const scope& top, std::string_view key, config& cfg);
void load_limits(loader& l, const scope& top, std::string_view key, config& cfg);
void load_forwarding(loader& l, const scope& top, std::string_view key, config& cfg);
void load_log(loader& l, const scope& top, std::string_view key, config& cfg);
void load_gate(loader& l, const scope& top, std::string_view key, config& cfg);
void load_rules(loader& l, const scope& top, std::string_view key, config& cfg);
void load_admin(loader& l, const scope& top, std::string_view key, config& cfg);
void load_health_check(loader& l, const scope& top, std::string_view key, config& cfg);
void load_smoke_checks(loader& l, const scope& top, std::string_view key, config& cfg);
void load_reopen(loader& l, const scope& top, std::string_view key, config& cfg);
void load_spool(loader& l, const scope& top, std::string_view key, config& cfg);

// A webhook rule's spool keys (proxy/config/spool.cpp), read from the rule's rows.
void read_rule_key(loader& l, const scope& s, std::string_view key, request_key& out);
void read_rule_signature(loader& l, const scope& s, std::string_view key, webhook_spool& out);
void read_rule_secret_file(loader& l, const scope& s, std::string_view key, webhook_spool& out);
void read_rule_secret_env(loader& l, const scope& s, std::string_view key, webhook_spool& out);
// The rule's cross-key checks once its rows are read; then the document's (a spool
// rule needs [spool] dir, wherever the section is).
void check_rule_spool(loader& l, const scope& s, bool is_webhook, webhook_spool& w);
void check_spool(loader& l, const config& cfg);
void load_banner(loader& l, const scope& top, std::string_view key, config& cfg);
void load_cluster(loader& l, const scope& top, std::string_view key, config& cfg);
void load_hold(loader& l, const scope& top, std::string_view key, config& cfg);
void load_auto_read_only(loader& l, const scope& top, std::string_view key, config& cfg);
// A check table with [health_check]'s keys (checks.cpp), for other sections' probes.
void load_check_table(loader& l, const scope& s, const std::string& where, check_request& out,
                      duration* interval);
void load_windows(loader& l, const scope& top, std::string_view key, config& cfg);
// hooks.cpp: [[hook]]; [reopen.hooks] and its post pass (every name is a [[hook]]).
void load_hooks(loader& l, const scope& top, std::string_view key, config& cfg);
void read_reopen_hooks(loader& l, const scope& s, std::string_view key, reopen_config& out);
void check_reopen_hooks(loader& l, const scope& reopen, const config& cfg);

}  // namespace maintgate::config_detail
