#include "proxy/http/pages.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace maintgate;

TEST_CASE("pages: validate_template accepts good templates", "[pages]") {
    const std::string_view good[] = {
        "",
        "no placeholders at all",
        "{{mode}} {{reason}} {{until}} {{until_iso}} {{retry_after}} {{refresh}}",
        "{{#reason}}because {{reason}}{{/reason}}",
        "{{#until}}back at {{until}}{{/until}}{{#reason}}{{reason}}{{/reason}}",
        "{{#reason}}a{{/reason}}{{#reason}}b{{/reason}}",
        "{{#reason}}{{until}} {{mode}}{{/reason}}",
        "a single } and { and }} are text",
    };
    for (auto t : good) {
        INFO("'" << std::string(t) << "'");
        const auto e = validate_template(t);
        INFO((e ? std::to_string(e->line) + ":" + std::to_string(e->column) + " " + e->message : ""));
        CHECK_FALSE(e.has_value());
    }
}

TEST_CASE("pages: validate_template reports the first problem with line and column", "[pages]") {
    struct row {
        std::string_view text;
        std::uint32_t line, column;
        std::string_view message;
    };
    const row rows[] = {
        {"Hello {{nope}}", 1, 7,
         "unknown placeholder {{nope}}; known: mode, reason, until, until_iso, until_in, retry_after, refresh, status_path"},
        {"{{}}", 1, 1,
         "unknown placeholder {{}}; known: mode, reason, until, until_iso, until_in, retry_after, refresh, status_path"},
        {"{{ reason }}", 1, 1,
         "unknown placeholder {{ reason }}; known: mode, reason, until, until_iso, until_in, retry_after, refresh, status_path"},
        {"{{Reason}}", 1, 1,
         "unknown placeholder {{Reason}}; known: mode, reason, until, until_iso, until_in, retry_after, refresh, status_path"},
        {"line1\nline2\n  x{{retry}}", 3, 4,
         "unknown placeholder {{retry}}; known: mode, reason, until, until_iso, until_in, retry_after, refresh, status_path"},
        {"a\nbc {{reason", 2, 4, "unterminated placeholder: \"{{\" without \"}}\""},
        {"{{mode}} {{", 1, 10, "unterminated placeholder: \"{{\" without \"}}\""},
        {"{{/reason}}", 1, 1, "{{/reason}} closes no open block"},
        {"x\n{{#reason}}{{/until}}", 2, 12, "{{/until}} closes no open block"},
        {"{{#reason}}{{/reason}}{{/reason}}", 1, 23, "{{/reason}} closes no open block"},
        {"{{#reason}}{{#until}}{{/until}}{{/reason}}", 1, 12,
         "blocks cannot be nested: {{#until}} inside {{#reason}}"},
        {"{{#until}}\n\t{{#until}}", 2, 2, "blocks cannot be nested: {{#until}} inside {{#until}}"},
        {"x\n  {{#until}} never closed", 2, 3, "{{#until}} is never closed"},
        {"{{#reason}}", 1, 1, "{{#reason}} is never closed"},
        {"{{#foo}}{{/foo}}", 1, 1,
         "unknown block {{#foo}}; blocks are {{#reason}} and {{#until}} (or {{^...}})"},
        {"{{#}}", 1, 1, "unknown block {{#}}; blocks are {{#reason}} and {{#until}} (or {{^...}})"},
        {"{{#mode}}x{{/mode}}", 1, 1,
         "unknown block {{#mode}}; blocks are {{#reason}} and {{#until}} (or {{^...}})"},
        // The first problem is the one reported.
        {"{{a}} {{b}}", 1, 1,
         "unknown placeholder {{a}}; known: mode, reason, until, until_iso, until_in, retry_after, refresh, status_path"},
    };
    for (const auto& r : rows) {
        INFO("'" << std::string(r.text) << "'");
        const auto e = validate_template(r.text);
        REQUIRE(e.has_value());
        CHECK(e->line == r.line);
        CHECK(e->column == r.column);
        CHECK(e->message == r.message);
    }
}

TEST_CASE("pages: render_template substitutes and keeps or drops blocks", "[pages]") {
    const std::string_view tpl =
        "m={{mode}}|{{#reason}}r={{reason}}|{{/reason}}{{#until}}u={{until}} i={{until_iso}}|{{/until}}"
        "ra={{retry_after}} rf={{refresh}}";
    REQUIRE_FALSE(validate_template(tpl).has_value());

    page_values full{
        "maintenance", "schema migration", "2026-11-22 03:00 UTC", "2026-11-22T03:00:00Z", 90, 30};
    CHECK(render_template(tpl, full) ==
          "m=maintenance|r=schema migration|u=2026-11-22 03:00 UTC i=2026-11-22T03:00:00Z|ra=90 rf=30");

    page_values no_reason = full;
    no_reason.reason = {};
    CHECK(render_template(tpl, no_reason) ==
          "m=maintenance|u=2026-11-22 03:00 UTC i=2026-11-22T03:00:00Z|ra=90 rf=30");

    page_values no_until = full;
    no_until.until = {};
    no_until.until_iso = {};
    CHECK(render_template(tpl, no_until) == "m=maintenance|r=schema migration|ra=90 rf=30");

    page_values bare{"read-only", "", "", "", 600, 300};
    CHECK(render_template(tpl, bare) == "m=read-only|ra=600 rf=300");

    // Placeholders outside a block render empty values as nothing.
    CHECK(render_template("[{{reason}}][{{until}}]", bare) == "[][]");
    // Text without placeholders is kept byte for byte.
    CHECK(render_template("a } b { c\n", bare) == "a } b { c\n");
}

TEST_CASE("pages: inverse blocks, the countdown and the status path", "[pages]") {
    const std::string_view tpl =
        "{{#until}}back {{until_in}}{{/until}}{{^until}}see {{status_path}}{{/until}}"
        "{{^reason}}|no reason{{/reason}}";
    REQUIRE_FALSE(validate_template(tpl).has_value());
    page_values v{"maintenance", "x",         "2026-11-22 03:00 UTC",  "2026-11-22T03:00:00Z", 2700,
                  300,           "in 45 min", "/.well-known/maintgate"};
    CHECK(render_template(tpl, v) == "back in 45 min");
    v.until = {};
    v.reason = {};
    CHECK(render_template(tpl, v) == "see /.well-known/maintgate|no reason");
    CHECK(validate_template("{{^until}}x{{/reason}}")->message == "{{/reason}} closes no open block");

    CHECK(until_in_words(0).empty());
    CHECK(until_in_words(1) == "in under a minute");
    CHECK(until_in_words(60) == "in under a minute");
    CHECK(until_in_words(61) == "in 2 min");
    CHECK(until_in_words(45 * 60) == "in 45 min");
    CHECK(until_in_words(89 * 60) == "in 89 min");
    CHECK(until_in_words(90 * 60) == "in 1 h 30 min");
    CHECK(until_in_words(120 * 60) == "in 2 h");
}

TEST_CASE("pages: values are HTML-escaped, never re-parsed", "[pages]") {
    page_values v{"maint<\"'&>", "<script>\"'&", "<u>", "\"iso\"", 1, 5};
    CHECK(render_template("{{reason}}", v) == "&lt;script&gt;&quot;&#39;&amp;");
    CHECK(render_template("{{mode}}", v) == "maint&lt;&quot;&#39;&amp;&gt;");
    CHECK(render_template("{{until}}|{{until_iso}}", v) == "&lt;u&gt;|&quot;iso&quot;");
    CHECK(render_template("<a title=\"{{reason}}\">", v) == "<a title=\"&lt;script&gt;&quot;&#39;&amp;\">");
    // A value that looks like a placeholder stays text.
    page_values tricky{"maintenance", "{{until}} {{#reason}}", "NOPE", "", 1, 5};
    CHECK(render_template("{{reason}}", tricky) == "{{until}} {{#reason}}");

    CHECK(html_escape("") == "");
    CHECK(html_escape("plain ünïcode ✓") == "plain ünïcode ✓");
    CHECK(html_escape("&amp;") == "&amp;amp;");
    CHECK(html_escape("<>\"'&") == "&lt;&gt;&quot;&#39;&amp;");
}

TEST_CASE("pages: the built-in pages validate and render completely", "[pages]") {
    const std::string_view pages[] = {builtin_maintenance_page(), builtin_read_only_page()};
    for (auto page : pages) {
        REQUIRE(page.size() > 100);
        INFO(std::string(page.substr(0, 200)));
        const auto e = validate_template(page);
        INFO((e ? std::to_string(e->line) + ":" + std::to_string(e->column) + " " + e->message : ""));
        CHECK_FALSE(e.has_value());
        CHECK(page.find("{{") != std::string_view::npos);  // really a template

        page_values full{"maintenance",
                         "DB <migration> & \"cleanup\"",
                         "2026-11-22 03:00 UTC",
                         "2026-11-22T03:00:00Z",
                         3600,
                         300};
        const std::string out = render_template(page, full);
        // No placeholder left ("}}" alone is CSS and stays).
        CHECK(out.find("{{") == std::string::npos);
        CHECK(out.find("DB &lt;migration&gt; &amp; &quot;cleanup&quot;") != std::string::npos);
        CHECK(out.find("<migration>") == std::string::npos);
        CHECK(out.find("2026-11-22 03:00 UTC") != std::string::npos);
        CHECK(out.find("2026-11-22T03:00:00Z") != std::string::npos);
        CHECK(out.find("data-mode=\"maintenance\"") != std::string::npos);

        page_values bare{"read-only", "", "", "", 600, 300};
        const std::string out2 = render_template(page, bare);
        CHECK(out2.find("{{") == std::string::npos);
        CHECK(out2.find("datetime=") == std::string::npos);  // the until block is dropped
        CHECK(out2.find("data-mode=\"read-only\"") != std::string::npos);
        CHECK(out2.size() < out.size());
    }
    // The maintenance page reloads itself.
    page_values v{"maintenance", "", "", "", 42, 17};
    CHECK(render_template(builtin_maintenance_page(), v).find("content=\"17\"") != std::string::npos);
}
