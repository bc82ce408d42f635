#include "proxy/admin/json.hpp"

#include <catch2/catch.hpp>

#include <boost/json/value.hpp>

#include <string>

using namespace maintgate;
using namespace std::string_view_literals;

namespace {

std::string quoted(std::string_view s) {
    // serialize_line's text for one string, less the object around it.
    const std::string line = json::serialize_line({{"k", s}});
    return line.substr(5, line.size() - 6);
}

}  // namespace

TEST_CASE("json: serialize_line escapes strings", "[json]") {
    struct row {
        std::string_view in;
        std::string_view out;
    };
    const row rows[] = {
        {"", R"("")"},
        {"plain", R"("plain")"},
        {"say \"hi\"", R"("say \"hi\"")"},
        {"back\\slash", R"("back\\slash")"},
        {"a\nb\rc\td", R"("a\nb\rc\td")"},
        {"\x01\x1f"sv, R"("\u0001\u001f")"},
        {"nul\0byte"sv, R"("nul\u0000byte")"},
        {"\b\f"sv, R"("\b\f")"},
        {"del\x7f"sv, R"("del\u007f")"},
        {"/slash/", R"("/slash/")"},
        {"ünïcödé ✓ 😀", "\"ünïcödé ✓ 😀\""},
        {"bad \xff\xfe utf8"sv, "\"bad \xff\xfe utf8\""sv},
        {"</script>", R"("</script>")"},
    };
    for (const auto& r : rows) {
        INFO("'" << std::string(r.in) << "'");
        CHECK(quoted(r.in) == r.out);
    }
}

TEST_CASE("json: serialize_line writes doubles as people write them, not 5E-1", "[json]") {
    CHECK(json::serialize_line({{"r", 0.5}, {"z", 0.0}, {"n", 3}, {"a", boost::json::array{0.25, 1e-9}}}) ==
          R"({"r":0.5,"z":0,"n":3,"a":[0.25,1e-09]})");
    CHECK(json::serialize_line({{"o", boost::json::object{{"x", 2.5}}}}) == R"({"o":{"x":2.5}})");
}

TEST_CASE("json: serialize_line round-trips through parse_flat_object", "[json]") {
    std::string all;
    for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
    const std::string inputs[] = {"", "plain", "quote \" backslash \\ newline \n", all, "😀 €", "\\u0041"};
    for (const auto& in : inputs) {
        const std::string line = json::serialize_line({{"k", in}});
        for (const auto& d : {line}) {
            std::string error;
            auto obj = json::parse_flat_object(d, error);
            INFO(d << " -> " << error);
            REQUIRE(obj.has_value());
            REQUIRE(obj->count("k") == 1);
            REQUIRE(obj->at("k").is_string());
            CHECK(std::string_view(obj->at("k").as_string()) == in);
        }
    }
}

TEST_CASE("json: serialize_line escapes every control byte and DEL, and nothing else", "[json]") {
    struct row {
        std::string_view in;
        std::string_view out;
    };
    // Boost.JSON's short escapes where JSON has one (\b \f \n \r \t), \u00XX for the rest.
    const row rows[] = {
        {"", R"({"k":""})"},
        {"plain", R"({"k":"plain"})"},
        {"say \"hi\"", R"({"k":"say \"hi\""})"},
        {"back\\slash", R"({"k":"back\\slash"})"},
        {"a\nb\rc\td", R"({"k":"a\nb\rc\td"})"},
        {"\x01\x1f"sv, R"({"k":"\u0001\u001f"})"},
        {"nul\0byte"sv, R"({"k":"nul\u0000byte"})"},
        {"\b\f"sv, R"({"k":"\b\f"})"},
        {"del\x7f"sv, R"({"k":"del\u007f"})"},
        {"\x7f\x7f\x1b[2J\x7f"sv, R"({"k":"\u007f\u007f\u001b[2J\u007f"})"},
        {"/slash/", R"({"k":"/slash/"})"},
        {"ünïcödé ✓ 😀", "{\"k\":\"ünïcödé ✓ 😀\"}"},
        {"bad \xff\xfe utf8"sv, "{\"k\":\"bad \xff\xfe utf8\"}"sv},
        {"</script>", R"({"k":"</script>"})"},
    };
    for (const auto& r : rows) {
        INFO("'" << std::string(r.in) << "'");
        CHECK(json::serialize_line({{"k", r.in}}) == r.out);
    }
    // Keys are escaped the same way, and the order of insertion is kept.
    CHECK(json::serialize_line({{"z\x7f\n", 1}, {"a", nullptr}, {"m", true}}) ==
          R"({"z\u007f\n":1,"a":null,"m":true})");
}

TEST_CASE("json: parse_flat_object accepts flat objects", "[json]") {
    std::string error;
    auto obj = json::parse_flat_object(
        R"( { "s" : "text", "n": 42, "neg": -1.5e3, "f": 0.25, "t": true, "fa": false, "nu": null, "e": "" } )",
        error);
    INFO(error);
    REQUIRE(obj.has_value());
    CHECK(error.empty());
    CHECK(obj->size() == 8);
    CHECK(obj->at("s").is_string());
    CHECK(obj->at("s").as_string() == "text");
    // Numbers are numbers now, not their text: the same value, whatever the spelling.
    CHECK(obj->at("n").is_int64());
    CHECK(obj->at("n").as_int64() == 42);
    CHECK(obj->at("neg").is_double());
    CHECK(obj->at("neg").as_double() == -1.5e3);
    CHECK(obj->at("f").as_double() == 0.25);
    CHECK(obj->at("t").is_bool());
    CHECK(obj->at("t").as_bool());
    CHECK(obj->at("fa").is_bool());
    CHECK_FALSE(obj->at("fa").as_bool());
    CHECK(obj->at("nu").is_null());
    CHECK(obj->at("e").is_string());
    CHECK(obj->at("e").as_string().empty());

    for (auto empty : {"{}", " {} ", "{ }", "\n{\r\n}\t\n"}) {
        INFO("'" << empty << "'");
        auto o = json::parse_flat_object(empty, error);
        REQUIRE(o.has_value());
        CHECK(o->empty());
    }
    // Whitespace everywhere JSON allows it; the line the state file ends with.
    auto o = json::parse_flat_object("{\"a\":1,\n \"b\" :\t\"x\"}\n", error);
    REQUIRE(o.has_value());
    CHECK(o->at("a").as_int64() == 1);
    CHECK(o->at("b").as_string() == "x");
    // A key given twice: the last one, as before.
    o = json::parse_flat_object(R"({"a":1,"a":"two"})", error);
    REQUIRE(o.has_value());
    CHECK(o->size() == 1);
    CHECK(o->at("a").as_string() == "two");
}

TEST_CASE("json: parse_flat_object string escapes", "[json]") {
    struct row {
        std::string_view literal;  // the JSON string literal
        std::string_view text;  // its value
    };
    const row rows[] = {
        {R"("\"\\\/")", "\"\\/"},
        {R"("\b\f\n\r\t")", "\b\f\n\r\t"},
        {R"("\u0041\u00e9\u20ac")", "A\xc3\xa9\xe2\x82\xac"},
        {R"("\u00E9")", "\xc3\xa9"},
        {R"("\u0000")", "\0"sv},
        {R"("\ud83d\ude00")", "\xf0\x9f\x98\x80"},  // U+1F600 as a surrogate pair
        {R"("\uD834\uDD1E")", "\xf0\x9d\x84\x9e"},  // U+1D11E, upper-case hex
        {R"("\udbff\udfff")", "\xf4\x8f\xbf\xbf"},  // U+10FFFF, the last code point
        {"\"raw ünïcode 😀\"", "raw ünïcode 😀"},
    };
    for (const auto& r : rows) {
        const std::string doc = "{\"k\":" + std::string(r.literal) + "}";
        std::string error;
        auto obj = json::parse_flat_object(doc, error);
        INFO(doc << " -> " << error);
        REQUIRE(obj.has_value());
        CHECK(std::string_view(obj->at("k").as_string()) == r.text);
    }
    // Keys are strings too.
    std::string error;
    auto obj = json::parse_flat_object(R"({"k\u0065y":1})", error);
    REQUIRE(obj.has_value());
    CHECK(obj->count("key") == 1);
}

TEST_CASE("json: parse_flat_object rejects everything else with an error", "[json]") {
    const std::string_view bad[] = {
        "",
        "   ",
        "[]",
        "\"str\"",
        "42",
        "null",
        "{",
        "}",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\" 1}",
        "{\"a\":1,}",
        "{,}",
        "{\"a\":1 \"b\":2}",
        "{a:1}",
        "{'a':1}",
        // Nested values.
        "{\"a\":{}}",
        "{\"a\":{\"b\":1}}",
        "{\"a\":[]}",
        "{\"a\":[1,2]}",
        // Trailing garbage.
        "{}x",
        "{} {}",
        "{\"a\":1}}",
        "{\"a\":1},",
        "{}\0"sv,
        // Bad literals.
        "{\"a\":tru}",
        "{\"a\":True}",
        "{\"a\":nul}",
        "{\"a\":truex}",
        "{\"a\":undefined}",
        "{\"a\":NaN}",
        // Bad strings.
        "{\"a\":\"unterminated}",
        "{\"a\":\"x\\\"}",
        "{\"a\":\"\\x41\"}",
        "{\"a\":\"\\a\"}",
        "{\"a\":\"\\'\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\u12g4\"}",
        "{\"a\":\"\\U0041\"}",
        "{\"a\":\"tab\there\"}",
        "{\"a\":\"new\nline\"}",
        "{\"a\":\"nul\0\"}"sv,
        "{\"a\":\"trailing backslash\\",
    };
    for (auto b : bad) {
        std::string error;
        INFO("'" << std::string(b) << "'");
        const auto obj = json::parse_flat_object(b, error);
        CHECK_FALSE(obj.has_value());
        CHECK_FALSE(error.empty());
    }
    // Errors carry a position.
    std::string error;
    CHECK_FALSE(json::parse_flat_object("{\"a\":1} x", error));
    CHECK(error.find("trailing") != std::string::npos);
    CHECK(error.find("offset") != std::string::npos);
    // The error is cleared by a later success.
    CHECK(json::parse_flat_object("{}", error));
    CHECK(error.empty());
}

TEST_CASE("json: parse_flat_object rejects malformed numbers", "[json]") {
    // The file says "numbers": text that no JSON reader takes as a number is not one.
    const std::string_view bad[] = {
        "{\"a\":-}",  "{\"a\":1.2.3}", "{\"a\":1e}", "{\"a\":--1}", "{\"a\":1-2}",
        "{\"a\":1.}", "{\"a\":+1}",    "{\"a\":.5}", "{\"a\":1e+}", "{\"a\":01}",
    };
    for (auto b : bad) {
        std::string error;
        INFO("'" << std::string(b) << "'");
        CHECK_FALSE(json::parse_flat_object(b, error).has_value());
    }
    struct good_row {
        std::string_view text;
        double value;
    };
    const good_row good[] = {{"0", 0},       {"-0", 0},    {"7", 7},       {"-12", -12},
                             {"3.25", 3.25}, {"1e9", 1e9}, {"1E-9", 1e-9}, {"-2.5e+10", -2.5e10},
                             {"0.0", 0}};
    for (const auto& g : good) {
        std::string error;
        const std::string doc = "{\"a\":" + std::string(g.text) + "}";
        INFO(doc);
        auto obj = json::parse_flat_object(doc, error);
        REQUIRE(obj.has_value());
        REQUIRE(obj->at("a").is_number());
        CHECK(obj->at("a").to_number<double>() == g.value);
    }
}

TEST_CASE("json: parse_flat_object rejects broken surrogates instead of writing invalid UTF-8", "[json]") {
    // A lone or mismatched surrogate has no UTF-8 form; turning it into bytes makes a
    // state file whose reason no longer round-trips as text.
    const std::string_view bad[] = {
        R"({"a":"\ud800"})",  // lone high surrogate
        R"({"a":"\udc00"})",  // lone low surrogate
        R"({"a":"\ud800x"})",  // high surrogate followed by text
        R"({"a":"\ud800\u0041"})",  // high surrogate followed by a non-surrogate escape
        R"({"a":"\ud800\ud800"})",  // two high surrogates
        R"({"a":"\ude00\ud83d"})",  // pair in the wrong order
    };
    for (auto b : bad) {
        std::string error;
        auto obj = json::parse_flat_object(b, error);
        INFO(std::string(b) << " -> "
                            << (obj ? "accepted as '" + std::string(obj->at("a").as_string()) + "'" : error));
        CHECK_FALSE(obj.has_value());
    }
}
