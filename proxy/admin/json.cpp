#include "proxy/admin/json.hpp"

#include <cstdio>

namespace maintgate::json {

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

namespace {

struct reader {
    std::string_view s;
    std::size_t i = 0;
    std::string& error;

    void skip_ws() {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    }
    bool fail(std::string what) {
        if (error.empty()) error = what + " at offset " + std::to_string(i);
        return false;
    }
    bool expect(char c) {
        skip_ws();
        if (i >= s.size() || s[i] != c) return fail(std::string("expected '") + c + "'");
        ++i;
        return true;
    }
    static int hex(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }
    static void append_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xc0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xe0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else {
            out += static_cast<char>(0xf0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        }
    }
    bool read_hex4(unsigned& cp) {
        if (i + 4 > s.size()) return fail("truncated \\u escape");
        cp = 0;
        for (int k = 0; k < 4; ++k) {
            int h = hex(s[i++]);
            if (h < 0) return fail("bad \\u escape");
            cp = cp * 16 + static_cast<unsigned>(h);
        }
        return true;
    }
    bool string(std::string& out) {
        if (!expect('"')) return false;
        while (i < s.size()) {
            char c = s[i++];
            if (c == '"') return true;
            if (static_cast<unsigned char>(c) < 0x20) return fail("control character in string");
            if (c != '\\') {
                out += c;
                continue;
            }
            if (i >= s.size()) break;
            char e = s[i++];
            switch (e) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                unsigned cp = 0;
                if (!read_hex4(cp)) return false;
                if (cp >= 0xdc00 && cp < 0xe000) return fail("lone low surrogate");
                if (cp >= 0xd800 && cp < 0xdc00) {
                    // A high surrogate must be followed by a low one; anything else would
                    // become invalid or wrong UTF-8.
                    if (i + 2 > s.size() || s[i] != '\\' || s[i + 1] != 'u') return fail("lone high surrogate");
                    i += 2;
                    unsigned lo = 0;
                    if (!read_hex4(lo)) return false;
                    if (lo < 0xdc00 || lo >= 0xe000) return fail("high surrogate without a low one");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                append_utf8(out, cp);
                break;
            }
            default: return fail("bad escape");
            }
        }
        return fail("unterminated string");
    }
    bool literal(std::string_view word) {
        if (s.substr(i, word.size()) != word) return false;
        i += word.size();
        return true;
    }
    bool parse_value(value& v) {
        skip_ws();
        if (i >= s.size()) return fail("expected a value");
        char c = s[i];
        if (c == '"') {
            v.type = value::kind::string;
            return string(v.text);
        }
        if (literal("true")) {
            v.type = value::kind::boolean;
            v.flag = true;
            return true;
        }
        if (literal("false")) {
            v.type = value::kind::boolean;
            return true;
        }
        if (literal("null")) {
            v.type = value::kind::null;
            return true;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            // RFC 8259: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
            std::size_t start = i;
            auto digits = [&] {
                std::size_t from = i;
                while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
                return i - from;
            };
            if (s[i] == '-') ++i;
            if (i < s.size() && s[i] == '0')
                ++i;
            else if (digits() == 0)
                return fail("malformed number");
            if (i < s.size() && s[i] == '.') {
                ++i;
                if (digits() == 0) return fail("malformed number");
            }
            if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
                ++i;
                if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
                if (digits() == 0) return fail("malformed number");
            }
            if (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-' || s[i] == '+'))
                return fail("malformed number");
            v.type = value::kind::number;
            v.text = std::string(s.substr(start, i - start));
            return true;
        }
        return fail("expected a string, number, true, false or null");
    }
};

}  // namespace

std::optional<std::map<std::string, value>> parse_flat_object(std::string_view text, std::string& error) {
    error.clear();
    reader r{text, 0, error};
    std::map<std::string, value> out;
    if (!r.expect('{')) return std::nullopt;
    r.skip_ws();
    if (r.i < text.size() && text[r.i] == '}') {
        ++r.i;
    } else {
        for (;;) {
            std::string key;
            r.skip_ws();
            if (!r.string(key)) return std::nullopt;
            if (!r.expect(':')) return std::nullopt;
            value v;
            if (!r.parse_value(v)) return std::nullopt;
            out[std::move(key)] = std::move(v);
            r.skip_ws();
            if (r.i < text.size() && text[r.i] == ',') {
                ++r.i;
                continue;
            }
            if (!r.expect('}')) return std::nullopt;
            break;
        }
    }
    r.skip_ws();
    if (r.i != text.size()) {
        r.fail("trailing characters");
        return std::nullopt;
    }
    return out;
}

}  // namespace maintgate::json
