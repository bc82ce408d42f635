// A window's hook runs: kept through the windows file, and shown by each form of the
// report (the record a post-mortem starts from).
#include "proxy/window/window_report.hpp"

#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <catch2/catch.hpp>

#include "proxy/window/window.hpp"

using maintgate::sys_time;
using namespace maintgate::window;
using window_t = maintgate::window::window;

namespace {

sys_time at_ms(std::int64_t ms) { return sys_time(std::chrono::milliseconds(ms)); }

window_t with_hook_runs() {
    window_t w;
    w.p.id = "db-1";
    w.p.ends = at_ms(1'800'000'000'000);
    w.p.hooks[std::size_t(hook_point::pre_freeze)] = {"backup"};
    w.ph = phase::aborted;
    w.outcome = "the backup gate failed (pre_freeze hooks); nothing was frozen: hook backup: backup refused: x";
    w.backups.push_back({"backup", false, "/b/dump.gz", 20, "", "artifact is 20 bytes, less than min_bytes 1024",
                         at_ms(1'700'000'000'000)});
    w.hook_runs.push_back({"backup", "pre_freeze", "refused", false, 42,
                           "backup refused: artifact is 20 bytes, less than min_bytes 1024", "dumped 20 bytes\nwith ***\n",
                           at_ms(1'700'000'000'123)});
    w.hook_runs.push_back({"slow", "on_abort", "interrupted", false, 0, "maintgate stopped while this hook ran", "",
                           at_ms(1'700'000'001'000)});
    return w;
}

}  // namespace

TEST_CASE("window: hook runs survive the windows file", "[window]") {
    const window_t w = with_hook_runs();
    const window_t back = boost::json::value_to<window_t>(boost::json::value_from(w));
    REQUIRE(back.hook_runs.size() == 2);
    const hook_run& h = back.hook_runs[0];
    CHECK(h.hook == "backup");
    CHECK(h.point == "pre_freeze");
    CHECK(h.outcome == "refused");
    CHECK_FALSE(h.ok);
    CHECK(h.duration_ms == 42);
    CHECK(h.error == "backup refused: artifact is 20 bytes, less than min_bytes 1024");
    CHECK(h.output == "dumped 20 bytes\nwith ***\n");
    CHECK(h.at == at_ms(1'700'000'000'123));
    CHECK(back.hook_runs[1].outcome == "interrupted");
    // A file written before hook runs existed still loads, with none.
    auto v = boost::json::value_from(w);
    v.as_object().erase("hook_runs");
    CHECK(boost::json::value_to<window_t>(v).hook_runs.empty());
}

TEST_CASE("window report: every hook run in JSON, text and Markdown", "[window]") {
    const auto r = report_json(with_hook_runs());
    const auto& runs = r.at("hook_runs").as_array();
    REQUIRE(runs.size() == 2);
    CHECK(runs[0].at("hook") == "backup");
    CHECK(runs[0].at("outcome") == "refused");
    CHECK(runs[0].at("duration_ms") == 42);
    CHECK(runs[0].at("at") == "2023-11-14T22:13:20.123Z");

    const std::string text = report_text(r);
    CHECK(text.find("hook        FAIL  backup (pre_freeze) refused in 42ms at 2023-11-14T22:13:20.123Z\n") !=
          std::string::npos);
    CHECK(text.find("              backup refused: artifact is 20 bytes, less than min_bytes 1024\n") !=
          std::string::npos);
    // The output on one line, no newline of the hook's ending the reply early.
    CHECK(text.find("              | dumped 20 bytes with ***\n") != std::string::npos);
    CHECK(text.find("hook        FAIL  slow (on_abort) interrupted") != std::string::npos);
    CHECK(text.find("backup      REFUSED  backup: /b/dump.gz, 20 bytes, sha256 -") != std::string::npos);

    const std::string md = report_markdown(r);
    CHECK(md.find("## Hooks\n") != std::string::npos);
    CHECK(md.find("| 2023-11-14T22:13:20.123Z | backup | pre_freeze | refused | 42 ms | backup refused: artifact is "
                  "20 bytes, less than min_bytes 1024 | dumped 20 bytes with *** |\n") != std::string::npos);
    CHECK(md.find("| slow | on_abort | interrupted | 0 ms | maintgate stopped while this hook ran | - |") !=
          std::string::npos);
}
