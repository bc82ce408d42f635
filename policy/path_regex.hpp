#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace maintgate::policy {

// A regular expression for gate rules, matched on attacker-controlled paths. std::regex
// allocates and backtracks (exponential time on "(a*)*b"); this one is compiled once, at
// config load, into a Thompson NFA and run as a set of states (Pike VM without captures):
// no allocation and O(subject size * program size) time whatever the pattern.
//
// Syntax, a subset of ECMAScript over bytes:
// - literals; escaped punctuation ("\.", "\/", "\\", "\-", "\{"...); "\n \r \t \f \v";
//   "\xHH"; classes "\d \w \s" and "\D \W \S" (ASCII: [0-9], [A-Za-z0-9_], [ \t\n\v\f\r]);
// - "." is any byte but '\n' and '\r' (ECMAScript's line terminators that fit in a byte);
// - bracket classes "[a-z0-9_-]", "[^/]", with the escapes above inside;
// - anchors "^" (subject start) and "$" (subject end), no multiline;
// - groups "( )" and "(?: )" (nothing is captured); alternation "|" at any level;
// - quantifiers "*", "+", "?", "{n}", "{n,}", "{n,m}" (n, m <= 32), each optionally lazy
//   ("*?"); lazy is the same as greedy since only "does it match" is asked.
// Refused with a message and an offset: unbalanced "(" ")", a quantifier with nothing to
// repeat (also on "^" or "$", or after another quantifier), an empty class ("[]", "[^]"),
// a bad range, unknown escapes, backreferences, word boundaries, lookarounds, named groups,
// a lone "]" or "}" (escape them), a "{" that is not a valid bounded repeat, a pattern
// over 512 bytes, and a program over 2048 instructions (bounded repeats are expanded).
// Bytes are bytes: a quantifier after a multi-byte UTF-8 character repeats its last byte.
class path_regex {
public:
    static constexpr std::size_t max_pattern_size = 512;
    static constexpr std::size_t max_program_size = 2048;
    static constexpr unsigned max_repeat = 32;

    // Either value is set, or error says why not and offset is the 0-based offset of the
    // offending character in the pattern (the pattern's size for an unexpected end).
    struct compile_result;

    // Compiles pattern; allocates and may throw std::bad_alloc, so for config loading only.
    static compile_result compile(std::string_view pattern);

    // True when the regex matches somewhere in subject (search semantics; "^" and "$"
    // anchor). Allocation-free and O(subject.size() * program_size()); the state sets
    // live on the stack (about 5 KiB, bounded by max_program_size). Thread-safe: const.
    bool search(std::string_view subject) const noexcept;

    // The source text, for status output and error messages.
    const std::string& pattern() const noexcept { return pattern_; }

    // Instructions in the compiled program, match included; at most max_program_size.
    std::size_t program_size() const noexcept { return program_.size(); }

private:
    struct compiler;
    enum class op : std::uint8_t { byte, set, any, bol, eol, split, jump, match };
    struct instruction {
        op code = op::match;
        std::uint8_t byte = 0;  // op::byte
        std::uint16_t x = 0;    // op::set: set index; op::split, op::jump: target
        std::uint16_t y = 0;    // op::split: second target
    };
    using byte_set = std::array<std::uint64_t, 4>;

    // Programs up to this size get their closures precomputed (at most 8 KiB).
    static constexpr std::size_t max_precomputed_program = 256;

    path_regex() = default;

    // Derives consuming_, start_, follow_, first_, first_byte_ and skip_ from program_.
    void build_tables();

    // Adds start and every instruction reachable from it without reading a byte to set
    // (a bitset over the program); stack has room for program_size() entries.
    void closure(std::uint64_t* set, std::size_t start, bool at_begin, bool at_end,
                 std::uint16_t* stack) const noexcept;

    std::string pattern_;
    std::vector<instruction> program_;
    std::vector<byte_set> sets_;
    std::size_t words_ = 0;                 // 64-bit words in a state set
    std::vector<std::uint64_t> consuming_;  // bit per instruction that reads a byte
    // Closures away from both ends of the subject, where "^" and "$" cannot hold, are the
    // same at every offset: start_ from instruction 0, follow_ (words_ per instruction,
    // small programs only, else empty) from the instruction after each consuming one.
    std::vector<std::uint64_t> start_;
    std::vector<std::uint64_t> follow_;
    // Bytes that a match not at offset 0 can start with; while no thread is alive, the
    // search skips to the next of them (with memchr when there is only one).
    byte_set first_{};
    int first_byte_ = -1;
    bool skip_ = false;  // false when an empty match is possible away from the ends
    bool anchored_ = false;  // every match starts at offset 0: no need to restart later
};

struct path_regex::compile_result {
    std::optional<path_regex> value;
    std::string error;  // empty when value is set
    std::size_t offset = 0;
};

}  // namespace maintgate::policy
