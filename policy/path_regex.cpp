#include "policy/path_regex.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

namespace maintgate::policy {

namespace {

using byte_set = std::array<std::uint64_t, 4>;

constexpr unsigned unbounded = std::numeric_limits<unsigned>::max();

// The largest node a program can hold: one instruction is kept for the final match.
constexpr std::size_t max_node_size = path_regex::max_program_size - 1;

const char* const too_large = "compiled program over 2048 instructions";

void set_add(byte_set& s, unsigned c) noexcept
{
    s[c >> 6] |= std::uint64_t{1} << (c & 63);
}

bool set_has(const byte_set& s, unsigned char c) noexcept
{
    return (s[c >> 6] >> (c & 63)) & 1;
}

void set_add_range(byte_set& s, unsigned lo, unsigned hi) noexcept
{
    for (unsigned c = lo; c <= hi; ++c)
        set_add(s, c);
}

void set_merge(byte_set& into, const byte_set& from) noexcept
{
    for (std::size_t w = 0; w < into.size(); ++w)
        into[w] |= from[w];
}

void set_invert(byte_set& s) noexcept
{
    for (auto& w : s)
        w = ~w;
}

// What "." matches: every byte but ECMAScript's line terminators.
byte_set any_bytes() noexcept
{
    byte_set s{};
    set_add_range(s, 0, 255);
    s['\n' >> 6] &= ~(std::uint64_t{1} << ('\n' & 63));
    s['\r' >> 6] &= ~(std::uint64_t{1} << ('\r' & 63));
    return s;
}

// \d \w \s and their negations, ASCII only: the subject is bytes, not decoded text.
byte_set class_escape(char letter) noexcept
{
    byte_set s{};
    switch (letter | 0x20) {
    case 'd':
        set_add_range(s, '0', '9');
        break;
    case 'w':
        set_add_range(s, '0', '9');
        set_add_range(s, 'A', 'Z');
        set_add_range(s, 'a', 'z');
        set_add(s, '_');
        break;
    default:  // 's'
        for (char c : {' ', '\t', '\n', '\v', '\f', '\r'})
            set_add(s, static_cast<unsigned char>(c));
        break;
    }
    if (letter >= 'A' && letter <= 'Z')
        set_invert(s);
    return s;
}

constexpr bool is_digit(char c) noexcept
{
    return c >= '0' && c <= '9';
}

constexpr int hex_value(char c) noexcept
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

constexpr bool is_punctuation(unsigned char c) noexcept
{
    return c > 0x20 && c < 0x7f && !is_digit(static_cast<char>(c))
           && !((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

constexpr bool is_quantifier(char c) noexcept
{
    return c == '*' || c == '+' || c == '?' || c == '{';
}

}  // namespace

// Recursive descent into a small tree, then emission. The tree exists so that bounded
// repeats can be sized before they are expanded: "((a{32}){32}){32}" is refused at its
// offset without ever building 32,768 instructions.
struct path_regex::compiler {
    enum class kind : std::uint8_t { empty, byte, set, any, bol, eol, concat, alt, repeat };
    struct node {
        kind k = kind::empty;
        std::uint8_t byte = 0;
        std::uint16_t set = 0;
        unsigned min = 0;
        unsigned max = 0;
        std::vector<int> kids;
        std::size_t size = 0;  // instructions it emits
    };
    // One atom of a class or an escape: a byte or a set of bytes.
    struct atom {
        bool is_set = false;
        unsigned char byte = 0;
        byte_set set{};
    };

    std::string_view p;
    std::size_t i = 0;
    std::string error;
    std::size_t error_offset = 0;
    std::vector<node> nodes;
    std::vector<byte_set> sets;

    bool fail(std::string message, std::size_t offset)
    {
        if (error.empty()) {
            error = std::move(message);
            error_offset = offset;
        }
        return false;
    }

    // fail() for the functions that return a node index.
    int fail_node(std::string message, std::size_t offset)
    {
        fail(std::move(message), offset);
        return -1;
    }

    int add(node n)
    {
        nodes.push_back(std::move(n));
        return static_cast<int>(nodes.size() - 1);
    }

    int add_leaf(kind k, std::uint8_t byte = 0, std::uint16_t set = 0)
    {
        node n;
        n.k = k;
        n.byte = byte;
        n.set = set;
        n.size = k == kind::empty ? 0 : 1;
        return add(std::move(n));
    }

    int add_set(const byte_set& s)
    {
        sets.push_back(s);
        return add_leaf(kind::set, 0, static_cast<std::uint16_t>(sets.size() - 1));
    }

    bool at_end() const noexcept { return i >= p.size(); }

    // alternation := concat ('|' concat)*
    int parse_alt()
    {
        std::vector<int> alts;
        std::size_t total = 0;
        std::size_t start = i;
        for (;;) {
            const int c = parse_concat();
            if (c < 0)
                return -1;
            total += nodes[c].size + (alts.empty() ? 0 : 2);  // a split and a jump each
            if (total > max_node_size)
                return fail_node(too_large, start);
            alts.push_back(c);
            if (at_end() || p[i] != '|')
                break;
            start = ++i;
        }
        if (alts.size() == 1)
            return alts.front();
        node n;
        n.k = kind::alt;
        n.kids = std::move(alts);
        n.size = total;
        return add(std::move(n));
    }

    // concat := repeat*, up to '|' or ')' or the end
    int parse_concat()
    {
        std::vector<int> items;
        std::size_t total = 0;
        while (!at_end() && p[i] != '|' && p[i] != ')') {
            const std::size_t start = i;
            const int r = parse_repeat();
            if (r < 0)
                return -1;
            total += nodes[r].size;
            if (total > max_node_size)
                return fail_node(too_large, start);
            items.push_back(r);
        }
        if (items.empty())
            return add_leaf(kind::empty);
        if (items.size() == 1)
            return items.front();
        node n;
        n.k = kind::concat;
        n.kids = std::move(items);
        n.size = total;
        return add(std::move(n));
    }

    // repeat := atom (quantifier '?'?)?
    int parse_repeat()
    {
        const std::size_t start = i;
        const int a = parse_atom();
        if (a < 0 || at_end() || !is_quantifier(p[i]))
            return a;
        const std::size_t q = i;
        // ECMAScript refuses "^*" too; "(?:^)*" stays possible and harmless.
        if (p[start] == '^' || p[start] == '$')
            return fail_node("nothing to repeat", q);
        unsigned min = 0;
        unsigned max = unbounded;
        switch (p[i]) {
        case '*':
            ++i;
            break;
        case '+':
            min = 1;
            ++i;
            break;
        case '?':
            max = 1;
            ++i;
            break;
        default:
            if (!parse_bounds(min, max))
                return -1;
            break;
        }
        if (!at_end() && p[i] == '?')
            ++i;  // lazy: the same set of matches
        if (!at_end() && is_quantifier(p[i]))
            return fail_node("nothing to repeat", i);

        const std::size_t s = nodes[a].size;
        const std::size_t total = max == unbounded ? (min == 0 ? s + 2 : min * s + 1)
                                                   : min * s + (max - min) * (s + 1);
        if (total > max_node_size)
            return fail_node(too_large, q);
        node n;
        n.k = kind::repeat;
        n.kids = {a};
        n.min = min;
        n.max = max;
        n.size = total;
        return add(std::move(n));
    }

    // {n} {n,} {n,m}; a '{' always starts one (write "\{" for the byte).
    bool parse_bounds(unsigned& min, unsigned& max)
    {
        const std::size_t open = i++;
        auto count = [&](unsigned& value) {
            const std::size_t start = i;
            if (at_end() || !is_digit(p[i]))
                return fail("bad repeat: expected a count", i);
            unsigned v = 0;
            for (; !at_end() && is_digit(p[i]); ++i)
                v = std::min(v * 10 + static_cast<unsigned>(p[i] - '0'), 1000u);
            if (v > max_repeat)
                return fail("repeat count over 32", start);
            value = v;
            return true;
        };
        if (!count(min))
            return false;
        if (!at_end() && p[i] == '}') {
            ++i;
            max = min;
            return true;
        }
        if (at_end() || p[i] != ',')
            return fail("bad repeat: expected ',' or '}'", i);
        ++i;
        if (!at_end() && p[i] == '}') {
            ++i;
            max = unbounded;
            return true;
        }
        if (!count(max))
            return false;
        if (at_end() || p[i] != '}')
            return fail("bad repeat: expected '}'", i);
        ++i;
        if (min > max)
            return fail("bad repeat: minimum above maximum", open);
        return true;
    }

    int parse_atom()
    {
        const std::size_t at = i;
        const char c = p[i];
        switch (c) {
        case '(':
            return parse_group();
        case '[':
            return parse_class();
        case '.':
            ++i;
            return add_leaf(kind::any);
        case '^':
            ++i;
            return add_leaf(kind::bol);
        case '$':
            ++i;
            return add_leaf(kind::eol);
        case '*':
        case '+':
        case '?':
        case '{':
            return fail_node("nothing to repeat", at);
        // ECMAScript reads a lone ']' or '}' as a byte; refusing them catches "[a-z]]".
        case ']':
            return fail_node("unmatched ']'", at);
        case '}':
            return fail_node("unmatched '}'", at);
        case '\\': {
            atom a;
            if (!parse_escape(false, a))
                return -1;
            return a.is_set ? add_set(a.set) : add_leaf(kind::byte, a.byte);
        }
        default:
            ++i;
            return add_leaf(kind::byte, static_cast<std::uint8_t>(c));
        }
    }

    int parse_group()
    {
        const std::size_t open = i++;
        if (!at_end() && p[i] == '?') {
            const std::string_view rest = p.substr(i + 1);
            if (rest.starts_with(":"))
                i += 2;
            else if (rest.starts_with("=") || rest.starts_with("!") || rest.starts_with("<=")
                     || rest.starts_with("<!"))
                return fail_node("lookarounds are not supported", open);
            else if (rest.starts_with("<"))
                return fail_node("named groups are not supported", open);
            else
                return fail_node("unknown group syntax '(?'", open);
        }
        const int inner = parse_alt();
        if (inner < 0)
            return -1;
        if (at_end())
            return fail_node("unclosed '('", open);
        ++i;  // ')': parse_alt stops only there or at the end
        return inner;
    }

    int parse_class()
    {
        const std::size_t open = i++;
        bool negate = false;
        if (!at_end() && p[i] == '^') {
            negate = true;
            ++i;
        }
        byte_set s{};
        bool any_item = false;
        for (;;) {
            if (at_end())
                return fail_node("unclosed '['", open);
            if (p[i] == ']')
                break;
            const std::size_t first = i;
            atom lo;
            if (!parse_class_atom(lo))
                return -1;
            // '-' first, last, or right after a range is a byte: "[-a]", "[a-]", "[a-c-e]".
            if (p.size() - i >= 2 && p[i] == '-' && p[i + 1] != ']') {
                ++i;
                atom hi;
                if (!parse_class_atom(hi))
                    return -1;
                if (lo.is_set || hi.is_set)
                    return fail_node("bad range: a class escape cannot be a range endpoint", first);
                if (lo.byte > hi.byte)
                    return fail_node("bad range: start above end", first);
                set_add_range(s, lo.byte, hi.byte);
            } else if (lo.is_set) {
                set_merge(s, lo.set);
            } else {
                set_add(s, lo.byte);
            }
            any_item = true;
        }
        ++i;  // ']'
        // "[]" matches nothing and "[^]" everything in ECMAScript: both are likely typos.
        if (!any_item)
            return fail_node("empty class", open);
        if (negate)
            set_invert(s);
        return add_set(s);
    }

    bool parse_class_atom(atom& a)
    {
        if (p[i] == '\\')
            return parse_escape(true, a);
        a.byte = static_cast<unsigned char>(p[i++]);
        return true;
    }

    bool parse_escape(bool in_class, atom& a)
    {
        const std::size_t backslash = i;
        if (p.size() - i < 2)
            return fail("trailing backslash", backslash);
        const char c = p[i + 1];
        i += 2;
        switch (c) {
        case 'd':
        case 'D':
        case 'w':
        case 'W':
        case 's':
        case 'S':
            a.is_set = true;
            a.set = class_escape(c);
            return true;
        case 'n':
            a.byte = '\n';
            return true;
        case 'r':
            a.byte = '\r';
            return true;
        case 't':
            a.byte = '\t';
            return true;
        case 'f':
            a.byte = '\f';
            return true;
        case 'v':
            a.byte = '\v';
            return true;
        case 'x': {
            const int hi = p.size() - i >= 2 ? hex_value(p[i]) : -1;
            const int lo = p.size() - i >= 2 ? hex_value(p[i + 1]) : -1;
            if (hi < 0 || lo < 0)
                return fail("bad escape '\\x': expected two hex digits", backslash);
            a.byte = static_cast<unsigned char>(hi * 16 + lo);
            i += 2;
            return true;
        }
        case 'b':
        case 'B':
            if (!in_class)
                return fail("word boundaries are not supported", backslash);
            break;
        default:
            if (!in_class && c >= '1' && c <= '9')
                return fail("backreferences are not supported", backslash);
            if (is_punctuation(static_cast<unsigned char>(c))) {
                a.byte = static_cast<unsigned char>(c);
                return true;
            }
            break;
        }
        return fail(std::string("unknown escape '\\") + c + "'", backslash);
    }

    // True when every match must start at subject offset 0; conservative.
    bool anchored(int id) const
    {
        const node& n = nodes[id];
        switch (n.k) {
        case kind::bol:
            return true;
        case kind::concat:
            return anchored(n.kids.front());
        case kind::alt:
            return std::all_of(n.kids.begin(), n.kids.end(), [&](int k) { return anchored(k); });
        case kind::repeat:
            return n.min > 0 && anchored(n.kids.front());
        default:
            return false;
        }
    }

    void emit(int id, std::vector<instruction>& prog) const
    {
        const node& n = nodes[id];
        auto here = [&] { return static_cast<std::uint16_t>(prog.size()); };
        auto push = [&](op code, std::uint16_t x = 0, std::uint16_t y = 0, std::uint8_t b = 0) {
            prog.push_back(instruction{code, b, x, y});
        };
        switch (n.k) {
        case kind::empty:
            break;
        case kind::byte:
            push(op::byte, 0, 0, n.byte);
            break;
        case kind::set:
            push(op::set, n.set);
            break;
        case kind::any:
            push(op::any);
            break;
        case kind::bol:
            push(op::bol);
            break;
        case kind::eol:
            push(op::eol);
            break;
        case kind::concat:
            for (int k : n.kids)
                emit(k, prog);
            break;
        case kind::alt: {
            // split L1, L2; L1: a; jump end; L2: split ...; last; end:
            std::vector<std::size_t> jumps;
            for (std::size_t k = 0; k < n.kids.size(); ++k) {
                if (k + 1 == n.kids.size()) {
                    emit(n.kids[k], prog);
                    break;
                }
                const std::size_t split = prog.size();
                push(op::split, static_cast<std::uint16_t>(split + 1));
                emit(n.kids[k], prog);
                jumps.push_back(prog.size());
                push(op::jump);
                prog[split].y = here();
            }
            for (std::size_t j : jumps)
                prog[j].x = here();
            break;
        }
        case kind::repeat: {
            const int kid = n.kids.front();
            const unsigned required = (n.max == unbounded && n.min > 0) ? n.min - 1 : n.min;
            for (unsigned r = 0; r < required; ++r)
                emit(kid, prog);
            if (n.max == unbounded && n.min == 0) {
                // loop: split body, end; body; jump loop; end:
                const std::size_t loop = prog.size();
                push(op::split, static_cast<std::uint16_t>(loop + 1));
                emit(kid, prog);
                push(op::jump, static_cast<std::uint16_t>(loop));
                prog[loop].y = here();
            } else if (n.max == unbounded) {
                // body: ...; split body, next
                const std::size_t body = prog.size();
                emit(kid, prog);
                push(op::split, static_cast<std::uint16_t>(body),
                     static_cast<std::uint16_t>(prog.size() + 1));
            } else {
                // Optional copies, each able to skip to the end: x{1,3} is x(?:x(?:x)?)?.
                std::vector<std::size_t> splits;
                for (unsigned r = n.min; r < n.max; ++r) {
                    splits.push_back(prog.size());
                    push(op::split, static_cast<std::uint16_t>(prog.size() + 1));
                    emit(kid, prog);
                }
                for (std::size_t s : splits)
                    prog[s].y = here();
            }
            break;
        }
        }
    }
};

path_regex::compile_result path_regex::compile(std::string_view pattern)
{
    compile_result result;
    if (pattern.size() > max_pattern_size) {
        result.error = "pattern longer than 512 bytes";
        result.offset = max_pattern_size;
        return result;
    }
    compiler c;
    c.p = pattern;
    int root = c.parse_alt();
    // parse_alt stops early only at a ')' that no group opened.
    if (root >= 0 && !c.at_end()) {
        c.fail("unmatched ')'", c.i);
        root = -1;
    }
    if (root < 0) {
        result.error = c.error;
        result.offset = c.error_offset;
        return result;
    }
    path_regex rx;
    rx.pattern_ = std::string(pattern);
    rx.program_.reserve(c.nodes[root].size + 1);
    c.emit(root, rx.program_);
    rx.program_.push_back(instruction{op::match, 0, 0, 0});
    rx.sets_ = std::move(c.sets);
    rx.anchored_ = c.anchored(root);
    rx.build_tables();
    result.value = std::move(rx);
    return result;
}

void path_regex::build_tables()
{
    const std::size_t size = program_.size();
    words_ = (size + 63) / 64;
    consuming_.assign(words_, 0);
    for (std::size_t pc = 0; pc < size; ++pc) {
        const op code = program_[pc].code;
        if (code == op::byte || code == op::set || code == op::any)
            consuming_[pc >> 6] |= std::uint64_t{1} << (pc & 63);
    }
    // Away from both ends of the subject the closures are fixed, so they are computed
    // once here instead of once per subject byte.
    std::vector<std::uint16_t> stack(size);
    start_.assign(words_, 0);
    closure(start_.data(), 0, false, false, stack.data());
    for (std::size_t pc = 0; pc < size; ++pc) {
        if (!((start_[pc >> 6] >> (pc & 63)) & 1))
            continue;
        const instruction& in = program_[pc];
        if (in.code == op::byte)
            set_add(first_, in.byte);
        else if (in.code == op::set)
            set_merge(first_, sets_[in.x]);
        else if (in.code == op::any)
            set_merge(first_, any_bytes());
    }
    // A pattern that can match empty text mid-subject matches at offset 1 anyway; it gains
    // nothing from skipping, and skipping would have to prove it sees that offset.
    skip_ = !((start_[(size - 1) >> 6] >> ((size - 1) & 63)) & 1);
    int first_count = 0;
    for (unsigned b = 0; b < 256; ++b)
        if (set_has(first_, static_cast<unsigned char>(b))) {
            ++first_count;
            first_byte_ = static_cast<int>(b);
        }
    if (first_count != 1)
        first_byte_ = -1;
    if (size <= max_precomputed_program) {
        follow_.assign(size * words_, 0);
        for (std::size_t pc = 0; pc < size; ++pc)
            if ((consuming_[pc >> 6] >> (pc & 63)) & 1)
                closure(follow_.data() + pc * words_, pc + 1, false, false, stack.data());
    }
}

void path_regex::closure(std::uint64_t* set, std::size_t start, bool at_begin, bool at_end,
                         std::uint16_t* stack) const noexcept
{
    auto mark = [&](std::size_t pc) noexcept {
        const std::uint64_t bit = std::uint64_t{1} << (pc & 63);
        if (set[pc >> 6] & bit)
            return false;
        set[pc >> 6] |= bit;
        return true;
    };
    // Marking on push bounds the stack by the program size: each pc goes on it once.
    std::size_t top = 0;
    auto follow = [&](std::size_t pc) noexcept {
        if (mark(pc))
            stack[top++] = static_cast<std::uint16_t>(pc);
    };
    follow(start);
    while (top > 0) {
        const std::size_t pc = stack[--top];
        const instruction& in = program_[pc];
        switch (in.code) {
        case op::jump:
            follow(in.x);
            break;
        case op::split:
            follow(in.x);
            follow(in.y);
            break;
        case op::bol:
            if (at_begin)
                follow(pc + 1);
            break;
        case op::eol:
            if (at_end)
                follow(pc + 1);
            break;
        default:
            break;  // consuming instructions and match wait for the next byte
        }
    }
}

bool path_regex::search(std::string_view subject) const noexcept
{
    const std::size_t size = program_.size();
    if (size == 0)
        return false;  // moved-from
    constexpr std::size_t max_words = max_program_size / 64;
    const std::size_t words = words_;
    const std::size_t match_pc = size - 1;
    const std::size_t n = subject.size();
    const bool precomputed = !follow_.empty();
    const bool anchored = anchored_;
    // Locals, not members: the stores into the state sets could alias members as far as
    // the compiler knows, and would make it reload them on every byte.
    const instruction* const program = program_.data();
    const std::uint64_t* const consuming = consuming_.data();
    const std::uint64_t* const start = start_.data();
    const std::uint64_t* const follow = follow_.data();
    const byte_set* const sets = sets_.data();
    const byte_set& first = first_;
    const int first_byte = first_byte_;
    const bool skip = skip_;

    // A state set is a bitset over instructions: a thread per instruction at most, which
    // is what bounds the work per subject byte. Captures are not kept, so neither is
    // thread priority.
    std::array<std::uint64_t, max_words> set_a{};
    std::array<std::uint64_t, max_words> set_b;
    std::array<std::uint16_t, max_program_size> stack;
    std::uint64_t* cur = set_a.data();
    std::uint64_t* next = set_b.data();

    for (std::size_t pos = 0;; ++pos) {
        // Search: a new thread starts at every offset, unless the pattern is anchored.
        if (pos == 0 || pos == n) {
            if (pos == 0 || !anchored)
                closure(cur, 0, pos == 0, pos == n, stack.data());
        } else if (!anchored) {
            for (std::size_t w = 0; w < words; ++w)
                cur[w] |= start[w];
        }
        if ((cur[match_pc >> 6] >> (match_pc & 63)) & 1)
            return true;
        if (pos == n)
            return false;

        const auto c = static_cast<unsigned char>(subject[pos]);
        const bool next_is_end = pos + 1 == n;
        next[0] = 0;  // a loop here would become a memset call per byte
        for (std::size_t w = 1; w < words; ++w)
            next[w] = 0;
        bool alive = false;
        for (std::size_t w = 0; w < words; ++w) {
            // The set also marks the jumps and splits the closure went through; skip them.
            for (std::uint64_t bits = cur[w] & consuming[w]; bits != 0; bits &= bits - 1) {
                const std::size_t pc = w * 64 + static_cast<std::size_t>(std::countr_zero(bits));
                const instruction& in = program[pc];
                bool step = false;
                switch (in.code) {
                case op::byte:
                    step = c == in.byte;
                    break;
                case op::set:
                    step = set_has(sets[in.x], c);
                    break;
                default:  // op::any
                    step = c != '\n' && c != '\r';
                    break;
                }
                if (!step)
                    continue;
                alive = true;
                if (precomputed && !next_is_end) {
                    const std::uint64_t* f = follow + pc * words;
                    for (std::size_t k = 0; k < words; ++k)
                        next[k] |= f[k];
                } else {
                    closure(next, pc + 1, false, next_is_end, stack.data());
                }
            }
        }
        std::swap(cur, next);
        if (!alive) {
            if (anchored)
                return false;
            // No thread is alive, so an offset whose byte cannot start a match adds
            // nothing: skip to the next one that can. The end is still examined, for "$".
            if (skip && pos + 1 < n) {
                const std::size_t from = pos + 1;
                std::size_t to = n;
                if (first_byte >= 0) {
                    const void* hit = std::memchr(subject.data() + from, first_byte, to - from);
                    if (hit)
                        to = static_cast<std::size_t>(static_cast<const char*>(hit) - subject.data());
                } else {
                    for (std::size_t k = from; k < to; ++k)
                        if (set_has(first, static_cast<unsigned char>(subject[k]))) {
                            to = k;
                            break;
                        }
                }
                pos = to - 1;  // the loop's ++pos lands on it
            }
        }
    }
}

}  // namespace maintgate::policy
