#pragma once
// A parsed HTTP head as views into its own bytes: the start line's parts and a table of
// fields in the order they came, each a name, its known-field id and a value. No
// allocation per field, no tree: Beast's basic_fields allocates every field and links it
// into a case-insensitive multiset, which a proxy that reads a head once and renders it
// once pays for on every request and every response. Lookups here scan the table (a
// head has a handful of fields, 32 bytes each) by the id Beast's parser already found.
//
// A head comes from head_parser (head_parser.hpp), whose bytes live in a pool slab until
// the parser is reset, or from build() (tests, the fuzzer), which owns a copy. A copy of
// a parsed head shares its parser's bytes: it is valid while the parser is.
//
// The interface is the part of Beast's header<> the proxy reads (method(), target(),
// result_int(), find, count, operator[], iteration with name(), name_string() and
// value()), so what reads a head reads as it did over Beast's; erase() is the only change
// a head takes (the fields the proxy strips before anything else reads them).
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/net.hpp"

namespace maintgate::proxy {

template <bool isRequest>
class head_parser;

// One field: views into the head's bytes.
class head_field {
public:
    http::field name() const noexcept { return id_; }
    std::string_view name_string() const noexcept { return {name_, name_len_}; }
    std::string_view value() const noexcept { return {value_, value_len_}; }

private:
    friend class head_fields;
    template <bool>
    friend class head_parser;

    const char* name_;
    const char* value_;
    std::uint32_t name_len_;
    std::uint32_t value_len_;
    http::field id_;
    bool folded_;  // while parsing: value_ is an offset into the parser's unfolded values
};

using field_list = std::vector<std::pair<std::string, std::string>>;

class head_fields {
public:
    using value_type = head_field;
    using const_iterator = const head_field*;
    using iterator = const head_field*;
    // Fields kept in the head itself; a head with more moves them to the heap.
    static constexpr std::size_t inline_fields = 20;

    const head_field* begin() const noexcept { return heap_ ? more_.data() : inline_.data(); }
    const head_field* end() const noexcept { return begin() + n_; }
    std::size_t size() const noexcept { return n_; }
    bool empty() const noexcept { return n_ == 0; }

    // The first field with this id or name (ASCII case ignored), or end().
    const head_field* find(http::field f) const noexcept;
    const head_field* find(std::string_view name) const noexcept;
    std::size_t count(http::field f) const noexcept;
    std::size_t count(std::string_view name) const noexcept;
    // The first such field's value; empty when there is none (as Beast's).
    std::string_view operator[](http::field f) const noexcept;
    std::string_view operator[](std::string_view name) const noexcept;

    // Removes one field, keeping the others' order; returns the field after it.
    const head_field* erase(const head_field* it) noexcept;

protected:
    head_fields() noexcept {}
    head_fields(const head_fields& o) { *this = o; }
    head_fields& operator=(const head_fields& o);
    ~head_fields() = default;

    head_field* data() noexcept { return heap_ ? more_.data() : inline_.data(); }
    head_field& add();
    // Builds: appends name and value to bytes (whose capacity the caller reserved, so
    // that views into it stay put) and a field viewing them.
    void add_owned(std::string& bytes, std::string_view name, std::string_view value);

private:
    std::array<head_field, inline_fields> inline_;  // left uninitialised past n_
    std::vector<head_field> more_;
    std::uint32_t n_ = 0;
    bool heap_ = false;
};

class request_head : public head_fields {
public:
    request_head() noexcept {}
    http::verb method() const noexcept { return method_; }
    std::string_view method_string() const noexcept { return method_str_; }
    std::string_view target() const noexcept { return target_; }
    unsigned version() const noexcept { return version_; }

    // A head from its parts, owning a copy of them (tests, the fuzzer; the proxy parses).
    static request_head build(std::string_view method, std::string_view target, unsigned version,
                              const field_list& fields);

private:
    template <bool>
    friend class head_parser;

    std::string_view method_str_;
    std::string_view target_;
    http::verb method_ = http::verb::unknown;
    unsigned version_ = 11;
    std::shared_ptr<const std::string> owned_;  // build() only
};

class response_head : public head_fields {
public:
    response_head() noexcept {}
    unsigned result_int() const noexcept { return code_; }
    http::status result() const noexcept { return http::int_to_status(code_); }
    std::string_view reason() const noexcept { return reason_; }
    unsigned version() const noexcept { return version_; }

    static response_head build(unsigned code, std::string_view reason, unsigned version,
                               const field_list& fields);

private:
    template <bool>
    friend class head_parser;

    std::string_view reason_;
    unsigned code_ = 0;
    unsigned version_ = 11;
    std::shared_ptr<const std::string> owned_;
};

}  // namespace maintgate::proxy
