// [gate]: state and audit files, pages, and the distinct-files rule.
#include "proxy/config/config.hpp"

#include <catch2/catch.hpp>

#include "tests/proxy/config/config_test_support.hpp"

using namespace maintgate;
using namespace maintgate::config_test;

TEST_CASE("gate.audit_log, gate.state_file and admin.socket: paths and distinct files", "[config]") {
    check_single_errors({
        {base + "[gate]\naudit_log = 5\n",
         "t.toml:6:13: gate.audit_log: expected a file path, got integer 5"},
        {base + "[gate]\naudit_log = \"/var/log/\"\n",
         "t.toml:6:13: gate.audit_log: \"/var/log/\" names a folder; give a file name"},
        {base + "[gate]\nstate_file = \"/var/lib/\"\n",
         "t.toml:6:14: gate.state_file: \"/var/lib/\" names a folder; give a file name"},
        {base + "[gate]\nstate_file = \"/a\\u0000\"\n",
         "t.toml:6:14: gate.state_file: \"/a\\x00\" contains a NUL character"},
        {base + "[gate]\nstate_file = \"/v/s.json\"\naudit_log = \"/v/s.json\"\n",
         "t.toml:7:13: gate.audit_log: \"/v/s.json\" is also gate.state_file; each needs its own file"},
        {base + "[gate]\nstate_file = \"/v/s\"\n[admin]\nsocket = \"/v/s\"\n",
         "t.toml:8:10: admin.socket: \"/v/s\" is also gate.state_file; the socket needs a path of its own"},
        {base + "[admin]\nsocket = \"/v/a\"\n[gate]\naudit_log = \"/v/a\"\n",
         "t.toml:6:10: admin.socket: \"/v/a\" is also gate.audit_log; the socket needs a path of its own"},
    });

    SECTION("relative paths are relative to the config file's folder") {
        const std::string doc = base +
                                "[gate]\nstate_file = \"state.json\"\naudit_log = \"logs/audit.jsonl\"\n"
                                "[admin]\nsocket = \"../run/admin.sock\"\n";
        const auto nested = load_config_string(doc, "/etc/maintgate/main.toml");
        REQUIRE(nested.cfg.has_value());
        CHECK(nested.cfg->gate.state_file == "/etc/maintgate/state.json");
        CHECK(nested.cfg->gate.audit_log == "/etc/maintgate/logs/audit.jsonl");
        CHECK(nested.cfg->admin.socket == "/etc/maintgate/../run/admin.sock");

        const auto relative = load_config_string(doc, "conf/main.toml");
        REQUIRE(relative.cfg.has_value());
        CHECK(relative.cfg->gate.state_file == "conf/state.json");
        CHECK(relative.cfg->admin.socket == "conf/../run/admin.sock");

        const auto root = load_config_string(doc, "/main.toml");
        REQUIRE(root.cfg.has_value());
        CHECK(root.cfg->gate.state_file == "/state.json");

        // A bare file name is in the current directory already; absolute paths stay.
        const config here = load_ok(doc);
        CHECK(here.gate.state_file == "state.json");
        CHECK(here.admin.socket == "../run/admin.sock");
        const auto absolute =
            load_config_string(base + "[gate]\nstate_file = \"/s.json\"\n", "/etc/m/main.toml");
        REQUIRE(absolute.cfg.has_value());
        CHECK(absolute.cfg->gate.state_file == "/s.json");

        // The length limit applies to the path bind() will see.
        const std::string name(100, 'n');
        const auto long_folder =
            load_config_string(base + "[admin]\nsocket = \"" + name + "\"\n", "/etc/maintgate/m.toml");
        REQUIRE(long_folder.errors.size() == 1);
        CHECK(long_folder.errors[0].message == "admin.socket: \"/etc/maintgate/" + name.substr(0, 65) +
                                                   "...\" is 115 bytes long; a Unix socket "
                                                   "path can be at most 107 bytes");
    }

    SECTION("pages_dir too, so a relative pages folder is found next to the config") {
        const auto dir =
            std::filesystem::temp_directory_path() / ("maintgate_config_paths_" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir / "pages");
        for (const char* name : {"maintenance.html", "read_only.html"}) {
            std::ofstream out(dir / "pages" / name);
            out << "<p>{{reason}}</p>\n";
        }
        const std::string path = (dir / "m.toml").string();
        {
            std::ofstream out(path);
            out << base << "[gate]\npages_dir = \"pages\"\n";
        }
        const auto ok = load_config_file(path);
        for (const auto& m : messages(ok)) UNSCOPED_INFO(m);
        REQUIRE(ok.cfg.has_value());
        CHECK(ok.cfg->gate.pages_dir == dir.string() + "/pages");
        CHECK(ok.cfg->gate.maintenance_page == "<p>{{reason}}</p>\n");

        {
            std::ofstream out(path);
            out << base << "[gate]\npages_dir = \"missing\"\n";
        }
        CHECK(messages(load_config_file(path)) ==
              std::vector<std::string>{
                  path + ":6:13: gate.pages_dir: cannot read \"" + dir.string() +
                      "/missing/maintenance.html\": No such file or directory",
                  path + ":6:13: gate.pages_dir: cannot read \"" + dir.string() +
                      "/missing/read_only.html\": No such file or directory",
              });
        std::filesystem::remove_all(dir);
    }
}
