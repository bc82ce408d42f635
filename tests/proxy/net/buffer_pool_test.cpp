#include "proxy/net/buffer_pool.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

using maintgate::proxy::buffer_pool;
using maintgate::proxy::pool_allocator;

TEST_CASE("buffer_pool: a slab given back is the next one taken (LIFO)", "[buffer_pool]") {
    buffer_pool pool;
    char* a = pool.take(100);
    char* b = pool.take(1000);
    pool.give(a, 100);
    pool.give(b, 1000);
    CHECK(pool.cached(1) == 2);
    CHECK(pool.take(500) == b);  // the warmest first
    CHECK(pool.take(1) == a);
    CHECK(pool.cached(1) == 0);
    pool.give(a, 1);
    pool.give(b, 1);
}

TEST_CASE("buffer_pool: sizes map to their classes; larger ones bypass the pool", "[buffer_pool]") {
    STATIC_REQUIRE(buffer_pool::class_of(1024) == 0);
    STATIC_REQUIRE(buffer_pool::class_of(1025) == 1);
    STATIC_REQUIRE(buffer_pool::class_of(16 * 1024) == 1);
    STATIC_REQUIRE(buffer_pool::class_of(64 * 1024) == 2);
    STATIC_REQUIRE(buffer_pool::class_of(64 * 1024 + 1) == -1);
    buffer_pool pool;
    char* big = pool.take(100'000);
    big[99'999] = 'x';
    pool.give(big, 100'000);
    CHECK(pool.cached(100'000) == 0);
    char* m = pool.take(16 * 1024);
    m[16 * 1024 - 1] = 'x';  // the whole class size is usable
    pool.give(m, 2000);  // any size of the same class
    CHECK(pool.cached(16 * 1024) == 1);
}

TEST_CASE("buffer_pool: a free list keeps at most keep_per_class slabs", "[buffer_pool]") {
    buffer_pool pool;
    std::vector<char*> slabs;
    for (std::size_t i = 0; i < buffer_pool::keep_per_class + 10; ++i) slabs.push_back(pool.take(64));
    for (char* s : slabs) pool.give(s, 64);
    CHECK(pool.cached(64) == buffer_pool::keep_per_class);
}

TEST_CASE("buffer_pool: strings keep their capacity across requests", "[buffer_pool]") {
    buffer_pool pool;
    std::string s;
    pool.take_string(s);  // nothing cached yet
    s.assign(300, 'a');
    const char* storage = s.data();
    pool.give_string(s);
    CHECK(s.empty());
    std::string t;
    pool.take_string(t);
    CHECK(t.empty());
    CHECK(t.capacity() >= 300);
    CHECK(t.data() == storage);
    std::string u(200, 'b');  // has its own: kept
    pool.give_string(t);
    pool.take_string(u);
    CHECK(u == std::string(200, 'b'));
}

TEST_CASE("buffer_pool: a flat_buffer over pool_allocator grows and shrinks through it", "[buffer_pool]") {
    buffer_pool pool;
    {
        boost::beast::basic_flat_buffer<pool_allocator<char>> b(64 * 1024, pool_allocator<char>(pool));
        auto m = b.prepare(buffer_pool::small_size);
        std::memset(m.data(), 'x', m.size());
        b.commit(m.size());
        b.prepare(buffer_pool::medium_size - b.size());  // grows to a medium slab, keeps the bytes
        CHECK(b.size() == buffer_pool::small_size);
        CHECK(static_cast<const char*>(b.data().data())[0] == 'x');
        CHECK(pool.cached(buffer_pool::small_size) == 1);
        b.consume(b.size());
        b.shrink_to_fit();
        CHECK(pool.cached(buffer_pool::medium_size) == 1);
    }
}
