#include "policy/path_regex.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace maintgate::policy {

namespace {

constexpr unsigned unbounded = std::numeric_limits<unsigned>::max();

// The largest piece a pattern can hold: one instruction is kept for the final match.
constexpr std::size_t max_node_size = path_regex::max_program_size - 1;

const char* const too_large = "compiled program over 2048 instructions";

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

constexpr bool is_alnum(unsigned char c) noexcept {
    return is_digit(static_cast<char>(c)) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

constexpr int hex_value(char c) noexcept {
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

constexpr bool is_punctuation(unsigned char c) noexcept { return c > 0x20 && c < 0x7f && !is_alnum(c); }

constexpr bool is_quantifier(char c) noexcept { return c == '*' || c == '+' || c == '?' || c == '{'; }

// The RE2 spelling of each construct whose meaning differs between ECMAScript and RE2.
// "." excludes '\r' too; "\s" includes '\v' (RE2's excludes it).
constexpr std::string_view re2_any = "[^\\n\\r]";
constexpr std::string_view re2_space = "[\\x09-\\x0d\\x20]";
constexpr std::string_view re2_not_space = "[^\\x09-\\x0d\\x20]";
constexpr std::string_view re2_space_items = "\\x09-\\x0d\\x20";
constexpr std::string_view re2_not_space_items = "\\x00-\\x08\\x0e-\\x1f\\x21-\\xff";

}  // namespace

// Recursive descent over the ECMAScript subset: it refuses what the subset does not
// have, with ECMAScript's terms and the offending offset, sizes the pattern as the
// Thompson NFA it expands to (so "((a{32}){32}){32}" is refused at its offset before
// anything is built), and writes the same regex in RE2's syntax. Every literal byte that
// is not a letter or digit is written "\xHH", so no byte can mean something else to RE2;
// bounded repeats are written out as copies (RE2 expands them the same way, but refuses
// nested counts whose product passes 1000, and "(?:a{32}){31}" is a pattern we accept).
// origin maps each byte of out back to the pattern offset it came from, for RE2's errors.
struct path_regex::checker {
    // One atom of a class or an escape: a byte, or a set written in RE2's syntax.
    struct atom {
        bool is_set = false;
        unsigned char byte = 0;
        std::string_view outside;  // the set as an atom of its own: "\d", "[\x09-\x0d\x20]"
        std::string_view inside;  // the set inside brackets: "\d", "\x09-\x0d\x20"
    };

    std::string_view p;
    std::size_t i = 0;
    std::string error;
    std::size_t error_offset = 0;
    std::string out;
    std::vector<std::uint16_t> origin;

    bool fail(std::string message, std::size_t offset) {
        if (error.empty()) {
            error = std::move(message);
            error_offset = offset;
        }
        return false;
    }

    bool at_end() const noexcept { return i >= p.size(); }

    void emit(std::string_view text, std::size_t from) {
        out += text;
        origin.insert(origin.end(), text.size(), static_cast<std::uint16_t>(from));
    }

    void emit_byte(unsigned char c, std::size_t from) {
        if (is_alnum(c)) {
            const char text[] = {static_cast<char>(c)};
            emit(std::string_view(text, 1), from);
            return;
        }
        static const char hex[] = "0123456789abcdef";
        const char text[] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
        emit(std::string_view(text, 4), from);
    }

    // alternation := concat ('|' concat)*; size gets the instructions it expands to.
    bool parse_alt(std::size_t& size) {
        std::size_t total = 0;
        std::size_t start = i;
        bool first = true;
        for (;;) {
            std::size_t c = 0;
            if (!parse_concat(c)) return false;
            total += c + (first ? 0 : 2);  // a split and a jump each
            if (total > max_node_size) return fail(too_large, start);
            first = false;
            if (at_end() || p[i] != '|') break;
            emit("|", i);
            start = ++i;
        }
        size = total;
        return true;
    }

    // concat := repeat*, up to '|' or ')' or the end
    bool parse_concat(std::size_t& size) {
        std::size_t total = 0;
        while (!at_end() && p[i] != '|' && p[i] != ')') {
            const std::size_t start = i;
            std::size_t r = 0;
            if (!parse_repeat(r)) return false;
            total += r;
            if (total > max_node_size) return fail(too_large, start);
        }
        size = total;
        return true;
    }

    // repeat := atom (quantifier '?'?)?
    bool parse_repeat(std::size_t& size) {
        const std::size_t start = i;
        const std::size_t text_start = out.size();
        std::size_t s = 0;
        if (!parse_atom(s)) return false;
        size = s;
        if (at_end() || !is_quantifier(p[i])) return true;
        const std::size_t q = i;
        // ECMAScript refuses "^*" too; "(?:^)*" stays possible and harmless.
        if (p[start] == '^' || p[start] == '$') return fail("nothing to repeat", q);
        unsigned min = 0;
        unsigned max = unbounded;
        switch (p[i]) {
        case '*': ++i; break;
        case '+':
            min = 1;
            ++i;
            break;
        case '?':
            max = 1;
            ++i;
            break;
        default:
            if (!parse_bounds(min, max)) return false;
            break;
        }
        if (!at_end() && p[i] == '?') ++i;  // lazy: the same set of matches
        if (!at_end() && is_quantifier(p[i])) return fail("nothing to repeat", i);

        const std::size_t total =
            max == unbounded ? (min == 0 ? s + 2 : min * s + 1) : min * s + (max - min) * (s + 1);
        if (total > max_node_size) return fail(too_large, q);
        size = total;
        expand(text_start, min, max, q);
        return true;
    }

    // Rewrites the atom written from text_start as copies: x{3} is "xxx", x{2,} is "xx+"
    // (the loop on the last required copy), x{1,3} is "xx?x?".
    void expand(std::size_t text_start, unsigned min, unsigned max, std::size_t q) {
        const std::string text = out.substr(text_start);
        const std::vector<std::uint16_t> from(origin.begin() + static_cast<std::ptrdiff_t>(text_start),
                                              origin.end());
        out.resize(text_start);
        origin.resize(text_start);
        auto copy = [&] {
            out += text;
            origin.insert(origin.end(), from.begin(), from.end());
        };
        const unsigned required = (max == unbounded && min > 0) ? min - 1 : min;
        for (unsigned r = 0; r < required; ++r) copy();
        if (max == unbounded) {
            copy();
            emit(min == 0 ? "*" : "+", q);
            return;
        }
        for (unsigned r = min; r < max; ++r) {
            copy();
            emit("?", q);
        }
    }

    // {n} {n,} {n,m}; a '{' always starts one (write "\{" for the byte).
    bool parse_bounds(unsigned& min, unsigned& max) {
        const std::size_t open = i++;
        auto count = [&](unsigned& value) {
            const std::size_t start = i;
            if (at_end() || !is_digit(p[i])) return fail("bad repeat: expected a count", i);
            unsigned v = 0;
            for (; !at_end() && is_digit(p[i]); ++i)
                v = std::min(v * 10 + static_cast<unsigned>(p[i] - '0'), 1000u);
            if (v > max_repeat) return fail("repeat count over 32", start);
            value = v;
            return true;
        };
        if (!count(min)) return false;
        if (!at_end() && p[i] == '}') {
            ++i;
            max = min;
            return true;
        }
        if (at_end() || p[i] != ',') return fail("bad repeat: expected ',' or '}'", i);
        ++i;
        if (!at_end() && p[i] == '}') {
            ++i;
            max = unbounded;
            return true;
        }
        if (!count(max)) return false;
        if (at_end() || p[i] != '}') return fail("bad repeat: expected '}'", i);
        ++i;
        if (min > max) return fail("bad repeat: minimum above maximum", open);
        return true;
    }

    bool parse_atom(std::size_t& size) {
        const std::size_t at = i;
        const char c = p[i];
        size = 1;
        switch (c) {
        case '(': return parse_group(size);
        case '[': return parse_class();
        case '.':
            ++i;
            emit(re2_any, at);
            return true;
        case '^':
        case '$':
            ++i;
            emit(std::string_view(&p[at], 1), at);
            return true;
        case '*':
        case '+':
        case '?':
        case '{': return fail("nothing to repeat", at);
        // ECMAScript reads a lone ']' or '}' as a byte; refusing them catches "[a-z]]".
        case ']': return fail("unmatched ']'", at);
        case '}': return fail("unmatched '}'", at);
        case '\\': {
            atom a;
            if (!parse_escape(false, a)) return false;
            if (a.is_set)
                emit(a.outside, at);
            else
                emit_byte(a.byte, at);
            return true;
        }
        default:
            ++i;
            emit_byte(static_cast<unsigned char>(c), at);
            return true;
        }
    }

    bool parse_group(std::size_t& size) {
        const std::size_t open = i++;
        if (!at_end() && p[i] == '?') {
            const std::string_view rest = p.substr(i + 1);
            if (rest.starts_with(":"))
                i += 2;
            else if (rest.starts_with("=") || rest.starts_with("!") || rest.starts_with("<=") ||
                     rest.starts_with("<!"))
                return fail("lookarounds are not supported", open);
            else if (rest.starts_with("<"))
                return fail("named groups are not supported", open);
            else
                return fail("unknown group syntax '(?'", open);
        }
        emit("(?:", open);
        if (!parse_alt(size)) return false;
        if (at_end()) return fail("unclosed '('", open);
        emit(")", i);
        ++i;  // ')': parse_alt stops only there or at the end
        return true;
    }

    bool parse_class() {
        const std::size_t open = i++;
        emit("[", open);
        if (!at_end() && p[i] == '^') {
            emit("^", i);
            ++i;
        }
        bool any_item = false;
        for (;;) {
            if (at_end()) return fail("unclosed '['", open);
            if (p[i] == ']') break;
            const std::size_t first = i;
            atom lo;
            if (!parse_class_atom(lo)) return false;
            // '-' first, last, or right after a range is a byte: "[-a]", "[a-]", "[a-c-e]".
            if (p.size() - i >= 2 && p[i] == '-' && p[i + 1] != ']') {
                ++i;
                atom hi;
                if (!parse_class_atom(hi)) return false;
                if (lo.is_set || hi.is_set)
                    return fail("bad range: a class escape cannot be a range endpoint", first);
                if (lo.byte > hi.byte) return fail("bad range: start above end", first);
                emit_byte(lo.byte, first);
                emit("-", first);
                emit_byte(hi.byte, first);
            } else if (lo.is_set) {
                emit(lo.inside, first);
            } else {
                emit_byte(lo.byte, first);
            }
            any_item = true;
        }
        emit("]", i);
        ++i;
        // "[]" matches nothing and "[^]" everything in ECMAScript: both are likely typos.
        if (!any_item) return fail("empty class", open);
        return true;
    }

    bool parse_class_atom(atom& a) {
        if (p[i] == '\\') return parse_escape(true, a);
        a.byte = static_cast<unsigned char>(p[i++]);
        return true;
    }

    bool parse_escape(bool in_class, atom& a) {
        const std::size_t backslash = i;
        if (p.size() - i < 2) return fail("trailing backslash", backslash);
        const char c = p[i + 1];
        i += 2;
        switch (c) {
        // \d \w and their negations mean the same, ASCII only, in RE2 over Latin-1.
        case 'd': a = {true, 0, "\\d", "\\d"}; return true;
        case 'D': a = {true, 0, "\\D", "\\D"}; return true;
        case 'w': a = {true, 0, "\\w", "\\w"}; return true;
        case 'W': a = {true, 0, "\\W", "\\W"}; return true;
        case 's': a = {true, 0, re2_space, re2_space_items}; return true;
        case 'S': a = {true, 0, re2_not_space, re2_not_space_items}; return true;
        case 'n': a.byte = '\n'; return true;
        case 'r': a.byte = '\r'; return true;
        case 't': a.byte = '\t'; return true;
        case 'f': a.byte = '\f'; return true;
        case 'v': a.byte = '\v'; return true;
        case 'x': {
            const int hi = p.size() - i >= 2 ? hex_value(p[i]) : -1;
            const int lo = p.size() - i >= 2 ? hex_value(p[i + 1]) : -1;
            if (hi < 0 || lo < 0) return fail("bad escape '\\x': expected two hex digits", backslash);
            a.byte = static_cast<unsigned char>(hi * 16 + lo);
            i += 2;
            return true;
        }
        case 'b':
        case 'B':
            if (!in_class) return fail("word boundaries are not supported", backslash);
            break;
        default:
            if (!in_class && c >= '1' && c <= '9') return fail("backreferences are not supported", backslash);
            if (is_punctuation(static_cast<unsigned char>(c))) {
                a.byte = static_cast<unsigned char>(c);
                return true;
            }
            break;
        }
        return fail(std::string("unknown escape '\\") + c + "'", backslash);
    }
};

namespace {

// RE2's words for what went wrong, for the errors the checker leaves to it (memory).
std::string re2_message(const re2::RE2& re) {
    switch (re.error_code()) {
    case re2::RE2::ErrorPatternTooLarge: return "pattern too large for RE2's memory limit";
    default: return "refused by RE2: " + re.error();
    }
}

}  // namespace

path_regex::compile_result path_regex::compile(std::string_view pattern) {
    compile_result result;
    if (pattern.size() > max_pattern_size) {
        result.error = "pattern longer than 512 bytes";
        result.offset = max_pattern_size;
        return result;
    }
    checker c;
    c.p = pattern;
    std::size_t size = 0;
    bool ok = c.parse_alt(size);
    // parse_alt stops early only at a ')' that no group opened.
    if (ok && !c.at_end()) ok = c.fail("unmatched ')'", c.i);
    if (!ok) {
        result.error = c.error;
        result.offset = c.error_offset;
        return result;
    }

    re2::RE2::Options options;
    options.set_encoding(re2::RE2::Options::EncodingLatin1);  // bytes stay bytes
    options.set_never_capture(true);
    options.set_max_mem(static_cast<int64_t>(max_memory));
    options.set_log_errors(false);
    auto re = std::make_shared<const re2::RE2>(c.out, options);
    if (!re->ok()) {
        // error_arg() is the piece of the translated pattern RE2 stopped at; its first
        // byte maps back to the pattern's offset. Not found: the pattern as a whole.
        result.error = re2_message(*re);
        const std::size_t at = re->error_arg().empty() ? std::string::npos : c.out.find(re->error_arg());
        result.offset = at == std::string::npos ? pattern.size() : c.origin[at];
        return result;
    }
    path_regex rx;
    rx.pattern_ = std::string(pattern);
    rx.re_ = std::move(re);
    rx.program_size_ = size + 1;
    result.value = std::move(rx);
    return result;
}

bool path_regex::search(std::string_view subject) const noexcept {
    if (!re_) return false;  // moved-from
    // Match(), not PartialMatch(): with no submatch asked for it runs the DFA alone, and
    // PartialMatch's argument array would be an allocation per call.
    return re_->Match(subject, 0, subject.size(), re2::RE2::UNANCHORED, nullptr, 0);
}

}  // namespace maintgate::policy
