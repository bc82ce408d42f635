#include "proxy/config/preflight.hpp"

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>

#include "tests/temp_dir.hpp"

using namespace maintgate;

namespace {

config with_paths(const std::string& state, const std::string& audit, const std::string& socket) {
    const std::string text =
        "[[listener]]\naddress = \"127.0.0.1:0\"\n[upstream]\nurl = \"http://127.0.0.1:3000\"\n"
        "[gate]\nstate_file = \"" +
        state + "\"\naudit_log = \"" + audit +
        "\"\n"
        "[admin]\nsocket = \"" +
        socket + "\"\n";
    auto r = load_config_string(text, "t.toml");
    REQUIRE(r.errors.empty());
    return *r.cfg;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

unsigned mode_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("preflight: a missing folder run would not create is an error, one run creates is said",
          "[preflight]") {
    maintgate::test::temp_dir dir;
    const std::string root = dir.path.string();
    const auto cfg =
        with_paths(root + "/gone/deeper/state.json", root + "/lib/audit.jsonl", root + "/run/admin.sock");
    const auto r = preflight(cfg);
    CHECK(r.errors == std::vector<std::string>{"t.toml: gate.state_file: the folder " + root +
                                               "/gone/deeper does not exist, and run "
                                               "creates only the last folder of a path: " +
                                               root + "/gone is missing too"});
    CHECK(r.creates == std::vector<std::string>{root + "/lib (mode 0750)", root + "/run (mode 0700)"});
    CHECK(r.warnings.empty());
    // Nothing was made by the check.
    CHECK(::access((root + "/lib").c_str(), F_OK) != 0);

    const auto made = create_owned_folders(cfg);
    CHECK(made.errors.size() == 1);
    CHECK(made.created == std::vector<std::string>{"created " + root + "/lib (mode 0750) for gate.audit_log",
                                                   "created " + root + "/run (mode 0700) for admin.socket"});
    CHECK(mode_of(root + "/lib") == 0750);
    CHECK(mode_of(root + "/run") == 0700);
    // Made once: a second start finds them and says nothing.
    CHECK(create_owned_folders(cfg).created.empty());
}

TEST_CASE("preflight: a group-readable socket gets a folder the group can search", "[preflight]") {
    maintgate::test::temp_dir dir;
    const std::string root = dir.path.string();
    auto cfg = with_paths(root + "/s.json", root + "/a.jsonl", root + "/run/admin.sock");
    cfg.admin.socket_mode = 0660;
    CHECK(preflight(cfg).creates == std::vector<std::string>{root + "/run (mode 0750)"});
}

TEST_CASE("preflight: paths that exist but are not what run needs", "[preflight]") {
    maintgate::test::temp_dir dir;
    const std::string root = dir.path.string();
    std::ofstream(root + "/plain") << "";
    ::mkdir((root + "/state-dir").c_str(), 0700);
    const int busy = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(busy, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(busy, 1) == 0);
    socklen_t len = sizeof a;
    ::getsockname(busy, reinterpret_cast<sockaddr*>(&a), &len);
    const auto port = ntohs(a.sin_port);

    auto cfg = with_paths(root + "/state-dir", root + "/a.jsonl", root + "/plain");
    cfg.listeners.at(0).port = port;
    cfg.listeners.at(0).address = "127.0.0.1:" + std::to_string(port);
    cfg.admin.socket_group = "no-such-group-here";
    const auto r = preflight(cfg);
    CHECK(has(r.errors, "t.toml: gate.state_file: " + root + "/state-dir is not a regular file"));
    CHECK(has(r.errors, "t.toml: admin.socket: " + root +
                            "/plain exists and is not a socket; run will not replace it"));
    CHECK(has(r.errors, "t.toml: admin.socket_group: no such group 'no-such-group-here'"));
    CHECK(has(r.errors, "t.toml: listener[1]: cannot bind 127.0.0.1:" + std::to_string(port) +
                            ": Address already in use"));
    CHECK(r.errors.size() == 4);
    ::close(busy);
}

TEST_CASE("preflight: [cluster] files run reads before it joins", "[preflight]") {
    maintgate::test::temp_dir dir;
    const std::string root = dir.path.string();
    {
        std::ofstream(root + "/ca.pem") << "x";
        std::ofstream(root + "/pw") << "secret\n";
    }
    const std::string text =
        "[[listener]]\naddress = \"127.0.0.1:0\"\n[upstream]\nurl = \"http://127.0.0.1:3000\"\n"
        "[cluster]\netcd = [\"https://127.0.0.1:2379\"]\ntls_ca_file = \"" + root + "/ca.pem\"\n"
        "tls_cert = \"" + root + "/gone.pem\"\ntls_key = \"" + root + "\"\nuser = \"gate\"\n"
        "password_file = \"" + root + "/pw\"\n";
    auto loaded = load_config_string(text, "t.toml");
    REQUIRE(loaded.errors.empty());
    const auto r = preflight(*loaded.cfg);
    CHECK(r.errors == std::vector<std::string>{
                          "t.toml: cluster.tls_cert: cannot read " + root + "/gone.pem: No such file or directory",
                          "t.toml: cluster.tls_key: " + root + " is not a regular file"});
}
