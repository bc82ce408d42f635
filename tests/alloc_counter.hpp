#pragma once
// Counts this thread's calls to the global operator new, for the "allocates nothing"
// contracts. Replacing the global operator is the only way to see an allocation made
// inside a library's containers (Beast's, RE2's); it changes nothing else (malloc and
// free underneath, and the array form calls these; the nothrow forms are replaced too,
// since under AddressSanitizer they do not call the throwing one, and memory from ASan's
// own allocator must not reach the free() below).
//
// It defines the replacement operators, so exactly one .cpp of each test program
// includes it (a second one would be a duplicate definition at link time).
#include <cstddef>
#include <cstdlib>
#include <new>

namespace maintgate::test {
inline thread_local std::size_t allocations = 0;
}  // namespace maintgate::test

void* operator new(std::size_t size) {
    ++maintgate::test::allocations;
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    ++maintgate::test::allocations;
    return std::malloc(size == 0 ? 1 : size);
}
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
