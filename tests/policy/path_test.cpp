#include "policy/path.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <optional>
#include <string>

using namespace maintgate::policy;
using namespace std::string_view_literals;

namespace {

// nullopt is spelled "!" in the tables below: no path can be "!", since all start with '/'.
constexpr std::string_view refused = "!";

std::string normalise(std::string_view target, std::size_t cap = 256) {
    std::array<char, 256> buf{};
    REQUIRE(cap <= buf.size());
    const auto n = normalize_path(target, buf.data(), cap);
    if (!n) return std::string(refused);
    REQUIRE(*n <= cap);
    return std::string(buf.data(), *n);
}

struct row {
    std::string_view target;
    std::string_view expected;
};

void check_rows(std::initializer_list<row> rows) {
    for (const auto& r : rows) {
        INFO("target '" << std::string(r.target) << "'");
        CHECK(normalise(r.target) == r.expected);
    }
}

}  // namespace

TEST_CASE("normalize_path leaves clean paths alone", "[path]") {
    check_rows({
        {"/", "/"},
        {"/healthz", "/healthz"},
        {"/api/v1/items", "/api/v1/items"},
        {"/api/v1/items/", "/api/v1/items/"},
        {"/a.b/c..d/...e/.f/g.", "/a.b/c..d/...e/.f/g."},
        {"/a;b/c;jsessionid=1", "/a;b/c;jsessionid=1"},
        {"/caf\xc3\xa9", "/caf\xc3\xa9"},
        {"/a-b_c~d!$&'()*+,=:@", "/a-b_c~d!$&'()*+,=:@"},
    });
}

TEST_CASE("normalize_path defeats the attack shapes aimed at exception rules", "[path]") {
    check_rows({
        // Each would match an exception for "/healthz" if compared raw; resolved, they
        // would be "/api/write", which a backend that resolves nothing does not see.
        {"/healthz/../api/write", "!"},
        {"/healthz/%2e%2e/api/write", "!"},
        {"/healthz/%2E%2E/api/write", "!"},
        {"/healthz/.%2e/api/write", "!"},
        {"/healthz/..%2fapi/write", "!"},
        {"/healthz/..%2Fapi/write", "!"},
        {"/healthz%2f..%2fapi%2fwrite", "!"},
        {"/healthz\\..\\api\\write", "!"},
        {"/healthz/..%5capi/write", "!"},
        {"/healthz/./../api/write", "!"},
        {"/healthz//..//api/write", "!"},
        // The other way round, and the reason dot segments are refused, not resolved: a
        // write route that resolves into the exception. A backend that routes on the raw
        // path sends "/api/write/../../healthz" to its /api/write handler.
        {"/api/write/../../healthz", "!"},
        {"/api%2fwrite%2f..%2f..%2fhealthz", "!"},
        {"/api\\write\\..\\..\\healthz", "!"},
        {"/x/../healthz", "!"},
        {"/./healthz", "!"},
        {"/healthz/.", "!"},
        // The exception spelled differently, but the same path to every backend.
        {"/healthz//", "/healthz/"},
        {"/x//healthz", "/x/healthz"},
        {"/%68ealthz", "/healthz"},
        {"/%68%65%61%6c%74%68%7a", "/healthz"},
        {"\\healthz", "!"},  // origin-form starts with '/'
        {"//healthz", "!"},  // a network-path reference to some parsers: host "healthz"
        {"/\\healthz", "!"},
        {"///healthz//", "!"},
    });
}

TEST_CASE("normalize_path refuses dot segments instead of resolving them", "[path]") {
    // Backends disagree on dot segments (Tomcat and Apache resolve them; Express, Rack,
    // Werkzeug and Django route on the raw path), so no rule may depend on either reading.
    check_rows({
        {"/a/b/c/./../../g", "!"},
        {"/a/b/..", "!"},
        {"/a/b/../", "!"},
        {"/a/b/.", "!"},
        {"/a/b/./", "!"},
        {"/a/..", "!"},
        {"/.", "!"},
        {"/./", "!"},
        {"/a/./b", "!"},
        {"/a/%2e/b", "!"},
        {"/a/%2E%2e/b", "!"},
        {"/a/.%2E", "!"},
        {"/a/%2e%2e%2f", "!"},
        {"/..", "!"},
        {"/../healthz", "!"},
        {"/healthz/../../etc/passwd", "!"},
        {"/%2e%2e/a", "!"},
        {"/..\\a", "!"},
        // Only whole segments are dot segments.
        {"/a/b..", "/a/b.."},
        {"/a/..b/c", "/a/..b/c"},
        {"/a/.b", "/a/.b"},
        {"/a/b.", "/a/b."},
        {"/a//b///c", "/a/b/c"},
        {"/a/b/c/", "/a/b/c/"},
    });
}

TEST_CASE("normalize_path refuses bad or ambiguous encodings", "[path]") {
    check_rows({
        // Invalid or truncated escapes.
        {"/a%", "!"},
        {"/a%2", "!"},
        {"/a%zz", "!"},
        {"/a%2g", "!"},
        {"/a%%41", "!"},
        {"/a%2?x=1", "!"},
        // Decoded controls, NUL and DEL.
        {"/healthz%00", "!"},
        {"/healthz%00.json", "!"},
        {"/a%0d%0aSet-Cookie:x", "!"},
        {"/a%09b", "!"},
        {"/a%7f", "!"},
        // Raw bytes a request-target cannot carry.
        {"/a b", "!"},
        {"/a\tb", "!"},
        {"/a\x7f"sv, "!"},
        {"/a\0b"sv, "!"},
        // Double encoding: an upstream that decodes again would see "..".
        {"/healthz/%252e%252e/api", "!"},
        {"/healthz/%252E", "!"},
        {"/a%25%32%65", "!"},
        // Overlong UTF-8 for '.' and '/'.
        {"/healthz/%c0%ae%c0%ae/api", "!"},
        {"/healthz%c0%afapi", "!"},
        // Dot segments in disguise: path parameters, extra dots, trailing spaces.
        {"/healthz/..;/api/write", "!"},
        {"/healthz/..;x=1/api/write", "!"},
        {"/healthz/.;/api", "!"},
        {"/healthz/%2e%2e%3b/api", "!"},
        {"/healthz/.../api", "!"},
        {"/healthz/..%20/api", "!"},
        {"/healthz/.%20/api", "!"},
        {"/healthz/%20../api", "!"},
    });
}

TEST_CASE("normalize_path keeps benign encodings", "[path]") {
    check_rows({
        {"/a%20b", "/a b"},
        {"/100%25", "/100%"},
        {"/100%25/x", "/100%/x"},
        {"/a%25zz", "/a%zz"},  // a decoded '%' without two hex digits after it is a byte
        {"/a%3fb", "/a?b"},  // decoded '?' and '#' are data, not delimiters
        {"/a%23b", "/a#b"},
        {"/caf%C3%A9", "/caf\xc3\xa9"},
        {"/a/;b", "/a/;b"},
        {"/a/%2e%2ex", "/a/..x"},
        {"/a/x..", "/a/x.."},
        {"/ /", "!"},  // raw space
        {"/%20/", "/ /"},
    });
}

TEST_CASE("normalize_path strips the query and the fragment", "[path]") {
    check_rows({
        {"/search?q=../../x", "/search"},
        {"/search?", "/search"},
        {"/a/b/c?x#y", "/a/b/c"},
        {"/page#frag", "/page"},
        {"/?", "/"},
        {"/a?b/../../..", "/a"},
        {"/a?%zz", "/a"},  // the query is not our business
        {"/a%3f/..?b", "!"},  // the decoded '?' is data: "a?" then a dot segment
    });
}

TEST_CASE("normalize_path takes the path of an absolute-form target", "[path]") {
    check_rows({
        {"http://example.com/healthz", "/healthz"},
        {"https://example.com:8443/a/b?x", "/a/b"},
        {"https://example.com:8443/a/../b?x", "!"},
        {"HTTP://Example.COM/x", "/x"},
        {"HtTpS://h/x/", "/x/"},
        {"http://example.com", "/"},
        {"http://example.com?x=1", "/"},
        {"http://example.com#f", "/"},
        {"http://user@example.com/x", "/x"},
        {"http://example.com//healthz/..%2fapi", "!"},  // a network-path after the authority
        {"http://example.com/../x", "!"},
        {"http://", "!"},
        {"http:///x", "!"},
        {"http://example.com\\healthz", "!"},
        {"ftp://example.com/x", "!"},
        {"http:/x", "!"},
        {"http:x", "!"},
        {"example.com:443", "!"},
        {"*", "!"},
        {"", "!"},
        {"healthz", "!"},
        {"?x", "!"},
    });
}

TEST_CASE("normalize_path honours out_cap exactly", "[path]") {
    // The result alone must fit, not the raw target nor an intermediate form.
    CHECK(normalise("/healthz", 8) == "/healthz");
    CHECK(normalise("/healthz", 7) == refused);
    CHECK(normalise("/healthz/", 9) == "/healthz/");
    CHECK(normalise("/healthz/", 8) == refused);
    CHECK(normalise("/a//////b", 4) == "/a/b");
    CHECK(normalise("/a//////b", 3) == refused);
    CHECK(normalise("/%68%65%61%6c%74%68%7a", 8) == "/healthz");
    CHECK(normalise("/%41", 2) == "/A");
    CHECK(normalise("/%41", 1) == refused);
    CHECK(normalise("/", 1) == "/");
    CHECK(normalise("/", 0) == refused);
    CHECK(normalise("http://example.com", 1) == "/");
    CHECK(normalise("http://example.com", 0) == refused);
    CHECK(normalise("/a/b", 0) == refused);

    // A buffer as long as the target always suffices.
    for (std::string_view t : {"/a/b//c//d/", "/x//y", "/%41%42", "http://h/q//r"}) {
        INFO(std::string(t));
        CHECK(normalise(t, t.size()) != refused);
    }
    // Nothing is written past out_cap.
    std::array<char, 16> buf;
    buf.fill('#');
    CHECK_FALSE(normalize_path("/abcdefghijkl", buf.data(), 4).has_value());
    CHECK(std::string_view(buf.data() + 4, 12) == "############");
}

TEST_CASE("path_has_prefix matches at segment boundaries", "[path]") {
    struct prefix_row {
        std::string_view path;
        std::string_view prefix;
        bool matches;
    };
    const prefix_row rows[] = {
        {"/api", "/api", true},
        {"/api/", "/api", true},
        {"/api/x", "/api", true},
        {"/api/x/y", "/api", true},
        {"/apix", "/api", false},
        {"/ap", "/api", false},
        {"/", "/api", false},
        {"/v1/api", "/api", false},
        {"/api", "/api/", false},
        {"/api/", "/api/", true},
        {"/api/x", "/api/", true},
        {"/anything", "/", true},
        {"/", "/", true},
        {"/healthz", "/healthz", true},
        {"/healthz.json", "/healthz", false},
        {"/healthz;x", "/healthz", false},
        {"/HEALTHZ", "/healthz", false},
        {"/api/search", "/api/search", true},
        {"/api/searchall", "/api/search", false},
        {"/x", "", false},
        {"", "", false},
        {"", "/", false},
    };
    for (const auto& r : rows) {
        INFO("'" << std::string(r.path) << "' has prefix '" << std::string(r.prefix) << "'");
        CHECK(path_has_prefix(r.path, r.prefix) == r.matches);
    }
}

TEST_CASE("normalised attack paths miss the exception they aim at", "[path]") {
    // The two functions together, as the gate uses them.
    const std::string_view attacks[] = {
        "/healthz/../api/write",
        "/healthz/%2e%2e/api/write",
        "/healthz/..%2fapi/write",
        "/healthz\\..\\api\\write",
        "/healthz/..;/api/write",
        "/healthz/%252e%252e/api/write",
        "/healthz%2f..%2fapi/write",
        "/healthzz",
        "/healthz.evil",
        // Write routes that would resolve into the exception.
        "/api/write/../../healthz",
        "/api/write/%2e%2e/%2e%2e/healthz/live",
        "/x/../healthz/live",
    };
    for (auto t : attacks) {
        INFO(std::string(t));
        std::array<char, 64> buf{};
        const auto n = normalize_path(t, buf.data(), buf.size());
        CHECK_FALSE((n && path_has_prefix(std::string_view(buf.data(), *n), "/healthz")));
    }
    for (auto t : {"/%68ealthz", "/healthz/", "/healthz?full=1", "/healthz//live"}) {
        INFO(t);
        std::array<char, 64> buf{};
        const auto n = normalize_path(t, buf.data(), buf.size());
        REQUIRE(n);
        CHECK(path_has_prefix(std::string_view(buf.data(), *n), "/healthz"));
    }
}
