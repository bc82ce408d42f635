// [[hook]], [hook.backup] and [reopen.hooks].
#include "proxy/config/config.hpp"

#include <catch2/catch.hpp>

#include "tests/proxy/config/config_test_support.hpp"

using namespace maintgate;
using namespace maintgate::config_test;

TEST_CASE("hook: every key is read, and the defaults are the documented ones", "[config][hooks]") {
    const config cfg = load_ok(base +
                               "[[hook]]\n"
                               "name = \"backup-db\"\n"
                               "argv = [\"/usr/local/bin/backup\", \"--fast\"]\n"
                               "env = [\"PATH\", \"PGPASSWORD\"]\n"
                               "set_env = { PGDATABASE = \"app\" }\n"
                               "timeout = \"10m\"\n"
                               "kill_grace = \"5s\"\n"
                               "output_cap = 4096\n"
                               "redact = [\"DB_URL\", \"Bearer [A-Za-z0-9]+\"]\n"
                               "cwd = \"/var/backups/\"\n"
                               "[hook.backup]\n"
                               "result_file = \"/var/backups/result.json\"\n"
                               "min_bytes = 1024\n"
                               "min_ratio = 0.5\n"
                               "max_age = \"1h\"\n"
                               "verify = [\"gzip\", \"-t\"]\n"
                               "[[hook]]\n"
                               "name = \"start-worker\"\n"
                               "argv = [\"docker\", \"compose\", \"start\", \"worker\"]\n");
    REQUIRE(cfg.hooks.size() == 2);
    const hook_spec& h = cfg.hooks[0];
    CHECK(h.name == "backup-db");
    CHECK(h.argv == std::vector<std::string>{"/usr/local/bin/backup", "--fast"});
    CHECK(h.env == std::vector<std::string>{"PATH", "PGPASSWORD"});
    CHECK(h.set_env == std::vector<std::pair<std::string, std::string>>{{"PGDATABASE", "app"}});
    CHECK(h.timeout.count() == 600'000);
    CHECK(h.kill_grace.count() == 5'000);
    CHECK(h.output_cap == 4096);
    CHECK(h.redact == std::vector<std::string>{"DB_URL", "Bearer [A-Za-z0-9]+"});
    CHECK(h.cwd == "/var/backups/");
    CHECK(h.where == "t.toml:5:1");
    REQUIRE(h.backup.has_value());
    CHECK(h.backup->result_file == "/var/backups/result.json");
    CHECK(h.backup->min_bytes == 1024);
    CHECK(h.backup->min_ratio == 0.5);
    CHECK(h.backup->max_age.count() == 3'600'000);
    CHECK(h.backup->verify == std::vector<std::string>{"gzip", "-t"});

    const hook_spec& d = cfg.hooks[1];
    CHECK(d.env.empty());
    CHECK(d.set_env.empty());
    CHECK(d.timeout.count() == 300'000);
    CHECK(d.kill_grace.count() == 10'000);
    CHECK(d.output_cap == 65'536);
    CHECK(d.redact.empty());
    CHECK(d.cwd.empty());
    CHECK_FALSE(d.backup.has_value());

    const config bare = load_ok(base + "[[hook]]\nname = \"b\"\nargv = [\"true\"]\n[hook.backup]\nresult_file = \"/r\"\n");
    CHECK(bare.hooks[0].backup->min_bytes == 1);  // an empty artifact is never a backup
    CHECK(bare.hooks[0].backup->min_ratio == 0.0);
    CHECK(bare.hooks[0].backup->max_age.count() == 0);
    CHECK(bare.hooks[0].backup->verify.empty());
    CHECK(load_ok(base).hooks.empty());
}

TEST_CASE("hook: each mistake is reported at its place with its own message", "[config][hooks]") {
    const std::string hook = base + "[[hook]]\n";  // keys start on line 6
    const std::string named = hook + "name = \"h\"\n";  // further keys on line 7
    const std::string ok = named + "argv = [\"true\"]\n";  // further keys on line 8
    check_single_errors({
        {hook + "argv = [\"true\"]\n", "t.toml:5:1: missing required key \"name\" in hook[0]"},
        {named, "t.toml:5:1: missing required key \"argv\" in hook[0]"},
        {hook + "name = \"a b\"\nargv = [\"true\"]\n",
         "t.toml:6:8: hook[0].name: \"a b\" must be 1-64 letters, digits, \"-\", \"_\" or \".\" (it is typed in "
         "ctl commands and metric labels)"},
        {named + "argv = []\n", "t.toml:7:8: hook[0].argv: must name a program (argv[0]); it is run without a shell"},
        {named + "argv = \"backup.sh --fast\"\n",
         "t.toml:7:8: hook[0].argv: expected an array of strings such as [\"/usr/local/bin/backup\", "
         "\"--fast\"], got string \"backup.sh --fast\""},
        {named + "argv = [\"true\", 1]\n", "t.toml:7:17: hook[0].argv[1]: expected a string, got integer 1"},
        {ok + "env = [\"A-B\"]\n",
         "t.toml:8:8: hook[0].env[0]: \"A-B\" is not a variable name (letters, digits and \"_\")"},
        {ok + "env = [\"MAINTGATE_PHASE\"]\n", "t.toml:8:8: hook[0].env[0]: \"MAINTGATE_PHASE\" is set by maintgate itself"},
        {ok + "set_env = { MAINTGATE_WINDOW_ID = \"x\" }\n",
         "t.toml:8:13: hook[0].set_env.MAINTGATE_WINDOW_ID: \"MAINTGATE_WINDOW_ID\" is set by maintgate itself"},
        {ok + "set_env = { A = 1 }\n", "t.toml:8:17: hook[0].set_env.A: expected a string, got integer 1"},
        {ok + "set_env = \"A=1\"\n",
         "t.toml:8:11: hook[0].set_env: expected a table such as { PGDATABASE = \"app\" }, got string \"A=1\""},
        {ok + "timeout = \"0s\"\n", "t.toml:8:11: hook[0].timeout: must be greater than 0, got \"0s\""},
        {ok + "kill_grace = \"5\"\n",
         "t.toml:8:14: hook[0].kill_grace: \"5\" has no unit; write \"5s\" for seconds or \"5ms\" for milliseconds"},
        {ok + "output_cap = -1\n", "t.toml:8:14: hook[0].output_cap: -1 is out of range (0-1048576)"},
        {ok + "redact = [\"(unclosed\"]\n",
         "t.toml:8:11: hook[0].redact[0]: \"(unclosed\" is not a valid regex: missing ): (unclosed"},
        {ok + "timout = \"5s\"\n", "t.toml:8:1: unknown key \"timout\" in hook[0]; did you mean \"timeout\"?"},
        {ok + "[hook.backup]\nmin_bytes = 1\n", "t.toml:8:1: missing required key \"result_file\" in [hook[0].backup]"},
        {ok + "[hook.backup]\nresult_file = \"/r\"\nmin_ratio = 1.5\n",
         "t.toml:10:13: hook[0].backup.min_ratio: must be between 0 (off) and 1, got float 1.5"},
        {ok + "[hook.backup]\nresult_file = \"/r\"\nmin_bytes = -1\n",
         "t.toml:10:13: hook[0].backup.min_bytes: -1 is out of range (0-4611686018427387904)"},
        {ok + "[hook.backup]\nresult_file = \"/r\"\nverify = []\n",
         "t.toml:10:10: hook[0].backup.verify: must name a program (argv[0]); it is run without a shell"},
        {ok + "[hook.backup]\nresult_file = \"/r\"\nmax_ag = \"1h\"\n",
         "t.toml:10:1: unknown key \"max_ag\" in [hook[0].backup]; did you mean \"max_age\"?"},
        {ok + "[[hook]]\nname = \"h\"\nargv = [\"false\"]\n",
         "t.toml:9:8: hook[1].name: \"h\" is already used by hook[0]"},
        {"hook = 1\n" + base, "t.toml:1:8: hook: expected [[hook]] tables, got integer 1"},
    });
}

TEST_CASE("reopen.hooks: stage names, and every hook named must be a [[hook]]", "[config][hooks]") {
    const std::string hooks = base +
                              "[[hook]]\nname = \"start-worker\"\nargv = [\"true\"]\n"
                              "[[hook]]\nname = \"enable-cron\"\nargv = [\"true\"]\n";  // 6 lines: next is 11
    const config inline_form =
        load_ok(hooks + "[reopen]\nhooks = { writes = [\"start-worker\"], open = [\"enable-cron\", \"start-worker\"] }\n");
    CHECK(inline_form.reopen.stage_hooks[std::size_t(policy::stage::writes)] ==
          std::vector<std::string>{"start-worker"});
    CHECK(inline_form.reopen.stage_hooks[std::size_t(policy::stage::open)] ==
          std::vector<std::string>{"enable-cron", "start-worker"});
    CHECK(inline_form.reopen.stage_hooks[std::size_t(policy::stage::operators)].empty());
    const config table_form =
        load_ok(hooks + "[reopen.hooks]\n\"read-only\" = [\"enable-cron\"]\noperators = [\"start-worker\"]\n");
    CHECK(table_form.reopen.stage_hooks[std::size_t(policy::stage::read_only)] ==
          std::vector<std::string>{"enable-cron"});
    CHECK(table_form.reopen.stage_hooks[std::size_t(policy::stage::operators)] ==
          std::vector<std::string>{"start-worker"});
    CHECK(load_ok(hooks + "[reopen.hooks]\nread_only = [\"enable-cron\"]\n")
              .reopen.stage_hooks[std::size_t(policy::stage::read_only)]
              .size() == 1);

    check_single_errors({
        {hooks + "[reopen.hooks]\nwrites = [\"start-wrker\"]\n",
         "t.toml:12:11: reopen.hooks.writes[0]: no [[hook]] is named \"start-wrker\""},
        {hooks + "[reopen.hooks]\nmaintenance = [\"start-worker\"]\n",
         "t.toml:12:1: reopen.hooks.maintenance: \"maintenance\" is not a reopen stage; use \"operators\", "
         "\"read-only\", \"writes\" or \"open\""},
        {hooks + "[reopen.hooks]\nwrites = \"start-worker\"\n",
         "t.toml:12:10: reopen.hooks.writes: expected an array of strings such as [\"start-worker\"], got string "
         "\"start-worker\""},
        {hooks + "[reopen]\nhooks = [\"start-worker\"]\n",
         "t.toml:12:9: reopen.hooks: expected a table such as { writes = [\"start-worker\"] }, got array"},
    });
}

TEST_CASE("window.hooks: every hook a [[window]] names must be a [[hook]]", "[config][hooks]") {
    // base is 4 lines; the [[hook]] takes 5-7, the [[window]] 8-11, its hooks line 12.
    const std::string win = base +
                            "[[hook]]\nname = \"backup\"\nargv = [\"true\"]\n"
                            "[[window]]\nid = \"w\"\nend = \"2099-01-01T00:00:00Z\"\nmode = \"read-only\"\n";
    const config ok = load_ok(win + "hooks = { pre_freeze = [\"backup\"], on_abort = [\"backup\"] }\n");
    REQUIRE(ok.windows.size() == 1);
    CHECK(ok.windows[0].hooks[std::size_t(window::hook_point::pre_freeze)] == std::vector<std::string>{"backup"});
    // Written after the [[window]] in the file, the [[hook]] still counts.
    CHECK(load_ok(base + "[[window]]\nid = \"w\"\nend = \"2099-01-01T00:00:00Z\"\nhooks = { pre_freeze = [\"b\"] }\n"
                         "[[hook]]\nname = \"b\"\nargv = [\"true\"]\n")
              .windows.size() == 1);
    check_single_errors({
        {win + "hooks = { pre_freeze = [\"bakup\"] }\n",
         "t.toml:12:25: window[0].hooks.pre_freeze[0]: no [[hook]] is named \"bakup\"; configured: backup"},
        {base + "[[window]]\nid = \"w\"\nend = \"2099-01-01T00:00:00Z\"\nhooks = { at_boundary = [\"x\"] }\n",
         "t.toml:8:26: window[0].hooks.at_boundary[0]: no [[hook]] is named \"x\"; none is configured"},
    });
}
