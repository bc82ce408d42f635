#include "proxy/http/banner.hpp"

#include <catch2/catch.hpp>

#include "proxy/config/config.hpp"

using namespace maintgate;

TEST_CASE("banner: which requests are navigations, API calls or opted out", "[banner]") {
    banner_config cfg;
    cfg.exclude_prefixes = {"/embed/"};
    const std::string_view cookie = "maintgate_banner_w1";
    struct row {
        std::string_view name;
        banner_request r;
        bool route_off;
        banner_plan plan;
        std::optional<banner_skip> skip;
    };
    const row rows[] = {
        {"a browser's page load", {true, "document", "text/html,*/*", "", "/"}, false, banner_plan::page, {}},
        {"Sec-Fetch-Dest decides over Accept", {true, "image", "text/html", "", "/"}, false, banner_plan::api, {}},
        {"an iframe is not the page", {true, "iframe", "text/html", "", "/"}, false, banner_plan::api, {}},
        {"fetch() from a page", {true, "empty", "*/*", "", "/api"}, false, banner_plan::api, {}},
        {"no Sec-Fetch-Dest, Accept names text/html", {false, "", "application/xhtml+xml, TEXT/HTML;q=0.9", "", "/"},
         false, banner_plan::page, {}},
        {"no Sec-Fetch-Dest, JSON client", {false, "", "application/json", "", "/api"}, false, banner_plan::api, {}},
        {"no Sec-Fetch-Dest, no Accept", {false, "", "", "", "/"}, false, banner_plan::api, {}},
        {"*/* alone is no navigation", {false, "", "*/*", "", "/"}, false, banner_plan::api, {}},
        {"dismissed for this window", {true, "document", "", "a=1; maintgate_banner_w1=dismissed", "/"}, false,
         banner_plan::skipped, banner_skip::dismissed},
        {"dismissed another window", {true, "document", "", "maintgate_banner_w0=dismissed", "/"}, false,
         banner_plan::page, {}},
        {"a cookie value that is not dismissed", {true, "document", "", "maintgate_banner_w1=shown", "/"}, false,
         banner_plan::page, {}},
        {"excluded prefix", {true, "document", "", "", "/embed/widget"}, false, banner_plan::skipped, banner_skip::route},
        {"a rule with banner = false", {true, "document", "", "", "/admin"}, true, banner_plan::skipped,
         banner_skip::route},
        {"API clients still get the header on an opted-out route", {false, "", "application/json", "", "/embed/x"},
         true, banner_plan::api, {}},
    };
    for (const auto& r : rows) {
        INFO(r.name);
        const auto d = plan_banner(r.r, cfg, cookie, r.route_off);
        CHECK(d.plan == r.plan);
        CHECK(d.skip == r.skip);
    }
    cfg.enabled = false;
    CHECK(plan_banner(rows[0].r, cfg, cookie, false).plan == banner_plan::none);
}

TEST_CASE("banner: which responses may carry it", "[banner]") {
    struct row {
        std::string_view name;
        banner_response r;
        std::optional<banner_skip> skip;
    };
    const row rows[] = {
        {"an HTML page", {200, true, "text/html; charset=utf-8", false, false}, {}},
        {"upper-case type", {200, true, "Text/HTML", false, false}, {}},
        {"a 201", {201, true, "text/html", false, false}, {}},
        {"a 404 page", {404, true, "text/html", false, false}, banner_skip::status},
        {"a redirect", {302, true, "text/html", false, false}, banner_skip::status},
        {"a range", {206, true, "text/html", false, false}, banner_skip::status},
        {"no body (204)", {204, false, "text/html", false, false}, banner_skip::status},
        {"JSON", {200, true, "application/json", false, false}, banner_skip::not_html},
        {"XHTML is not text/html", {200, true, "application/xhtml+xml", false, false}, banner_skip::not_html},
        {"no type", {200, true, "", false, false}, banner_skip::not_html},
        {"no-transform", {200, true, "text/html", true, false}, banner_skip::no_transform},
        {"compressed anyway", {200, true, "text/html", false, true}, banner_skip::encoded},
    };
    for (const auto& r : rows) {
        INFO(r.name);
        CHECK(check_response(r.r) == r.skip);
    }
    CHECK(names_no_transform("public, No-Transform"));
    CHECK(names_no_transform("no-transform"));
    CHECK_FALSE(names_no_transform("no-store, max-age=0"));
    CHECK(is_identity_encoding(""));
    CHECK(is_identity_encoding("identity"));
    CHECK_FALSE(is_identity_encoding("gzip"));
    CHECK_FALSE(is_identity_encoding("identity, br"));
}

TEST_CASE("banner: the fragment and the header are rendered once, escaped", "[banner]") {
    auto n = std::make_shared<window_notice>();
    n->id = "db-upgrade <1>";
    n->phase = "announced";
    n->starts = std::chrono::sys_seconds{std::chrono::seconds{1796288400}};  // 2026-12-03T09:00:00Z
    n->ends = *n->starts + std::chrono::hours(1);
    n->message = "We move the database <tonight> & \"quickly\".";
    const auto b = render_banner(n);
    CHECK(b->cookie_name == "maintgate_banner_db-upgrade__1_");
    CHECK(b->window_field ==
          "Maintgate-Window: id=\"db-upgrade <1>\"; start=\"2026-12-03T09:00:00Z\"; end=\"2026-12-03T10:00:00Z\"; "
          "phase=\"announced\"\r\n");
    const std::string& f = b->fragment;
    CHECK(f.starts_with("<link rel=\"stylesheet\" href=\"/.maintgate/banner.css\">"));
    CHECK(f.ends_with("<script src=\"/.maintgate/banner.js\" defer></script>"));
    CHECK(f.find("Scheduled maintenance") != std::string::npos);
    CHECK(f.find("datetime=\"2026-12-03T09:00:00Z\"") != std::string::npos);
    CHECK(f.find("datetime=\"2026-12-03T10:00:00Z\"") != std::string::npos);
    CHECK(f.find("&lt;tonight&gt; &amp; &quot;quickly&quot;") != std::string::npos);
    CHECK(f.find("<tonight>") == std::string::npos);
    // No inline script or style: a page's CSP 'self' must be enough.
    CHECK(f.find("style=") == std::string::npos);
    CHECK(f.find("<style") == std::string::npos);
    CHECK(f.find("<script>") == std::string::npos);
    CHECK(f.find("onclick") == std::string::npos);

    n->phase = "active";
    const auto active = render_banner(n);
    CHECK(active->fragment.find("Maintenance in progress") != std::string::npos);
    CHECK(active->fragment.find("datetime=\"2026-12-03T09:00:00Z\"") == std::string::npos);

    // A window to be started by hand has no start yet: the field leaves it out, the
    // banner says it starts soon (never the epoch).
    n->phase = "announced";
    n->starts.reset();
    const auto manual = render_banner(n);
    CHECK(manual->window_field ==
          "Maintgate-Window: id=\"db-upgrade <1>\"; end=\"2026-12-03T10:00:00Z\"; phase=\"announced\"\r\n");
    CHECK(manual->fragment.find("starting soon, until about <time datetime=\"2026-12-03T10:00:00Z\"") !=
          std::string::npos);
    CHECK(manual->fragment.find("1970") == std::string::npos);
}

TEST_CASE("banner: the built-in assets are there and need no inline code", "[banner]") {
    CHECK(builtin_banner_css().find("#maintgate-banner") != std::string_view::npos);
    CHECK(builtin_banner_js().find("=dismissed; Path=/; SameSite=Lax; Max-Age=") != std::string_view::npos);
}
