#include "proxy/admin/json.hpp"

#include <boost/json/error.hpp>
#include <boost/json/stream_parser.hpp>
#include <boost/json/serialize.hpp>

#include <cstdio>

namespace maintgate::json {

std::string serialize_line(const boost::json::object& o) {
    std::string text = boost::json::serialize(o);
    // DEL is the one byte Boost.JSON leaves raw that a terminal acts on. Outside strings
    // the serialised text is plain ASCII punctuation, digits and letters, so every DEL
    // is inside a string, where "\u007f" is the same character.
    std::string::size_type at = text.find('\x7f');
    if (at == std::string::npos) return text;
    std::string out;
    out.reserve(text.size() + 16);
    std::string::size_type from = 0;
    for (; at != std::string::npos; at = text.find('\x7f', from)) {
        out.append(text, from, at - from);
        out += "\\u007f";
        from = at + 1;
    }
    out.append(text, from);
    return out;
}

std::optional<boost::json::object> parse_flat_object(std::string_view text, std::string& error) {
    error.clear();
    boost::json::parse_options options;
    // The writers pass any byte through (a reason is whatever the operator typed), so the
    // reader must take back what they wrote.
    options.allow_invalid_utf8 = true;
    boost::json::stream_parser p({}, options);
    boost::system::error_code ec;
    std::size_t used = p.write(text.data(), text.size(), ec);
    if (!ec) p.finish(ec);  // text that stops inside the object is incomplete
    if (ec) {
        error = (ec == boost::json::error::extra_data ? std::string("trailing characters") : ec.message()) +
                " at offset " + std::to_string(used);
        return std::nullopt;
    }
    boost::json::value v = p.release();
    if (!v.is_object()) {
        error = "expected '{' at offset 0";
        return std::nullopt;
    }
    boost::json::object& o = v.as_object();
    for (const auto& field : o) {
        if (field.value().is_object() || field.value().is_array()) {
            error = "\"" + std::string(field.key()) + "\" holds an object or an array, not a flat value";
            return std::nullopt;
        }
    }
    return std::move(o);
}

void append_string(std::string& out, std::string_view s) {
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    out += '"';
}

}  // namespace maintgate::json
