#include "proxy/config/text.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>
#include <type_traits>
#include <utility>
#include <vector>

namespace maintgate::config_detail {

namespace {

std::string_view type_name(const toml::node& node) {
    switch (node.type()) {
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    case toml::node_type::array: return "array";
    case toml::node_type::table: return "table";
    case toml::node_type::none: break;
    }
    return "nothing";
}

}  // namespace

// Values are echoed inside double quotes; escaping keeps a stray control character or
// quote in the config from garbling the terminal or the message, and a cap keeps one
// pasted blob from burying the other errors.
std::string quote(std::string_view text) {
    constexpr std::size_t max_shown = 80;
    std::string out = "\"";
    std::size_t shown = std::min(text.size(), max_shown);
    // Cut on a character boundary, not inside a UTF-8 sequence.
    while (shown > 0 && shown < text.size() && (static_cast<unsigned char>(text[shown]) & 0xc0) == 0x80)
        --shown;
    for (std::size_t i = 0; i < shown; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7f) {
            constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xf];
        } else {
            out += static_cast<char>(c);
        }
    }
    if (shown < text.size()) out += "...";
    out += '"';
    return out;
}

// "integer 5", "string \"5s\"": the value is shown because the type alone rarely tells
// an operator which line went wrong in a long file.
std::string describe(const toml::node& node) {
    std::ostringstream out;
    out << type_name(node);
    node.visit([&out](const auto& value) {
        using T = std::remove_cvref_t<decltype(value)>;
        if constexpr (std::is_same_v<T, toml::value<std::string>>)
            out << ' ' << quote(value.get());
        else if constexpr (!std::is_same_v<T, toml::table> && !std::is_same_v<T, toml::array>)
            out << ' ' << value;
    });
    return std::move(out).str();
}

// Optimal string alignment distance: a swapped pair of letters ("tiemout") counts as
// one typo, as people make them.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[a.size()][b.size()];
}

std::string path_join(std::string_view parent, std::string_view key) {
    std::string out(parent);
    if (!out.empty()) out += '.';
    out += key;
    return out;
}

bool has_nul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

namespace {

bool is_tchar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

}  // namespace

bool is_token(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), is_tchar);
}

// CR, LF and NUL would let a value split the request into two; the other control bytes
// are refused by most servers anyway. A tab is legal inside a field value.
bool has_control(std::string_view text) {
    return std::any_of(text.begin(), text.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return (c < 0x20 && c != '\t') || c == 0x7f;
    });
}

bool is_visible_ascii(std::string_view text) {
    return std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace maintgate::config_detail
