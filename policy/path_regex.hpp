#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace re2 {
class RE2;
}

namespace maintgate::policy {

// A regular expression for gate rules, matched on attacker-controlled paths. std::regex
// allocates and backtracks (exponential time on "(a*)*b"); this one is checked against
// the subset below at config load, translated, and run by RE2 (an automaton, never a
// backtracker): O(subject size) time per search whatever the pattern.
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
// over 512 bytes, and a pattern that expands past 2048 instructions (bounded repeats are
// expanded; counted as a Thompson NFA: see program_size()).
// Bytes are bytes (RE2 runs in Latin-1): a quantifier after a multi-byte UTF-8 character
// repeats its last byte.
class path_regex {
public:
    static constexpr std::size_t max_pattern_size = 512;
    static constexpr std::size_t max_program_size = 2048;
    static constexpr unsigned max_repeat = 32;
    // Memory RE2 may use for one regex: its program and its lazily built DFA. A DFA
    // that outgrows it is flushed and rebuilt, so a hostile pattern or subject costs
    // time, never unbounded memory.
    static constexpr std::size_t max_memory = 2 << 20;

    // Either value is set, or error says why not and offset is the 0-based offset of the
    // offending character in the pattern (the pattern's size for an unexpected end).
    struct compile_result;

    // Compiles pattern; allocates and may throw std::bad_alloc, so for config loading only.
    static compile_result compile(std::string_view pattern);

    // True when the regex matches somewhere in subject (search semantics; "^" and "$"
    // anchor). O(subject.size()) with RE2's DFA, and no allocation after warm-up: RE2
    // builds its DFA states lazily, so the first searches (and a subject that reaches a
    // state never seen before) allocate under RE2's internal lock; once the states a
    // workload visits exist, a search allocates nothing (tests/policy/path_regex_test.cpp
    // counts it). Thread-safe: const, and RE2 is safe to share between threads; each
    // search takes RE2's cache lock in shared mode.
    bool search(std::string_view subject) const noexcept;

    // The source text, for status output and error messages.
    const std::string& pattern() const noexcept { return pattern_; }

    // The size the pattern expands to, counted in the instructions of a Thompson NFA over
    // bytes (one per byte, class or anchor; a split and a jump per alternative or loop;
    // bounded repeats expanded; the final match included). It is what max_program_size
    // bounds, before RE2 ever sees the pattern; RE2's own program is of the same order.
    std::size_t program_size() const noexcept { return program_size_; }

private:
    struct checker;

    path_regex() = default;

    std::string pattern_;
    // Shared by copies: an RE2 is immutable but for its DFA cache, which it locks itself.
    std::shared_ptr<const re2::RE2> re_;
    std::size_t program_size_ = 0;
};

struct path_regex::compile_result {
    std::optional<path_regex> value;
    std::string error;  // empty when value is set
    std::size_t offset = 0;
};

}  // namespace maintgate::policy
