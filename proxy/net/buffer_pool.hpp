#pragma once
// One worker's I/O buffers: fixed-size slabs in three classes (a small first head
// buffer, a head/relay buffer, a body buffer), each kept on a LIFO free list so that the
// warmest slab, still in the cache, is the next one handed out. A session takes its
// buffers when bytes arrive and gives them back when it goes idle between requests
// (read_head), so an idle keep-alive connection holds none, and a request takes them in
// a few instructions, without malloc (in the manner of HAProxy's pools and nginx's
// per-connection buffers).
//
// Single-threaded: one pool per worker, touched only on the worker's thread, so there is
// no lock. A free list keeps at most keep_per_class slabs of its class; past that a slab
// goes back to the heap, so a burst of connections does not pin its peak for good.
// Sizes above the largest class go straight to operator new.
#include <array>
#include <cstddef>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

namespace maintgate::proxy {

class buffer_pool {
public:
    static constexpr std::size_t small_size = 1024;  // the first buffer of a request head
    static constexpr std::size_t medium_size = 16 * 1024;  // a head that needs more, a relay read
    static constexpr std::size_t large_size = 64 * 1024;  // a body buffer
    static constexpr std::size_t keep_per_class = 256;

    buffer_pool() { strings_.reserve(keep_per_class); }
    buffer_pool(const buffer_pool&) = delete;
    buffer_pool& operator=(const buffer_pool&) = delete;
    ~buffer_pool() {
        for (auto& fl : free_)
            while (node* s = fl.head) {
                fl.head = s->next;
                ::operator delete(s);
            }
    }

    // At least n bytes; the same n goes back to give().
    char* take(std::size_t n) {
        const int c = class_of(n);
        if (c < 0) return static_cast<char*>(::operator new(n));
        auto& fl = free_[c];
        if (fl.head) {
            node* s = fl.head;
            fl.head = s->next;
            --fl.count;
            return reinterpret_cast<char*>(s);
        }
        return static_cast<char*>(::operator new(class_size(c)));
    }

    void give(char* p, std::size_t n) noexcept {
        if (!p) return;
        const int c = class_of(n);
        if (c < 0) {
            ::operator delete(p);
            return;
        }
        auto& fl = free_[c];
        if (fl.count == keep_per_class) {
            ::operator delete(p);
            return;
        }
        node* s = reinterpret_cast<node*>(p);
        s->next = fl.head;
        fl.head = s;
        ++fl.count;
    }

    // A rendered head's string: one whose capacity an earlier request grew, so that
    // rendering into it does not allocate. The session swaps it in and out of its own
    // member (a move: three pointers), and render_*_head keep taking std::string&.
    void take_string(std::string& out) noexcept {
        if (out.capacity() > 15 || strings_.empty()) return;  // it has its own already
        out.swap(strings_.back());
        strings_.pop_back();
    }
    void give_string(std::string& s) noexcept {
        if (s.capacity() <= 15) return;  // nothing on the heap (the short-string buffer)
        if (strings_.size() == keep_per_class) {
            std::string().swap(s);
            return;
        }
        s.clear();
        strings_.push_back(std::move(s));  // capacity reserved: no allocation
        s = std::string();
    }

    // Slabs waiting on the free list of the class that serves n bytes (tests).
    std::size_t cached(std::size_t n) const noexcept {
        const int c = class_of(n);
        return c < 0 ? 0 : free_[c].count;
    }

    static constexpr int class_of(std::size_t n) noexcept {
        return n <= small_size ? 0 : n <= medium_size ? 1 : n <= large_size ? 2 : -1;
    }
    static constexpr std::size_t class_size(int c) noexcept {
        return c == 0 ? small_size : c == 1 ? medium_size : large_size;
    }

private:
    struct node {
        node* next;
    };
    struct free_list {
        node* head = nullptr;
        std::size_t count = 0;
    };
    std::array<free_list, 3> free_{};
    std::vector<std::string> strings_;
};

// A std allocator over a worker's buffer_pool, for the session's flat_buffers: their
// growth (prepare) and shrink_to_fit then take and give slabs.
template <class T>
class pool_allocator {
public:
    using value_type = T;
    using propagate_on_container_move_assignment = std::true_type;
    using propagate_on_container_swap = std::true_type;
    using is_always_equal = std::false_type;

    explicit pool_allocator(buffer_pool& p) noexcept : pool_(&p) {}
    template <class U>
    pool_allocator(const pool_allocator<U>& o) noexcept : pool_(o.pool()) {}

    T* allocate(std::size_t n) { return reinterpret_cast<T*>(pool_->take(n * sizeof(T))); }
    void deallocate(T* p, std::size_t n) noexcept { pool_->give(reinterpret_cast<char*>(p), n * sizeof(T)); }

    buffer_pool* pool() const noexcept { return pool_; }
    template <class U>
    bool operator==(const pool_allocator<U>& o) const noexcept {
        return pool_ == o.pool();
    }

private:
    buffer_pool* pool_;
};

// An optional T whose storage is a small slab of a worker's buffer_pool, taken by
// emplace() and given back by reset(): the session's parsers (272 bytes each in Beast
// 1.81), so that an idle connection, which holds no parser, does not carry them either.
template <class T>
class pooled {
public:
    static_assert(sizeof(T) <= buffer_pool::small_size && alignof(T) <= alignof(std::max_align_t));

    explicit pooled(buffer_pool& pool) noexcept : pool_(&pool) {}
    pooled(const pooled&) = delete;
    pooled& operator=(const pooled&) = delete;
    ~pooled() { reset(); }

    template <class... Args>
    T& emplace(Args&&... args) {
        reset();
        char* slab = pool_->take(sizeof(T));
        try {
            p_ = ::new (slab) T(std::forward<Args>(args)...);
        } catch (...) {
            pool_->give(slab, sizeof(T));
            throw;
        }
        return *p_;
    }
    void reset() noexcept {
        if (!p_) return;
        p_->~T();
        pool_->give(reinterpret_cast<char*>(p_), sizeof(T));
        p_ = nullptr;
    }

    explicit operator bool() const noexcept { return p_ != nullptr; }
    T* operator->() const noexcept { return p_; }
    T& operator*() const noexcept { return *p_; }

private:
    buffer_pool* pool_;
    T* p_ = nullptr;
};

}  // namespace maintgate::proxy
