// [log]: where the error log and the access log go, and in which form.
#include "proxy/config/loader.hpp"

namespace maintgate::config_detail {

namespace {

constexpr std::string_view log_levels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};

void read_error(loader& l, const scope& s, std::string_view key, log_config& out) {
    if (const std::string* error = l.string_value(s, key, "a string (\"stderr\" or a file path)")) {
        if (error->empty())
            l.fail(*s.table.get(key), s.name(key) + ": must be \"stderr\" or a file path, got \"\"");
        else
            out.error = *error;
    }
}

void read_level(loader& l, const scope& s, std::string_view key, log_config& out) {
    if (const auto level = l.one_of(s, key, log_levels)) out.level = std::string(*level);
}

void read_access(loader& l, const scope& s, std::string_view key, log_config& out) {
    if (const std::string* access =
            l.string_value(s, key, "a string (\"\" for none, \"stdout\", \"stderr\" or a file path)"))
        out.access = *access;
}

void read_access_format(loader& l, const scope& s, std::string_view key, log_config& out) {
    constexpr std::string_view formats[] = {"combined", "json"};
    if (const auto format = l.one_of(s, key, formats))
        out.format = *format == "json" ? access_format::json : access_format::combined;
}

constexpr field<log_config> log_fields[] = {
    {"error", read_error},
    {"level", read_level},
    {"access", read_access},
    {"access_format", read_access_format},
};

}  // namespace

void load_log(loader& l, const scope& top, std::string_view key, config& cfg) {
    if (const auto s = l.section(top, key)) l.read_fields(*s, log_fields, "in [" + s->path + "]", cfg.log);
}

}  // namespace maintgate::config_detail
