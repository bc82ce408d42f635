// [cluster].
#include "proxy/config/config.hpp"

#include <catch2/catch.hpp>

#include "tests/proxy/config/config_test_support.hpp"

using namespace maintgate;
using namespace maintgate::config_test;

TEST_CASE("cluster: absent means no cluster; the defaults; every key read", "[config]") {
    CHECK_FALSE(load_ok(base).cluster.has_value());

    const config d = load_ok(base + "[cluster]\netcd = [\"http://127.0.0.1:2379\"]\n");
    REQUIRE(d.cluster);
    const auto& c = *d.cluster;
    REQUIRE(c.etcd.size() == 1);
    CHECK(c.etcd[0].host == "127.0.0.1");
    CHECK(c.etcd[0].port == 2379);
    CHECK_FALSE(c.etcd[0].tls);
    CHECK(c.prefix == "/maintgate");
    CHECK(c.replica_id.empty());
    CHECK(c.lease_ttl.count() == 10'000);
    CHECK(c.keepalive.count() == 2'000);
    CHECK(c.fence_mode == policy::mode::read_only);
    CHECK(c.resync.count() == 300'000);

    const config all = load_ok(base +
                               "[cluster]\n"
                               "etcd = [\"http://127.0.0.1:23790\", \"https://etcd.example:2379\", \"http://etcd2\"]\n"
                               "prefix = \"/mg/shop\"\n"
                               "replica_id = \"web-1\"\n"
                               "lease_ttl = \"4s\"\n"
                               "keepalive = \"500ms\"\n"
                               "fence_mode = \"maintenance\"\n"
                               "resync = \"1m\"\n"
                               "request_timeout = \"1s\"\n"
                               "tls_ca_file = \"/etc/ca.pem\"\n"
                               "tls_cert = \"/etc/c.pem\"\n"
                               "tls_key = \"/etc/k.pem\"\n"
                               "user = \"gate\"\n"
                               "password_file = \"/etc/pw\"\n");
    const auto& a = *all.cluster;
    REQUIRE(a.etcd.size() == 3);
    CHECK(a.etcd[0].port == 23790);
    CHECK(a.etcd[1].tls);
    CHECK(a.etcd[1].host == "etcd.example");
    CHECK(a.etcd[2].port == 2379);
    CHECK(a.prefix == "/mg/shop");
    CHECK(a.replica_id == "web-1");
    CHECK(a.lease_ttl.count() == 4'000);
    CHECK(a.keepalive.count() == 500);
    CHECK(a.fence_mode == policy::mode::maintenance);
    CHECK(a.resync.count() == 60'000);
    CHECK(a.request_timeout.count() == 1'000);
    CHECK(a.tls_ca_file == "/etc/ca.pem");
    CHECK(a.tls_cert == "/etc/c.pem");
    CHECK(a.tls_key == "/etc/k.pem");
    CHECK(a.user == "gate");
    CHECK(a.password_file == "/etc/pw");
}

TEST_CASE("cluster: each mistake has its own message with file:line:column", "[config]") {
    const std::string cl = base + "[cluster]\netcd = [\"http://127.0.0.1:2379\"]\n";
    check_single_errors({
        {base + "[cluster]\nprefix = \"/x\"\n",
         "t.toml:5:1: cluster.etcd: missing; list the etcd endpoints, such as [\"http://127.0.0.1:2379\"]"},
        {base + "[cluster]\netcd = []\n",
         "t.toml:6:8: cluster.etcd: expected a non-empty array of URLs such as [\"http://127.0.0.1:2379\"], got "
         "an empty array"},
        {base + "[cluster]\netcd = [42]\n",
         "t.toml:6:9: cluster.etcd[0]: expected a URL such as \"http://127.0.0.1:2379\", got integer 42"},
        {cl + "prefix = \"mg\"\n",
         "t.toml:7:10: cluster.prefix: \"mg\" must start with '/', not end with one, and hold no NUL"},
        {cl + "replica_id = \"a b\"\n",
         "t.toml:7:14: cluster.replica_id: \"a b\" must be 1-128 letters, digits, '.', '_', ':' or '-' (it is "
         "part of a key)"},
        {cl + "fence_mode = \"open\"\n",
         "t.toml:7:14: cluster.fence_mode: \"open\" is not one of \"read-only\" or \"maintenance\""},
        {cl + "keepalive = \"5s\"\n",
         "t.toml:7:13: cluster.keepalive: 5s is too long for lease_ttl 10s; a replica fences itself at lease_ttl "
         "- 2 x keepalive after the last keep-alive, which must be later than that keep-alive"},
        {cl + "lease_ttl = \"1500ms\"\nkeepalive = \"100ms\"\n",
         "t.toml:7:13: cluster.lease_ttl: must be between 2s and 1h (etcd counts it in seconds)"},
        {cl + "lease_ttl = \"2500ms\"\nkeepalive = \"100ms\"\n",
         "t.toml:7:13: cluster.lease_ttl: must be whole seconds (etcd counts it in seconds)"},
        {cl + "tls_cert = \"/c.pem\"\n",
         "t.toml:7:12: cluster.tls_cert: tls_cert and tls_key go together (a client certificate and its key)"},
        {cl + "tls_ca_file = \"/ca.pem\"\n",
         "t.toml:7:15: cluster.tls_ca_file: set, but every cluster.etcd URL is http://; give https:// URLs for "
         "TLS to etcd"},
        {cl + "user = \"u\"\n",
         "t.toml:7:8: cluster.user: user and password_file go together (etcd authentication)"},
        {cl + "leas_ttl = \"4s\"\n", "t.toml:7:1: unknown key \"leas_ttl\" in [cluster]; did you mean \"lease_ttl\"?"},
    });
}
