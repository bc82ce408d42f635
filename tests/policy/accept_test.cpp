#include "policy/accept.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace maintgate::policy;

namespace {

const char* name(body_format f) {
    switch (f) {
    case body_format::html: return "html";
    case body_format::json: return "json";
    case body_format::text: return "text";
    }
    return "?";
}

}  // namespace

TEST_CASE("accept: choose_format table", "[accept]") {
    using f = body_format;
    struct row {
        std::string_view accept;
        body_format want;
    };
    const row rows[] = {
        // Missing or empty: a browser that sent nothing gets the page.
        {"", f::html},
        {"   ", f::html},
        {"\t", f::html},
        // Anything: ties go to html.
        {"*/*", f::html},
        {"*/*;q=0.5", f::html},
        // Browsers.
        {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", f::html},  // Firefox
        {"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
         "application/signed-exchange;v=b3;q=0.7",
         f::html},  // Chrome
        {"text/html, application/xhtml+xml, image/jxr, */*", f::html},  // old Edge
        // API clients.
        {"application/json", f::json},
        {"application/json, text/plain, */*", f::json},  // axios: named types beat */*
        {"application/json;q=1, text/plain;q=0.9, */*;q=0.1", f::json},
        {"application/problem+json", f::json},
        {"application/vnd.api+json", f::json},
        {"application/*", f::json},
        {"application/json; charset=utf-8", f::json},
        {"text/plain", f::text},
        {"text/plain; charset=utf-8", f::text},
        {"text/*", f::html},  // text/* names html and plain alike: tie to html
        // q-values.
        {"text/html;q=0.1, application/json", f::json},
        {"text/html;q=0.1,application/json;q=0.2", f::json},
        {"text/html;q=0.5, text/plain;q=0.6", f::text},
        {"text/html ; q=0.1 , application/json", f::json},
        {"text/html;level=1;q=0.1, application/json;q=0.05", f::html},
        {"application/json;q=0.9, text/plain", f::text},
        {"application/json;q=0.999, text/html;q=0.998", f::json},
        {"text/html;Q=0.1, application/json", f::json},
        {"application/json, text/html;q=1.0", f::html},
        {"application/json;q=0.001", f::json},
        // q=0 excludes, and the most specific range decides (RFC 9110 12.5.1).
        {"text/html;q=0, */*", f::json},
        {"text/html;q=0, application/json;q=0, */*", f::text},
        {"*/*, text/html;q=0", f::json},
        {"text/*;q=0, */*", f::json},
        {"text/*;q=0, text/plain, */*;q=0.5", f::text},
        {"text/*;q=0, text/plain, */*", f::text},  // text/plain is named; json only via */*
        {"application/json;q=0, */*;q=0.1", f::html},
        {"*/*;q=0", f::text},
        {"text/html;q=0, application/json;q=0, text/plain;q=0", f::text},
        {"text/html;q=0.0, application/json;q=0.000", f::text},
        // Only types we do not serve: the smallest, text.
        {"image/png", f::text},
        {"image/*", f::text},
        {"application/xml", f::text},
        {"application/xhtml+xml", f::text},
        {"text/csv", f::text},
        // Case-insensitive type and subtype.
        {"APPLICATION/JSON", f::json},
        {"Application/Problem+JSON", f::json},
        {"TEXT/PLAIN", f::text},
        {"Text/Html;q=0.2, TEXT/plain;q=0.3", f::text},
        // Garbage.
        {"garbage", f::text},
        {",,,", f::text},
        {";q=1", f::text},
        {"/", f::text},
        {"json", f::text},
        {"html", f::text},
        {"application/json;q=abc", f::json},
    };
    for (const auto& r : rows) {
        INFO("Accept: '" << std::string(r.accept) << "' want " << name(r.want) << " got "
                         << name(choose_format(r.accept)));
        CHECK(choose_format(r.accept) == r.want);
    }
}
