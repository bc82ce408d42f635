// [limits]: how much a client may send and hold. max_uri_size is checked against
// max_header_size, the one cross-field rule here.
#include "proxy/config/loader.hpp"

#include <cstdint>
#include <limits>

#include "proxy/config/text.hpp"

namespace maintgate::config_detail {

namespace {

// ---------------------------------------------------------------------------------
// Sizes: 1048576, "512", "64k", "10M", "2G", "1T", "10MiB", "64kB".

enum class size_status { ok, malformed, too_large };

size_status parse_size(std::string_view text, std::uint64_t& out) {
    constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    std::size_t i = 0;
    std::uint64_t number = 0;
    bool too_large = false;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
        const auto digit = static_cast<std::uint64_t>(text[i] - '0');
        if (number > (max - digit) / 10)
            too_large = true;
        else
            number = number * 10 + digit;
    }
    if (i == 0) return size_status::malformed;

    std::uint64_t scale = 1;
    std::string_view suffix = text.substr(i);
    if (!suffix.empty()) {
        switch (suffix.front()) {
        case 'k':
        case 'K': scale = std::uint64_t{1} << 10; break;
        case 'M': scale = std::uint64_t{1} << 20; break;
        case 'G': scale = std::uint64_t{1} << 30; break;
        case 'T': scale = std::uint64_t{1} << 40; break;
        default: break;
        }
        if (scale != 1) suffix.remove_prefix(1);
    }
    // "B" alone is accepted after a bare number too: "512B" cannot mean anything else.
    const bool suffix_ok = suffix.empty() || suffix == "B" || (scale != 1 && suffix == "iB");
    if (!suffix_ok) return size_status::malformed;
    if (too_large || number > max / scale) return size_status::too_large;
    out = number * scale;
    return size_status::ok;
}

// What max_uri_size's reader needs to know about max_header_size.
struct limits_draft {
    limits_config& out;
    bool header_size_set = false;
    bool header_size_valid = true;
};

void read_max_connections(loader& l, const scope& s, std::string_view key, limits_draft& d) {
    if (const auto n = l.integer(s, key, 1, 1'000'000)) d.out.max_connections = static_cast<std::size_t>(*n);
}

void read_max_header_size(loader& l, const scope& s, std::string_view key, limits_draft& d) {
    d.header_size_set = s.table.get(key) != nullptr;
    if (const auto n = l.integer(s, key, 1024, 1'048'576))
        d.out.max_header_size = static_cast<std::size_t>(*n);
    else if (d.header_size_set)
        d.header_size_valid = false;
}

void read_max_headers(loader& l, const scope& s, std::string_view key, limits_draft& d) {
    if (const auto n = l.integer(s, key, 1, 10'000)) d.out.max_headers = static_cast<std::size_t>(*n);
}

// Read after max_header_size (row order).
void read_max_uri_size(loader& l, const scope& s, std::string_view key, limits_draft& d) {
    // The request-target is part of the head, so a URI limit above the head limit
    // could never be reached. Against an invalid max_header_size (already reported)
    // only the absolute bounds are checked, to avoid a second error for one mistake.
    const bool header_size_valid = d.header_size_valid;
    const std::int64_t uri_ceiling =
        header_size_valid ? static_cast<std::int64_t>(d.out.max_header_size) : 1'048'576;
    if (const auto n = l.integer(s, key, std::numeric_limits<std::int64_t>::min(),
                                 std::numeric_limits<std::int64_t>::max())) {
        const toml::node& node = *s.table.get(key);
        if (*n < 16 || (*n > uri_ceiling && !header_size_valid)) {
            l.fail(node, s.name(key) + ": " + std::to_string(*n) + " is out of range (16-" +
                             std::to_string(uri_ceiling) + ")");
        } else if (*n > uri_ceiling) {
            const std::string header_size =
                std::to_string(d.out.max_header_size) + (d.header_size_set ? "" : ", the default");
            l.fail(node, s.name(key) + ": " + std::to_string(*n) +
                             " is larger than limits.max_header_size (" + header_size +
                             "); the request-target must fit in the request head");
        } else {
            d.out.max_uri_size = static_cast<std::size_t>(*n);
        }
    }
}

void read_max_body_size(loader& l, const scope& s, std::string_view key, limits_draft& d) {
    const toml::node* node = s.table.get(key);
    if (!node) return;
    const std::string name = s.name(key);
    constexpr std::string_view usage =
        "use a whole number of bytes, or a string with a unit k, M, G or T, such as \"64k\" or \"10M\"";
    if (const auto* n = node->as_integer()) {
        if (n->get() < 0)
            l.fail(*node, name + ": " + std::to_string(n->get()) +
                              " is negative; use 0 for no limit, or a size in bytes");
        else
            d.out.max_body_size = static_cast<std::uint64_t>(n->get());
    } else if (const auto* text = node->as_string()) {
        std::uint64_t bytes = 0;
        switch (parse_size(text->get(), bytes)) {
        case size_status::ok: d.out.max_body_size = bytes; break;
        case size_status::malformed:
            l.fail(*node, name + ": " + quote(text->get()) + " is not a size; " + std::string(usage));
            break;
        case size_status::too_large: l.fail(*node, name + ": " + quote(text->get()) + " is too large"); break;
        }
    } else {
        l.fail(*node, name + ": expected a size such as 1048576 or \"10M\", got " + describe(*node));
    }
}

constexpr field<limits_draft> limits_fields[] = {
    {"max_connections", read_max_connections}, {"max_header_size", read_max_header_size},
    {"max_headers", read_max_headers},         {"max_uri_size", read_max_uri_size},
    {"max_body_size", read_max_body_size},
};

}  // namespace

void load_limits(loader& l, const scope& top, std::string_view key, config& cfg) {
    if (const auto s = l.section(top, key)) {
        limits_draft d{cfg.limits};
        l.read_fields(*s, limits_fields, "in [" + s->path + "]", d);
    }
}

}  // namespace maintgate::config_detail
