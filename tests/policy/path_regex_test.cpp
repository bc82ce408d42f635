#include "policy/path_regex.hpp"

#include "tests/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <regex>
#include <string>
#include <vector>

using namespace maintgate::policy;
using maintgate::test::allocations;

namespace {

path_regex rx(std::string_view pattern) {
    auto r = path_regex::compile(pattern);
    INFO("pattern '" << std::string(pattern) << "': " << r.error << " at " << r.offset);
    REQUIRE(r.value.has_value());
    CHECK(r.error.empty());
    return std::move(*r.value);
}

}  // namespace

TEST_CASE("path_regex search: table", "[path_regex]") {
    struct row {
        std::string_view pattern;
        std::string_view subject;
        bool matches;
    };
    const row rows[] = {
        // Literals and search semantics.
        {"abc", "abc", true},
        {"abc", "xxabcxx", true},
        {"abc", "ab", false},
        {"abc", "", false},
        {"", "", true},
        {"", "anything", true},
        {"/api/", "/v1/api/items", true},
        // Anchors.
        {"^/api", "/api/x", true},
        {"^/api", "/v1/api", false},
        {"/api$", "/v1/api", true},
        {"/api$", "/api/", false},
        {"^/healthz$", "/healthz", true},
        {"^/healthz$", "/healthz/", false},
        {"^/healthz$", "//healthz", false},
        {"^$", "", true},
        {"^$", "x", false},
        {"a^b", "a^b", false},
        {"a$b", "a$b", false},
        {"^", "x", true},
        {"$", "x", true},
        {"(?:^|/)admin", "/admin", true},
        {"(?:^|/)admin", "xadmin", false},
        {"(?:^|/)admin", "admin", true},
        {"(^a|b$)", "cab", true},
        {"(^a|b$)", "cba", false},
        {"^a(?:$)*", "ab", true},
        {"a(?:^)+b", "ab", false},
        {"a($){1,3}", "ba", true},
        {"a($){1,3}", "ab", false},
        // Dot.
        {"a.c", "abc", true},
        {"a.c", "a/c", true},
        {"a.c", "ac", false},
        {"a.c", "a\nc", false},
        {"a.c", "a\rc", false},
        {"^.*$", "any/thing", true},
        {"^.*$", "line\nbreak", false},
        {"a.c",
         "a\xff"
         "c",
         true},
        // Escapes.
        {"\\.json$", "/x.json", true},
        {"\\.json$", "/xjson", false},
        {"^\\/api\\/", "/api/", true},
        {"a\\\\b", "a\\b", true},
        {"a\\-b", "a-b", true},
        {"\\(\\)\\[\\]\\{\\}\\*\\+\\?\\|\\^\\$", "()[]{}*+?|^$", true},
        {"\\x41\\x2f", "A/", true},
        {"\\x41", "a", false},
        {"a\\tb", "a\tb", true},
        {"\\d+", "/v12", true},
        {"^\\d+$", "12a", false},
        {"^\\D+$", "abc", true},
        {"^\\D+$", "ab1", false},
        {"^\\w+$", "a_Z9", true},
        {"^\\w+$", "a-b", false},
        {"^\\W$", "-", true},
        {"^\\W$", "_", false},
        {"a\\sb", "a b", true},
        {"a\\sb", "a\vb", true},
        {"a\\Sb", "a b", false},
        {"a\\Sb", "a.b", true},
        // Classes.
        {"^[a-z0-9_-]+$", "my-item_2", true},
        {"^[a-z0-9_-]+$", "My-item", false},
        {"^/[^/]+$", "/one", true},
        {"^/[^/]+$", "/one/two", false},
        {"^/[^/]+$", "/", false},
        {"[.]", "a.b", true},
        {"[.]", "ab", false},
        {"[\\]]", "]", true},
        {"[\\\\]", "\\", true},
        {"[a\\-z]", "-", true},
        {"[a\\-z]", "b", false},
        {"[-a]", "-", true},
        {"[a-]", "-", true},
        {"[a-c-e]", "-", true},
        {"[a-c-e]", "d", false},
        {"[\\d.]", ".", true},
        {"[\\d.]", "7", true},
        {"[\\d.]", "x", false},
        {"[^\\d]", "5", false},
        {"[^\\d]", "x", true},
        {"[\\w-]+\\.css$", "/site-main.css", true},
        {"[^a]", "\n", true},
        {"[\\x00-\\x1f]", "a\x01", true},
        {"[[]", "[", true},
        {"[^^]", "^", false},
        // Groups and alternation.
        {"^/(api|admin)/", "/admin/users", true},
        {"^/(api|admin)/", "/apix/", false},
        {"^/(?:api|admin)/", "/api/", true},
        {"^/api/(v1|v2)/(users|items)$", "/api/v2/items", true},
        {"^/api/(v1|v2)/(users|items)$", "/api/v3/items", false},
        {"a|b|c", "zzc", true},
        {"a|b|c", "zzz", false},
        {"^(a|ab)(c|bcd)$", "abcd", true},
        {"x(a|)y", "xy", true},
        {"x(|a)y", "xay", true},
        {"x()y", "xy", true},
        {"^(?:(?:a|b)|(?:c|d))+$", "abcdcba", true},
        {"^(((a)))$", "a", true},
        // Quantifiers.
        {"^ab*c$", "ac", true},
        {"^ab*c$", "abbbc", true},
        {"^ab+c$", "ac", false},
        {"^ab+c$", "abc", true},
        {"^ab?c$", "abbc", false},
        {"^ab?c$", "ac", true},
        {"^ab*?c$", "abbc", true},
        {"^ab+?c$", "abbc", true},
        {"^ab??c$", "abc", true},
        {"^(ab)*$", "ababab", true},
        {"^(ab)*$", "ababa", false},
        {"^(a*)*$", "aaa", true},
        {"^(a*)+$", "", true},
        {"^(a?)*b$", "b", true},
        {"^()*$", "", true},
        {"^(|a)+$", "aa", true},
        // Bounded repeats.
        {"^a{3}$", "aaa", true},
        {"^a{3}$", "aa", false},
        {"^a{3}$", "aaaa", false},
        {"^a{2,}$", "a", false},
        {"^a{2,}$", "aa", true},
        {"^a{2,}$", "aaaaaaa", true},
        {"^a{2,4}$", "aaaa", true},
        {"^a{2,4}$", "aaaaa", false},
        {"^a{0,2}$", "", true},
        {"^a{0}$", "", true},
        {"^a{0}$", "a", false},
        {"^a{0,0}b$", "b", true},
        {"^(ab){2}$", "abab", true},
        {"^(?:a|bc){2,3}$", "bcabc", true},
        {"^(?:a|bc){2,3}$", "bcabca", false},
        {"^(?:a|bc){2,3}$", "abca", true},
        {"^(?:a|bc){2,3}$", "a", false},
        {"^a{2,3}?$", "aaa", true},
        {"^[0-9a-f]{8}-[0-9a-f]{4}$", "deadbeef-0123", true},
        {"^[0-9a-f]{8}-[0-9a-f]{4}$", "deadbeef-012", false},
        {"^a{32}$", std::string_view("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), true},
        {"^(?:a{32}){2}$",
         std::string_view("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), true},
        // Realistic gate rules.
        {"^/api/v[0-9]+/search$", "/api/v2/search", true},
        {"^/api/v[0-9]+/search$", "/api/v2/search/x", false},
        {"^/hooks/(stripe|github)/[a-z0-9-]+$", "/hooks/github/abc-123", true},
        {"^/hooks/(stripe|github)/[a-z0-9-]+$", "/hooks/gitlab/abc-123", false},
        {"^/(login|logout|session/refresh)$", "/session/refresh", true},
        {"/\\.well-known/", "/.well-known/acme-challenge/x", true},
        {"\\.(css|js|png|svg|woff2?)$", "/assets/app.woff2", true},
        {"\\.(css|js|png|svg|woff2?)$", "/assets/app.woff3", false},
        // Skipping ahead while no thread is alive must still see every candidate and the end.
        {"\\.json$", "/very/long/path/with.dots/in.it/file.jsonx.json", true},
        {"\\.json$", "/very/long/path/with.dots/in.it/file.jsonx", false},
        {"b$", "xxxxxxxxxxxxxxxxxxxa", false},
        {"b$", "xxxxxxxxxxxxxxxxxxxb", true},
        {"[0-9]{3}$", "/abc/defg/12", false},
        {"[0-9]{3}$", "/abc/1/22/333", true},
        {"(?:a|$)", "bbbbbbbb", true},
        {"(?:a|^)x", "bbbbbbbx", false},
        {"x*$", "bbbbbbbb", true},
        {"/admin(?:/|$)", "/static/js/x/admin", true},
        {"/admin(?:/|$)", "/static/js/x/administrator", false},
        // Bytes, not characters.
        {"caf\xc3\xa9", "un caf\xc3\xa9", true},
        {"^caf\xc3\xa9?$", "caf\xc3", true},  // '?' applies to the last byte only
    };
    for (const auto& r : rows) {
        INFO("pattern '" << std::string(r.pattern) << "' subject '" << std::string(r.subject) << "'");
        CHECK(rx(r.pattern).search(r.subject) == r.matches);
    }
}

TEST_CASE("path_regex compile errors name the problem and its offset", "[path_regex]") {
    struct row {
        std::string pattern;
        std::string_view error;
        std::size_t offset;
    };
    const row rows[] = {
        {"(abc", "unclosed '('", 0},
        {"a(b(c)", "unclosed '('", 1},
        {"abc)", "unmatched ')'", 3},
        {"a)b(", "unmatched ')'", 1},
        {"(a))", "unmatched ')'", 3},
        {"*a", "nothing to repeat", 0},
        {"a**", "nothing to repeat", 2},
        {"a|*", "nothing to repeat", 2},
        {"(+)", "nothing to repeat", 1},
        {"(?:?)", "nothing to repeat", 3},
        {"^*", "nothing to repeat", 1},
        {"a$?", "nothing to repeat", 2},
        {"a{2}{3}", "nothing to repeat", 4},
        {"a*?+", "nothing to repeat", 3},
        {"a+*", "nothing to repeat", 2},
        {"{2}", "nothing to repeat", 0},
        {"[]", "empty class", 0},
        {"a[^]", "empty class", 1},
        {"[abc", "unclosed '['", 0},
        {"x[a\\]", "unclosed '['", 1},
        {"[a-", "unclosed '['", 0},
        {"[z-a]", "bad range: start above end", 1},
        {"/x[0-9a-Z]", "bad range: start above end", 6},
        {"/[a-\\d]", "bad range: a class escape cannot be a range endpoint", 2},
        {"[\\w-z]", "bad range: a class escape cannot be a range endpoint", 1},
        {"\\k", "unknown escape '\\k'", 0},
        {"\\k<name>", "unknown escape '\\k'", 0},
        {"a\\q", "unknown escape '\\q'", 1},
        {"[\\k]", "unknown escape '\\k'", 1},
        {"\\u0041", "unknown escape '\\u'", 0},
        {"\\p{L}", "unknown escape '\\p'", 0},
        {"\\cJ", "unknown escape '\\c'", 0},
        {"\\0", "unknown escape '\\0'", 0},
        {"[\\b]", "unknown escape '\\b'", 1},
        {"ab\\", "trailing backslash", 2},
        {"[a\\", "trailing backslash", 2},
        {"\\x4", "bad escape '\\x': expected two hex digits", 0},
        {"a\\xg0", "bad escape '\\x': expected two hex digits", 1},
        {"(a)\\1", "backreferences are not supported", 3},
        {"\\9", "backreferences are not supported", 0},
        {"\\bword", "word boundaries are not supported", 0},
        {"a\\B", "word boundaries are not supported", 1},
        {"(?=a)", "lookarounds are not supported", 0},
        {"x(?!a)", "lookarounds are not supported", 1},
        {"(?<=a)b", "lookarounds are not supported", 0},
        {"(?<!a)b", "lookarounds are not supported", 0},
        {"(?<n>a)", "named groups are not supported", 0},
        {"(?i)a", "unknown group syntax '(?'", 0},
        {"(?", "unknown group syntax '(?'", 0},
        {"a]", "unmatched ']'", 1},
        {"[a-z]]", "unmatched ']'", 5},
        {"a}", "unmatched '}'", 1},
        {"a{33}", "repeat count over 32", 2},
        {"a{1,33}", "repeat count over 32", 4},
        {"a{99999999999999999999}", "repeat count over 32", 2},
        {"a{3,2}", "bad repeat: minimum above maximum", 1},
        {"a{,3}", "bad repeat: expected a count", 2},
        {"a{", "bad repeat: expected a count", 2},
        {"a{x}", "bad repeat: expected a count", 2},
        {"a{2", "bad repeat: expected ',' or '}'", 3},
        {"a{2x}", "bad repeat: expected ',' or '}'", 3},
        {"a{2,3", "bad repeat: expected '}'", 5},
        {"a{2,x}", "bad repeat: expected a count", 4},
        {std::string(513, 'a'), "pattern longer than 512 bytes", 512},
        // Expansion beyond the program limit, found before anything is expanded.
        {"((a{32}){32}){32}", "compiled program over 2048 instructions", 13},
        {"(?:a{32}){32}(?:b{32}){32}", "compiled program over 2048 instructions", 13},
        {"(?:a{32}){32}|(?:b{32}){32}", "compiled program over 2048 instructions", 14},
        {"(?:a{32}){32}(?:b{32}){31}c{31}d", "compiled program over 2048 instructions", 31},
        {"(?:[a-z]{0,32}){32}", "compiled program over 2048 instructions", 15},
    };
    for (const auto& r : rows) {
        INFO("pattern '" << r.pattern << "'");
        const auto result = path_regex::compile(r.pattern);
        CHECK_FALSE(result.value.has_value());
        CHECK(result.error == r.error);
        CHECK(result.offset == r.offset);
    }
}

TEST_CASE("path_regex limits: largest accepted pattern and program", "[path_regex]") {
    // 512 bytes is accepted.
    const auto long_ok = rx(std::string(512, 'a'));
    CHECK(long_ok.search(std::string(512, 'a')));
    CHECK_FALSE(long_ok.search(std::string(511, 'a')));
    // 1024 + 992 + 31 instructions plus the match: exactly the limit.
    const auto big = rx("(?:a{32}){32}(?:b{32}){31}c{31}");
    CHECK(big.program_size() == path_regex::max_program_size);
    const std::string subject = std::string(1024, 'a') + std::string(992, 'b') + std::string(31, 'c');
    CHECK(big.search(subject));
    CHECK_FALSE(big.search(subject.substr(1)));
    // Bounded repeat expansion is sized as documented.
    CHECK(rx("a").program_size() == 2);
    CHECK(rx("a{3}").program_size() == 4);
    CHECK(rx("a{2,}").program_size() == 4);  // a a split match
    CHECK(rx("a{1,3}").program_size() == 6);  // a (split a) (split a) match
    CHECK(rx("a*").program_size() == 4);  // split a jump match
    CHECK(rx("a|b").program_size() == 5);  // split a jump b match
}

TEST_CASE("path_regex runs in linear time on patterns that make backtrackers explode", "[path_regex]") {
    const std::string as(5000, 'a');
    struct row {
        std::string_view pattern;
        std::string subject;
        bool matches;
    };
    const row rows[] = {
        {"(a*)*b", as, false},
        {"(a*)*b", as + "b", true},
        {"(a|a)*b", as, false},
        {"(a|a)*b", as + "b", true},
        {"(a|aa)+$", as + "!", false},
        {"^(a+)+$", as + "!", false},
        {"^(a+)+$", as, true},
        {"(x+x+)+y", std::string(5000, 'x'), false},
        {"^(\\w+\\s?)*$", as + "!", false},
        {"^(a?){32}a{32}$", std::string(32, 'a'), true},
        {"^(a?){32}a{32}$", std::string(31, 'a'), false},
        {"(.*a){20}", as, true},
        {"(.*a){20}", std::string(5000, 'b'), false},
        {"^(?:(?:a*)*(?:b*)*)*c$", as + "bbb", false},
        {"^(?:[^/]*/)*[^/]*\\.php$", std::string(2500, '/') + "x.php", true},
        {"^(?:[^/]*/)*[^/]*\\.php$", std::string(2500, '/') + "x.phq", false},
    };
    for (const auto& r : rows) {
        INFO("pattern '" << std::string(r.pattern) << "' on " << r.subject.size() << " bytes");
        CHECK(rx(r.pattern).search(r.subject) == r.matches);
    }
}

TEST_CASE("path_regex is copyable and movable, as config vectors need", "[path_regex]") {
    std::vector<path_regex> rules;
    rules.push_back(rx("^/api/"));
    rules.push_back(rx("\\.json$"));
    const path_regex copy = rules[1];
    rules.push_back(copy);
    rules.reserve(16);  // moves every element
    CHECK(rules[0].search("/api/x"));
    CHECK_FALSE(rules[0].search("/x/api/"));
    CHECK(rules[1].search("/a.json"));
    CHECK(rules[2].search("/b.json"));
    CHECK(rules[2].pattern() == "\\.json$");
    path_regex assigned = rules[0];
    assigned = rules[1];
    CHECK(assigned.search("/c.json"));
    CHECK(assigned.pattern() == "\\.json$");
}

TEST_CASE("path_regex search allocates nothing after warm-up", "[path_regex][alloc]") {
    // RE2 builds its DFA states on demand: the first searches allocate, and the states a
    // set of subjects needs exist after one pass over them.
    const std::string_view patterns[] = {
        "^/api/v[0-9]+/search$",
        "\\.(css|js|png|svg|woff2?)$",
        "(?:^|/)admin(?:/|$)",
        "^(?:[^/]*/)*[^/]*\\.php$",
        "(.*a){20}",
        "^/hooks/(stripe|github)/[a-z0-9-]+$",
        "\\s|\\x00|[^\\x20-\\x7e]",
        "",
    };
    const std::string subjects[] = {
        "/",
        "/api/v2/search",
        "/api/v2/search/x",
        "/assets/app.woff2",
        "/static/js/x/admin",
        "/static/js/x/administrator",
        "/hooks/github/abc-123",
        std::string(2000, '/') + "x.php",
        std::string(3000, 'a'),
        "/caf\xc3\xa9/\xff",
    };
    std::size_t warm_up_total = 0;
    for (auto pattern : patterns) {
        INFO("pattern '" << std::string(pattern) << "'");
        const path_regex r = rx(pattern);
        std::size_t before = allocations;
        for (const auto& s : subjects) (void)r.search(s);
        const std::size_t warm_up = allocations - before;
        before = allocations;
        std::size_t matches = 0;
        for (int round = 0; round < 200; ++round)
            for (const auto& s : subjects) matches += r.search(s) ? 1 : 0;
        CHECK(allocations - before == 0);
        CHECK(matches % 200 == 0);  // the same answers every round
        warm_up_total += warm_up;
    }
    // The counter does see RE2's allocations (its DFA states, built by the first
    // searches), so the zeros above mean something.
    CHECK(warm_up_total > 0);
}

namespace {

// Random patterns from the supported subset, over a small alphabet so that they match often.
struct pattern_generator {
    std::mt19937 rng;

    int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); }

    std::string alternation(int depth) {
        std::string out = concat(depth);
        while (depth < 3 && pick(5) == 0) out += "|" + concat(depth);
        return out;
    }

    std::string concat(int depth) {
        std::string out;
        const int n = pick(10) == 0 ? 0 : 1 + pick(3);
        for (int k = 0; k < n; ++k) out += term(depth);
        return out;
    }

    std::string term(int depth) {
        static const char* const literals[] = {"a", "b", "c", "/", "\\.", "\\-", "1"};
        static const char* const classes[] = {"[ab]", "[^a]", "[a-c]", "[/.]",   "[^/]",  "\\d",
                                              "\\w",  "\\W",  "\\s",   "[\\d/]", "[a\\-]"};
        static const char* const quantifiers[] = {"*",  "+",  "?",  "{2}", "{0,2}", "{1,3}", "{2,}",
                                                  "*?", "+?", "??", "{0}", "{1}",   "{0,}",  "{1,2}?"};
        const int kind = pick(depth < 3 ? 16 : 12);
        std::string atom;
        if (kind < 6)
            atom = literals[pick(std::size(literals))];
        else if (kind < 7)
            atom = ".";
        else if (kind < 10)
            atom = classes[pick(std::size(classes))];
        else if (kind < 12)
            return pick(2) ? "^" : "$";  // anchors take no quantifier
        else
            atom = (pick(2) ? "(" : "(?:") + alternation(depth + 1) + ")";
        if (pick(5) < 2) atom += quantifiers[pick(std::size(quantifiers))];
        return atom;
    }

    std::string subject() {
        static const char alphabet[] = "ab/.c1-";
        std::string out;
        const int n = pick(11);
        for (int k = 0; k < n; ++k) out += alphabet[pick(sizeof alphabet - 1)];
        return out;
    }
};

}  // namespace

TEST_CASE("path_regex agrees with std::regex (ECMAScript, search) on generated cases", "[path_regex]") {
    pattern_generator gen{std::mt19937(20240601u)};
    int compared = 0;
    int matched = 0;
    for (int p = 0; p < 400; ++p) {
        const std::string pattern = gen.alternation(0);
        INFO("pattern '" << pattern << "'");
        const auto ours = path_regex::compile(pattern);
        INFO(ours.error << " at " << ours.offset);
        REQUIRE(ours.value.has_value());
        // The same pattern padded past the size where closures are precomputed, with an
        // alternative that cannot match these subjects: both execution paths are checked.
        const auto padded = path_regex::compile("(?:" + pattern + ")|(?:~{32}){8}");
        REQUIRE(padded.value.has_value());
        REQUIRE(padded.value->program_size() > 256);
        std::regex reference;
        REQUIRE_NOTHROW(reference = std::regex(pattern, std::regex::ECMAScript));
        for (int s = 0; s < 8; ++s) {
            const std::string subject = gen.subject();
            INFO("subject '" << subject << "'");
            const bool expected = std::regex_search(subject, reference);
            CHECK(ours.value->search(subject) == expected);
            CHECK(padded.value->search(subject) == expected);
            ++compared;
            matched += expected ? 1 : 0;
        }
    }
    // The generator must exercise both outcomes to prove anything.
    CHECK(compared == 3200);
    CHECK(matched > 800);
    CHECK(matched < 2400);
}
