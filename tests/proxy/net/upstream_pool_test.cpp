#include "proxy/net/upstream_pool.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <tuple>
#include <vector>

using namespace maintgate;
using namespace maintgate::proxy;

namespace {

// The bound on any one test's event loop: far above what a passing test needs.
constexpr auto test_deadline = std::chrono::seconds(20);

tcp::endpoint loopback_any() { return {net::ip::address_v4::loopback(), 0}; }

// A port on 127.0.0.1 that nothing listens on (bound, then closed): a connect is refused.
tcp::endpoint refusing_endpoint(net::io_context& ioc) {
    tcp::acceptor a(ioc, loopback_any());
    auto ep = a.local_endpoint();
    a.close();
    return ep;
}

struct connect_result {
    error_code ec;
    upstream_conn_ptr conn;
};

connect_result connect_once(net::io_context& ioc, upstream_pool& pool) {
    std::optional<connect_result> out;
    net::co_spawn(ioc, pool.connect(),
                  [&](std::exception_ptr e, std::tuple<error_code, upstream_conn_ptr, bool> r) {
                      if (e) std::rethrow_exception(e);
                      out = connect_result{std::get<0>(r), std::move(std::get<1>(r))};
                  });
    ioc.run_for(test_deadline);
    REQUIRE(out);
    return std::move(*out);
}

// Lowers this process's descriptor limit to the lowest free descriptor number, so the
// next socket(2) fails with EMFILE; the old limit comes back when it goes out of scope.
class no_free_descriptors {
public:
    no_free_descriptors() {
        REQUIRE(getrlimit(RLIMIT_NOFILE, &old_) == 0);
        int lowest_free = dup(0);
        REQUIRE(lowest_free >= 0);
        close(lowest_free);
        rlimit now = old_;
        now.rlim_cur = static_cast<rlim_t>(lowest_free);
        REQUIRE(setrlimit(RLIMIT_NOFILE, &now) == 0);
    }
    ~no_free_descriptors() { setrlimit(RLIMIT_NOFILE, &old_); }
    no_free_descriptors(const no_free_descriptors&) = delete;
    no_free_descriptors& operator=(const no_free_descriptors&) = delete;

private:
    rlimit old_{};
};

}  // namespace

TEST_CASE("upstream_pool::connect tries each address in turn") {
    net::io_context ioc;
    tcp::acceptor live(ioc, loopback_any());
    upstream_config cfg;

    SECTION("a refusing address, then one that accepts: connected to the second") {
        upstream_pool pool(ioc.get_executor(), cfg, {refusing_endpoint(ioc), live.local_endpoint()});
        auto r = connect_once(ioc, pool);
        REQUIRE_FALSE(r.ec);
        REQUIRE(r.conn);
        CHECK(r.conn->stream.socket().remote_endpoint() == live.local_endpoint());
    }
    SECTION("every address refuses: the error is the last refusal") {
        upstream_pool pool(ioc.get_executor(), cfg, {refusing_endpoint(ioc), refusing_endpoint(ioc)});
        auto r = connect_once(ioc, pool);
        CHECK(r.ec == net::error::connection_refused);
        CHECK_FALSE(r.conn);
    }
}

TEST_CASE("upstream_pool::connect with no descriptor left says so, not 'Operation canceled'") {
    // Asio's range connect turns a socket it could not open into operation_aborted, and
    // that is what an operator would have read in the log while the process was out of
    // descriptors.
    net::io_context ioc;
    tcp::acceptor live(ioc, loopback_any());
    upstream_config cfg;
    upstream_pool pool(ioc.get_executor(), cfg, {live.local_endpoint()});
    connect_result r;
    {
        no_free_descriptors limit;
        r = connect_once(ioc, pool);
    }
    CHECK(r.ec == net::error::no_descriptors);
    CHECK_FALSE(r.conn);

    ioc.restart();  // and once descriptors are free again, it connects
    auto again = connect_once(ioc, pool);
    CHECK_FALSE(again.ec);
    CHECK(again.conn);
}
