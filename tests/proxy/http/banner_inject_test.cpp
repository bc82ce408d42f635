#include "proxy/http/banner_inject.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/alloc_counter.hpp"

using namespace maintgate;

namespace {

constexpr std::string_view frag = "[BANNER]";

std::string append(std::string& out, const banner_injector::pieces& p) {
    out.append(p.before);
    out.append(p.insert);
    out.append(p.after);
    return out;
}

// Feeds doc cut at the given offsets and returns what came out.
std::string run(std::string_view doc, const std::vector<std::size_t>& cuts, std::size_t give_up = 64 * 1024) {
    banner_injector inj(frag, give_up);
    std::string out;
    std::size_t at = 0;
    for (std::size_t c : cuts) {
        append(out, inj.feed(doc.substr(at, c - at)));
        at = c;
    }
    append(out, inj.feed(doc.substr(at)));
    return out;
}

// expected: doc with the fragment after offset `after` (npos: unchanged).
std::string expected(std::string_view doc, std::size_t after) {
    if (after == std::string_view::npos) return std::string(doc);
    return std::string(doc.substr(0, after)) + std::string(frag) + std::string(doc.substr(after));
}

struct doc_row {
    std::string_view name;
    std::string_view doc;
    std::string_view insert_after;  // the banner goes after the first occurrence of this; empty: nowhere
};

const doc_row docs[] = {
    {"plain", "<!doctype html><html><head><title>t</title></head><body><p>hi</p></body></html>", "<body>"},
    {"upper case and attributes", "<HTML><BODY CLASS=\"home\" data-x=1>text</BODY>", "data-x=1>"},
    {"'>' inside quoted attribute values",
     "<html><body data-a=\"a>b\" data-b='c>d' onload=\"x()\">x</body>", "onload=\"x()\">"},
    {"comment with <body> before it", "<html><!-- <body> in a comment --><body>x", "--><body>"},
    {"abrupt comments", "<!--><body id=1>x", "<body id=1>"},
    {"abrupt comment with a dash", "<!---><body id=2>x", "<body id=2>"},
    {"comment ending with --!>", "<!-- a --!><body id=3>x", "<body id=3>"},
    {"script mentioning <body>",
     "<head><script>document.write(\"<body>\"); if (a</b) {}</script ></head><body id=s>x", "<body id=s>"},
    {"style and title mentioning <body>",
     "<head><style>p::after{content:\"<body>\"}</style><title><body></title></head><body>x", "</title></head><body>"},
    {"uppercase script end tag", "<SCRIPT>var s='<body>'</SCRIPT><body>x", "</SCRIPT><body>"},
    {"doctype with quoted '>'-free text", "<!DOCTYPE html PUBLIC \"-//W3C//DTD\"><body>x", "\"><body>"},
    {"processing instruction", "<?xml version=\"1.0\"?><body>x", "?><body>"},
    {"bodyless look-alikes", "<bodyguard><tbody><body>x", "<tbody><body>"},
    {"self-closing body", "<body/>x", "<body/>"},
    {"body with newline attributes", "<body\n  class=\"a\"\n>x", "\n>"},
    {"text with a stray <", "a < b <1 <<body>x", "<<body>"},
    {"end tags before", "</head ><body>x", "<body>"},
    {"no body tag", "<html><p>no body here</p></html>", ""},
    {"frameset", "<html><frameset><body>x</body></frameset>", ""},
    {"body only in a script", "<script><body></script>", ""},
    {"empty", "", ""},
};

std::size_t insert_offset(const doc_row& r) {
    if (r.insert_after.empty()) return std::string_view::npos;
    auto at = r.doc.find(r.insert_after);
    REQUIRE(at != std::string_view::npos);
    return at + r.insert_after.size();
}

}  // namespace

TEST_CASE("banner_inject: the banner goes right after the first <body> tag, however the page is cut",
          "[banner]") {
    for (const auto& r : docs) {
        INFO(r.name);
        const std::string want = expected(r.doc, insert_offset(r));
        CHECK(run(r.doc, {}) == want);
        // Every split point into two pieces.
        for (std::size_t i = 0; i <= r.doc.size(); ++i) {
            INFO("cut at " << i);
            REQUIRE(run(r.doc, {i}) == want);
        }
        // Every split into three pieces.
        for (std::size_t i = 0; i <= r.doc.size(); ++i)
            for (std::size_t j = i; j <= r.doc.size(); ++j) {
                INFO("cuts at " << i << ", " << j);
                REQUIRE(run(r.doc, {i, j}) == want);
            }
        // One byte at a time.
        std::vector<std::size_t> bytes;
        for (std::size_t i = 1; i < r.doc.size(); ++i) bytes.push_back(i);
        CHECK(run(r.doc, bytes) == want);
    }
}

TEST_CASE("banner_inject: a page without <body> in its first bytes passes through unchanged", "[banner]") {
    std::string doc(200, 'x');
    doc += "<body>after the bound";
    CHECK(run(doc, {}, 100) == doc);
    CHECK(run(doc, {50, 150}, 100) == doc);
    // Just inside the bound it is found.
    CHECK(run(doc, {}, doc.find('>') + 1) == expected(doc, doc.find('>') + 1));
    banner_injector inj(frag, 100);
    inj.feed(doc);
    CHECK(inj.state() == banner_injector::outcome::gave_up);
}

TEST_CASE("banner_inject: the fragment goes in once, and the rest streams as it came", "[banner]") {
    banner_injector inj(frag);
    auto p = inj.feed("<body>");
    CHECK(p.before == "<body>");
    CHECK(p.insert == frag);
    CHECK(p.after.empty());
    CHECK(inj.state() == banner_injector::outcome::inserted);
    p = inj.feed("<body>again");
    CHECK(p.before == "<body>again");
    CHECK(p.insert.empty());
    CHECK(p.size() == 11);
}

TEST_CASE("banner_inject: feeding allocates nothing, reset included", "[banner]") {
    banner_injector inj;
    const std::string doc =
        "<!doctype html><html><head><script>var a='<body>';</script><!-- c --></head>"
        "<body class=\"x>y\">text</body></html>";
    const auto before = maintgate::test::allocations;
    for (int round = 0; round < 3; ++round) {
        inj.reset(frag);
        for (std::size_t i = 0; i < doc.size(); i += 7) inj.feed(std::string_view(doc).substr(i, 7));
    }
    CHECK(maintgate::test::allocations == before);
    CHECK(inj.state() == banner_injector::outcome::inserted);
}
