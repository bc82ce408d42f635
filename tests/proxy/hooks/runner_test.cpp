// The hook runner against real children: output, environment, exit, the timeout and
// the kill of the whole process group, the backup gate, and the journal.
#include "proxy/hooks/runner.hpp"

#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>

#include "proxy/hooks/hook_store.hpp"
#include "tests/temp_dir.hpp"

using namespace maintgate;
using namespace std::chrono_literals;

namespace {

hook_spec sh(std::string name, std::string script) {
    hook_spec h;
    h.name = std::move(name);
    h.argv = {"/bin/sh", "-c", std::move(script)};
    h.timeout = 5s;
    h.kill_grace = 1s;
    return h;
}

template <class T>
T run(net::io_context& ioc, net::awaitable<T> a) {
    ioc.restart();
    std::optional<T> out;
    net::co_spawn(ioc, std::move(a), [&](std::exception_ptr e, T v) {
        if (e) std::rethrow_exception(e);
        out = std::move(v);
    });
    ioc.run();
    REQUIRE(out);
    return std::move(*out);
}

hook_result run_one(const hook_spec& h, hook_context ctx = {}) {
    net::io_context ioc;
    std::optional<hook_result> out;
    net::co_spawn(ioc, proxy::run_hook(ioc, h, ctx), [&](std::exception_ptr e, hook_result r) {
        if (e) std::rethrow_exception(e);
        out = std::move(r);
    });
    ioc.run();
    REQUIRE(out);
    return std::move(*out);
}

std::string slurp(const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

// A zombie counts as gone: in a container nobody may reap an orphan.
bool alive(pid_t pid) {
    if (::kill(pid, 0) != 0) return false;
    const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
    const auto close = stat.rfind(") ");
    return close != std::string::npos && stat[close + 2] != 'Z';
}

}  // namespace

TEST_CASE("runner: output of stdout and stderr in order, exit codes, the environment", "[hooks]") {
    hooks_store().open("", "");
    ::setenv("MAINTGATE_TEST_ALLOWED", "yes", 1);
    ::setenv("MAINTGATE_TEST_DROPPED", "no", 1);
    auto h = sh("env", "echo out; echo err >&2; echo \"a=$MAINTGATE_TEST_ALLOWED d=$MAINTGATE_TEST_DROPPED "
                       "f=$FIXED w=$MAINTGATE_WINDOW_ID p=$MAINTGATE_PHASE b=$MAINTGATE_WRITE_BOUNDARY\"");
    h.env = {"MAINTGATE_TEST_ALLOWED"};
    h.set_env = {{"FIXED", "1"}};
    const auto r = run_one(h, {"w1", "pre_freeze", 1700000000123, "tester"});
    CHECK(r.ok);
    CHECK(r.outcome() == "ok");
    CHECK(r.exit_code == 0);
    CHECK(r.output == "out\nerr\na=yes d= f=1 w=w1 p=pre_freeze b=1700000000123\n");
    CHECK(r.pid > 0);
    CHECK(r.error.empty());

    const auto fail = run_one(sh("fail", "echo bad; exit 3"));
    CHECK_FALSE(fail.ok);
    CHECK(fail.outcome() == "failed");
    CHECK(fail.exit_code == 3);
    CHECK(fail.error == "exit 3");
    CHECK(fail.output == "bad\n");

    hook_spec missing;
    missing.name = "missing";
    missing.argv = {"/nonexistent/hook"};
    const auto nr = run_one(missing);
    CHECK_FALSE(nr.ok);
    CHECK(nr.outcome() == "not_run");
    CHECK(nr.error == "cannot run /nonexistent/hook: No such file or directory");

    auto in_cwd = sh("cwd", "pwd");
    in_cwd.cwd = "/tmp";
    CHECK(run_one(in_cwd).output == "/tmp\n");
}

TEST_CASE("runner: the output is capped and redacted", "[hooks]") {
    hooks_store().open("", "");
    auto h = sh("cap", "echo \"token=$API_TOKEN\"; head -c 100000 /dev/zero | tr '\\0' x");
    h.set_env = {{"API_TOKEN", "s3cr3t-value"}};
    h.output_cap = 64;
    const auto r = run_one(h);
    CHECK(r.ok);
    CHECK(r.output.size() == 64);
    CHECK(r.output_truncated);
    CHECK(r.output.rfind("token=***\nxxx", 0) == 0);
    CHECK(r.output.find("s3cr3t") == std::string::npos);
}

TEST_CASE("runner: a hang is stopped at the timeout, the whole group killed after the grace", "[hooks]") {
    hooks_store().open("", "");
    test::temp_dir dir;
    // The shell ignores SIGTERM and so does its background child: only SIGKILL ends them.
    auto h = sh("hang", "trap '' TERM; sh -c 'trap \"\" TERM; echo $$ > " + dir.file("grandchild") +
                            "; sleep 30' & echo started; wait");
    h.timeout = 300ms;
    h.kill_grace = 300ms;
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = run_one(h);
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK_FALSE(r.ok);
    CHECK(r.timed_out);
    CHECK(r.killed);
    CHECK(r.outcome() == "killed");
    CHECK(r.signal == SIGKILL);
    CHECK(r.output == "started\n");
    CHECK(r.error == "timed out after 300ms; killed (SIGKILL to the process group) after 300ms more");
    CHECK(took < 3s);
    const pid_t grandchild = std::stoi(slurp(dir.file("grandchild")));
    for (int i = 0; i < 100 && alive(grandchild); ++i) std::this_thread::sleep_for(10ms);
    CHECK_FALSE(alive(grandchild));

    // One that leaves at SIGTERM is timed out, not killed.
    auto polite = sh("polite", "sleep 30");
    polite.timeout = 200ms;
    const auto p = run_one(polite);
    CHECK(p.timed_out);
    CHECK_FALSE(p.killed);
    CHECK(p.signal == SIGTERM);
    CHECK(p.outcome() == "timed_out");
}

TEST_CASE("runner: a process left behind holding the output does not hold the hook", "[hooks]") {
    hooks_store().open("", "");
    test::temp_dir dir;
    auto h = sh("leave", "sleep 5 & echo $! > " + dir.file("pid") + "; echo done");
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = run_one(h);
    CHECK(r.ok);
    CHECK(r.output == "done\n");
    CHECK(std::chrono::steady_clock::now() - t0 < 3s);
    ::kill(std::stoi(slurp(dir.file("pid"))), SIGKILL);
}

TEST_CASE("runner: run_hooks runs in order and stops at the first failure", "[hooks]") {
    hooks_store().open("", "");
    config cfg;
    cfg.hooks = {sh("a", "echo a"), sh("b", "exit 1"), sh("c", "echo c")};
    net::io_context ioc;
    const auto all = run(ioc, proxy::run_hooks(ioc, cfg, {"a", "b", "c"}, {}));
    REQUIRE(all.size() == 2);
    CHECK(all[0].ok);
    CHECK_FALSE(all[1].ok);
    CHECK(proxy::summarize(all) == "hook b: exit 1");
    const auto unknown = run(ioc, proxy::run_hooks(ioc, cfg, {"a", "zz"}, {}));
    REQUIRE(unknown.size() == 2);
    CHECK(unknown[1].error == "no [[hook]] named \"zz\"");
    CHECK(proxy::summarize(run(ioc, proxy::run_hooks(ioc, cfg, {"a", "c"}, {}))) == "ok");
}

TEST_CASE("runner: a backup hook passes its gate only with a real, fresh, matching artifact", "[hooks]") {
    test::temp_dir dir;
    const std::string journal = dir.file("hooks.json");
    REQUIRE(hooks_store().open(journal, dir.file("audit.log")).error.empty());
    const std::string result = dir.file("result.json");
    auto backup = [&](const std::string& bytes, const std::string& claim_sha) {
        // Writes `bytes` x's to dump, then the result file claiming their size.
        auto h = sh("backup", "head -c " + bytes + " /dev/zero | tr '\\0' x > dump; s=$(wc -c < dump); "
                              "sum=" + claim_sha + "; [ -z \"$sum\" ] && sum=$(sha256sum dump | cut -d' ' -f1); "
                              "printf '{\"artifact\":\"dump\",\"bytes\":%d,\"sha256\":\"%s\"}' $s $sum > result.json");
        h.cwd = dir.path.string();
        h.backup = backup_gate{result, 100, 0.5, 1h, {}};
        return h;
    };
    const auto good = run_one(backup("1000", ""));
    CHECK(good.ok);
    REQUIRE(good.backup);
    CHECK(good.backup->ok);
    CHECK(good.backup->bytes == 1000);
    CHECK(good.backup->sha256.size() == 64);
    REQUIRE(hooks_store().last_good("backup"));
    CHECK(hooks_store().last_good("backup")->bytes == 1000);

    const auto empty = run_one(backup("0", ""));
    CHECK_FALSE(empty.ok);
    CHECK(empty.outcome() == "refused");
    CHECK(empty.error == "backup refused: artifact is 0 bytes, less than min_bytes 100");
    const auto small = run_one(backup("400", ""));
    CHECK(small.error == "backup refused: artifact is 400 bytes, 0.4 of the last good backup's 1000 (min_ratio 0.5)");
    const auto lie = run_one(backup("900", std::string(64, 'a')));
    CHECK(lie.error.rfind("backup refused: sha256 of the artifact is ", 0) == 0);
    CHECK(hooks_store().last_good("backup")->bytes == 1000);  // a refusal never replaces it

    auto verified = backup("1200", "");
    verified.backup->verify = {"/bin/sh", "-c", "echo checking $MAINTGATE_ARTIFACT; exit 2"};
    const auto v = run_one(verified);
    CHECK(v.error == "backup refused: verify: exit 2");
    CHECK(v.output.find("[verify] checking " + dir.path.string() + "/dump") != std::string::npos);
    verified.backup->verify = {"/bin/sh", "-c", "test -s \"$MAINTGATE_ARTIFACT\""};
    CHECK(run_one(verified).ok);
    CHECK(hooks_store().last_good("backup")->bytes == 1200);

    // Durable: a new store reads the same record back.
    hook_store again;
    REQUIRE(again.open(journal, "").error.empty());
    REQUIRE(again.last_good("backup"));
    CHECK(again.last_good("backup")->bytes == 1200);
    CHECK(again.interrupted().empty());
    CHECK(again.runs().size() == 6);
    // Each run is an audit line.
    std::ifstream audit(dir.file("audit.log"));
    std::string line;
    int lines = 0;
    while (std::getline(audit, line)) ++lines;
    CHECK(lines == 6);
    hooks_store().open("", "");
}

TEST_CASE("journal: a run left started is reported once as interrupted, never re-run", "[hooks]") {
    test::temp_dir dir;
    const std::string journal = dir.file("hooks.json");
    {
        hook_store s;
        REQUIRE(s.open(journal, "").error.empty());
        journal_entry e{0, "backup", "pre_freeze", "w1", "tester", -1, 0};
        REQUIRE(s.begin(e).empty());
        REQUIRE(s.set_pid(e.id, 999999).empty());
        CHECK(s.running().size() == 1);
        // ... and maintgate dies here.
    }
    hook_store s;
    const auto opened = s.open(journal, dir.file("audit.log"));
    CHECK(opened.error.empty());
    REQUIRE(opened.interrupted.size() == 1);
    const hook_result& r = opened.interrupted[0];
    CHECK(r.interrupted);
    CHECK(r.outcome() == "interrupted");
    CHECK(r.name == "backup");
    CHECK(r.phase == "pre_freeze");
    CHECK(r.window_id == "w1");
    CHECK(r.pid == 999999);
    CHECK(r.error == "maintgate stopped while this hook ran; not re-run");
    CHECK(s.running().empty());
    CHECK(slurp(dir.file("audit.log")).find("\"outcome\":\"interrupted\"") != std::string::npos);

    hook_store third;
    CHECK(third.open(journal, "").interrupted.empty());  // reported once
    CHECK(third.runs().back().outcome() == "interrupted");

    std::ofstream(journal) << "{torn";
    hook_store torn;
    const auto t = torn.open(journal, "");
    CHECK(t.error.find("is not valid JSON") != std::string::npos);
    CHECK(std::ifstream(journal + ".corrupt").good());
}
