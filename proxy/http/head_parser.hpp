#pragma once
// The session's parser: Beast's basic_parser (its state machine, its framing: length,
// chunked, limits, keep-alive), with the head recorded as views instead of built into
// basic_fields, and the body copied into the caller's buffer as buffer_body does.
//
// Beast calls back for the start line and for each field as soon as it is complete, with
// views into the bytes put() was handed, and consumes those bytes: the caller then
// consumes, reuses or grows its read buffer. So each put() that parsed a part of the
// head appends that part to the head's own copy (a slab of the worker's pool, grown in
// the rare case a head comes in parts that outgrow it) and moves its views there: the
// head stays valid until the parser is reset. The session hands a request head over
// whole (read_head scanned it first), so a request costs one memcpy and one slab. An
// obs-folded value (responses only: scan_request_head refuses it in requests), which
// Beast unfolds into a buffer of its own, is copied after the head.
//
// Requests: a chunk size past 63 bits is a bad chunk (check_chunk_size), and a trailer
// field that check_trailers' list refuses (refused_in_trailers) is noted, not stored:
// refused_trailer() says so once the body is done. Responses: trailers are dropped.
#include <cstring>
#include <string>

#include "proxy/http/framing.hpp"
#include "proxy/http/head.hpp"
#include "proxy/net/buffer_pool.hpp"

namespace maintgate::proxy {

template <bool isRequest>
class head_parser final : public http::basic_parser<isRequest> {
    using base = http::basic_parser<isRequest>;

public:
    using head_type = std::conditional_t<isRequest, request_head, response_head>;
    // buffer_body's: data and size say where the next body bytes go (need_buffer when
    // size reaches 0); what was written moves data and shrinks size.
    using body_type = http::buffer_body::value_type;

    explicit head_parser(buffer_pool& pool) noexcept : pool_(pool) {}
    ~head_parser() override { pool_.give(bytes_, bytes_cap_); }
    head_parser(const head_parser&) = delete;
    head_parser& operator=(const head_parser&) = delete;

    head_type& get() noexcept { return head_; }
    const head_type& get() const noexcept { return head_; }
    body_type& body() noexcept { return body_; }
    bool refused_trailer() const noexcept { return refused_trailer_; }

    // basic_parser::put over one contiguous buffer (the session's flat buffers); a call
    // that parsed a part of the head keeps its bytes (above).
    std::size_t put(net::const_buffer b, error_code& ec) {
        if (this->is_header_done()) return base::put(b, ec);
        first_ = static_cast<const char*>(b.data());
        last_ = first_ + b.size();
        high_ = first_;
        const std::size_t fields_before = head_.size();
        const std::size_t used = base::put(b, ec);
        if (high_ != first_) keep_part(fields_before);
        if (this->is_header_done() && !folded_.empty()) [[unlikely]]
            keep_folded();
        first_ = last_ = high_ = nullptr;
        return used;
    }

private:
    void note(const char* p, std::size_t n) noexcept {
        if (p + n > high_) high_ = p + n;
    }
    bool inside(const char* p) const noexcept { return p >= first_ && p < last_; }

    void on_request_impl(http::verb method, beast::string_view method_str, beast::string_view target,
                         int version, error_code&) override {
        if constexpr (isRequest) {
            head_.method_ = method;
            head_.method_str_ = std::string_view(method_str.data(), method_str.size());
            head_.target_ = std::string_view(target.data(), target.size());
            head_.version_ = static_cast<unsigned>(version);
            note(target.data(), target.size());
            start_line_ = true;
        }
    }
    void on_response_impl(int code, beast::string_view reason, int version, error_code&) override {
        if constexpr (!isRequest) {
            head_.code_ = static_cast<unsigned>(code);
            head_.reason_ = std::string_view(reason.data(), reason.size());
            head_.version_ = static_cast<unsigned>(version);
            // The reason's end, or the status code's when there is none: past the
            // version ("HTTP/1.1 200"), so the copy holds the whole line.
            note(reason.data(), reason.size());
            note(first_, 12);
            start_line_ = true;
        }
    }
    void on_field_impl(http::field id, beast::string_view name, beast::string_view value,
                       error_code&) override {
        if (this->is_header_done()) {
            if constexpr (isRequest) refused_trailer_ = refused_trailer_ || refused_in_trailers(id);
            return;
        }
        head_field& f = head_.add();
        f.id_ = id;
        f.name_ = name.data();
        f.name_len_ = static_cast<std::uint32_t>(name.size());
        f.value_len_ = static_cast<std::uint32_t>(value.size());
        note(name.data(), name.size());
        f.folded_ = !value.empty() && !inside(value.data());
        if (f.folded_) [[unlikely]] {
            f.value_ = reinterpret_cast<const char*>(static_cast<std::uintptr_t>(folded_.size()));
            folded_.append(value.data(), value.size());
        } else if (value.empty()) {
            f.value_ = name.data();  // anywhere inside, so that it moves with the rest
        } else {
            f.value_ = value.data();
            note(value.data(), value.size());
        }
    }
    void on_header_impl(error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
    std::size_t on_body_impl(beast::string_view s, error_code& ec) override { return copy_body(s, ec); }
    void on_chunk_header_impl(std::uint64_t size, beast::string_view, error_code& ec) override {
        // Beast takes any 64-bit chunk size when there is no body limit; past 2^63
        // (where Content-Length stops too) it is an attack on someone's arithmetic.
        if constexpr (isRequest)
            if (check_chunk_size(size)) ec = http::error::bad_chunk;
    }
    std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view s, error_code& ec) override {
        return copy_body(s, ec);
    }
    void on_finish_impl(error_code&) override {}

    std::size_t copy_body(beast::string_view s, error_code& ec) noexcept {
        if (!body_.data) {
            ec = http::error::need_buffer;
            return 0;
        }
        const std::size_t n = std::min(s.size(), body_.size);
        if (n) std::memcpy(body_.data, s.data(), n);
        body_.data = static_cast<char*>(body_.data) + n;
        body_.size -= n;
        if (n != s.size()) ec = http::error::need_buffer;
        return n;
    }

    // Room for n more bytes in the head's copy; a larger slab moves what is there, and
    // the views into it, along.
    void reserve(std::size_t n) {
        const std::size_t need = bytes_size_ + n;
        if (need <= bytes_cap_) return;
        const int c = buffer_pool::class_of(need);
        const std::size_t cap = c < 0 ? need : buffer_pool::class_size(c);
        char* grown = pool_.take(cap);
        if (bytes_size_) std::memcpy(grown, bytes_, bytes_size_);
        const char* from = bytes_;
        const auto move = [&](const char* p) { return grown + (p - from); };
        if (bytes_size_) {
            if (!start_line_) move_start_line(move);
            head_field* f = head_.data();
            for (head_field* e = f + kept_fields_; f != e; ++f) {
                f->name_ = move(f->name_);
                if (!f->folded_) f->value_ = move(f->value_);
            }
        }
        pool_.give(bytes_, bytes_cap_);
        bytes_ = grown;
        bytes_cap_ = cap;
    }

    template <class Move>
    void move_start_line(const Move& move) {
        const auto view = [&](std::string_view v) {
            return v.empty() ? std::string_view{} : std::string_view(move(v.data()), v.size());
        };
        if constexpr (isRequest) {
            head_.method_str_ = view(head_.method_str_);
            head_.target_ = view(head_.target_);
        } else {
            head_.reason_ = view(head_.reason_);
        }
    }

    // Appends what this put() parsed of the head, [first_, high_), to the head's copy and
    // moves the views this put() recorded (fields from index from on) there.
    void keep_part(std::size_t from) {
        const auto n = static_cast<std::size_t>(high_ - first_);
        reserve(n);
        char* to = bytes_ + bytes_size_;
        std::memcpy(to, first_, n);
        bytes_size_ += n;
        const char* base = first_;
        const auto move = [&](const char* p) { return to + (p - base); };
        if (start_line_) {
            move_start_line(move);
            start_line_ = false;
        }
        head_field* f = head_.data() + from;
        for (head_field* e = head_.data() + head_.size(); f != e; ++f) {
            f->name_ = move(f->name_);
            if (!f->folded_) f->value_ = move(f->value_);
        }
        kept_fields_ = head_.size();
    }

    // The unfolded values, after the head.
    void keep_folded() {
        reserve(folded_.size());
        char* to = bytes_ + bytes_size_;
        std::memcpy(to, folded_.data(), folded_.size());
        bytes_size_ += folded_.size();
        head_field* f = head_.data();
        for (head_field* e = f + head_.size(); f != e; ++f) {
            if (!f->folded_) continue;
            f->value_ = to + reinterpret_cast<std::uintptr_t>(f->value_);
            f->folded_ = false;
        }
        std::string().swap(folded_);
    }

    buffer_pool& pool_;
    head_type head_;
    body_type body_{};
    char* bytes_ = nullptr;  // the head's own copy, a pool slab
    std::size_t bytes_size_ = 0;
    std::size_t bytes_cap_ = 0;
    std::size_t kept_fields_ = 0;  // the fields whose views are in bytes_
    // While the head is parsed: the bytes put() was handed, and the end of what the views
    // cover so far.
    const char* first_ = nullptr;
    const char* last_ = nullptr;
    const char* high_ = nullptr;
    std::string folded_;  // unfolded values, until the head is done
    bool start_line_ = false;  // its views are still in put()'s bytes
    bool refused_trailer_ = false;
};

using request_parser = head_parser<true>;
using response_parser = head_parser<false>;

}  // namespace maintgate::proxy
