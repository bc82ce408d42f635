#include "proxy/admin/json.hpp"

#include <boost/json/error.hpp>
#include <boost/json/stream_parser.hpp>
#include <boost/json/serialize.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>

namespace maintgate::json {

namespace {

// Boost.JSON 1.81 writes every double in scientific form ("5E-1", "0E0"), which is valid
// JSON but not what a person or a shell script reading a status reply expects; doubles are
// written here in their shortest round-trip form instead ("0.5", "0"). Everything else is
// Boost.JSON's own output.
void write(std::string& out, const boost::json::value& v) {
    switch (v.kind()) {
    case boost::json::kind::double_: {
        const double d = v.get_double();
        if (!std::isfinite(d)) {  // JSON has no NaN or infinity; Boost.JSON writes null too
            out += "null";
            return;
        }
        char buf[32];
        const auto r = std::to_chars(buf, buf + sizeof buf, d);
        out.append(buf, r.ptr);
        return;
    }
    case boost::json::kind::object: {
        out += '{';
        bool first = true;
        for (const auto& kv : v.get_object()) {
            if (!first) out += ',';
            first = false;
            out += boost::json::serialize(boost::json::string(kv.key()));
            out += ':';
            write(out, kv.value());
        }
        out += '}';
        return;
    }
    case boost::json::kind::array: {
        out += '[';
        bool first = true;
        for (const auto& e : v.get_array()) {
            if (!first) out += ',';
            first = false;
            write(out, e);
        }
        out += ']';
        return;
    }
    default: out += boost::json::serialize(v);
    }
}

}  // namespace

std::string serialize_line(const boost::json::object& o) {
    std::string text;
    write(text, boost::json::value(o));
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

}  // namespace maintgate::json
