#include "proxy/admin/commands/reply.hpp"

#include "proxy/admin/commands/commands.hpp"

#include <catch2/catch.hpp>

#include <boost/json/serialize.hpp>

using namespace maintgate;
using namespace maintgate::proxy;

namespace {

const sys_time t0{std::chrono::seconds{1'795'317'000}};

void render_lines(std::string& out, const admin_reply& r, sys_time) { out += get_str(r.body, "text"); }

}  // namespace

TEST_CASE("an error reply is one JSON line, or one text line and the empty line", "[admin]") {
    auto r = error_reply("set mode: unknown mode 'sideways'");
    CHECK(render(r, true, t0) == "{\"ok\":false,\"error\":\"set mode: unknown mode 'sideways'\"}\n");
    CHECK(render(r, false, t0) == "error: set mode: unknown mode 'sideways'\n\n");
}

TEST_CASE("the text form never holds an empty line or a carriage return, and a failure says error",
          "[admin]") {
    admin_reply r;
    r.body["ok"] = false;
    r.body["text"] = "first\n\nsecond\rstill second";
    r.text = &render_lines;
    CHECK(render(r, false, t0) == "error: first\nsecond still second\n\n");
    r.body["ok"] = true;
    r.body["text"] = "";
    CHECK(render(r, false, t0) == "ok\n\n");
}

TEST_CASE("check results render as text from their own JSON", "[admin]") {
    std::vector<probe_result> v{
        {"GET /status/200", true, 200, "200 in 3 ms", std::chrono::milliseconds{3}},
        {"front page", false, 500, "expected 200, got 500", std::chrono::milliseconds{9}}};
    auto checks = probes_json(v);
    REQUIRE(checks.size() == 2);
    CHECK(
        boost::json::serialize(checks[1]) ==
        "{\"name\":\"front page\",\"ok\":false,\"status\":500,\"detail\":\"expected 200, got 500\",\"elapsed_ms\":9}");
    std::string out;
    probes_text(out, checks, "  ");
    CHECK(out == "  pass  GET /status/200: 200 in 3 ms\n  FAIL  front page: expected 200, got 500\n");
    out.clear();
    probes_text(out, boost::json::array{}, "");
    CHECK(out == "no checks configured ([health_check], [[smoke_check]])\n");
}

TEST_CASE("times kept aside come back exactly; a missing one is empty", "[admin]") {
    boost::json::object o;
    const sys_time t = t0 + std::chrono::nanoseconds{123'456'789};
    put_time(o, "since", t);
    put_time(o, "until", std::nullopt);
    CHECK(get_time(o, "since") == t);
    CHECK_FALSE(get_time(o, "until"));
    CHECK(when(t0, t0 + std::chrono::minutes{12}) == format_iso8601(t0) + " (12m ago)");
    CHECK(relative(t0 + std::chrono::minutes{38}, t0) == "in 38m");
    CHECK(percent(0.5) == "50.0%");
}

TEST_CASE("admin reply: every command of the table has the handler admin_server runs", "[admin]") {
    for (const auto& c : maintgate::admin::command_table()) {
        INFO("command: " << c.words);
        CHECK(maintgate::proxy::handler_for(c.what) != nullptr);
    }
}
