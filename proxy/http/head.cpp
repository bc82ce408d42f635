#include "proxy/http/head.hpp"

#include <algorithm>
#include <cstring>

#include "policy/ascii.hpp"

namespace maintgate::proxy {

const head_field* head_fields::find(http::field f) const noexcept {
    const head_field* it = begin();
    const head_field* last = end();
    while (it != last && it->id_ != f) ++it;
    return it;
}

const head_field* head_fields::find(std::string_view name) const noexcept {
    // A known name is found by its id, as Beast's parser mapped it.
    if (const auto f = http::string_to_field(name); f != http::field::unknown) return find(f);
    const head_field* it = begin();
    const head_field* last = end();
    while (it != last && !(it->id_ == http::field::unknown && policy::iequals(it->name_string(), name))) ++it;
    return it;
}

std::size_t head_fields::count(http::field f) const noexcept {
    std::size_t n = 0;
    for (const auto& e : *this) n += e.id_ == f;
    return n;
}

std::size_t head_fields::count(std::string_view name) const noexcept {
    if (const auto f = http::string_to_field(name); f != http::field::unknown) return count(f);
    std::size_t n = 0;
    for (const auto& e : *this) n += e.id_ == http::field::unknown && policy::iequals(e.name_string(), name);
    return n;
}

std::string_view head_fields::operator[](http::field f) const noexcept {
    const auto* it = find(f);
    return it == end() ? std::string_view{} : it->value();
}

std::string_view head_fields::operator[](std::string_view name) const noexcept {
    const auto* it = find(name);
    return it == end() ? std::string_view{} : it->value();
}

const head_field* head_fields::erase(const head_field* it) noexcept {
    head_field* first = data();
    const auto i = static_cast<std::size_t>(it - first);
    std::memmove(first + i, first + i + 1, (n_ - i - 1) * sizeof(head_field));
    --n_;
    return first + i;
}

head_fields& head_fields::operator=(const head_fields& o) {
    if (this == &o) return *this;
    n_ = o.n_;
    heap_ = o.heap_;
    if (heap_)
        more_.assign(o.more_.begin(), o.more_.begin() + n_);
    else
        std::copy_n(o.inline_.begin(), n_, inline_.begin());
    return *this;
}

head_field& head_fields::add() {
    if (!heap_ && n_ == inline_fields) {
        // Rare: a head with many fields. Past this, vector's growth.
        more_.assign(inline_.begin(), inline_.end());
        heap_ = true;
    }
    if (heap_) {
        more_.emplace_back();
        return more_[n_++];
    }
    return inline_[n_++];
}

void head_fields::add_owned(std::string& bytes, std::string_view name, std::string_view value) {
    head_field& f = add();
    f.name_ = bytes.data() + bytes.size();
    f.name_len_ = static_cast<std::uint32_t>(name.size());
    bytes.append(name);
    f.value_ = bytes.data() + bytes.size();
    f.value_len_ = static_cast<std::uint32_t>(value.size());
    bytes.append(value);
    f.id_ = http::string_to_field(name);
    f.folded_ = false;
}

namespace {

std::size_t total_size(const field_list& fields) {
    std::size_t n = 0;
    for (const auto& [name, value] : fields) n += name.size() + value.size();
    return n;
}

}  // namespace

request_head request_head::build(std::string_view method, std::string_view target, unsigned version,
                                 const field_list& fields) {
    request_head h;
    auto bytes = std::make_shared<std::string>();
    bytes->reserve(method.size() + target.size() + total_size(fields));
    bytes->append(method);
    bytes->append(target);
    h.method_str_ = std::string_view(bytes->data(), method.size());
    h.target_ = std::string_view(bytes->data() + method.size(), target.size());
    h.method_ = http::string_to_verb(method);
    h.version_ = version;
    for (const auto& [name, value] : fields) h.add_owned(*bytes, name, value);
    h.owned_ = std::move(bytes);
    return h;
}

response_head response_head::build(unsigned code, std::string_view reason, unsigned version,
                                   const field_list& fields) {
    response_head h;
    auto bytes = std::make_shared<std::string>();
    bytes->reserve(reason.size() + total_size(fields));
    bytes->append(reason);
    h.reason_ = std::string_view(bytes->data(), reason.size());
    h.code_ = code;
    h.version_ = version;
    for (const auto& [name, value] : fields) h.add_owned(*bytes, name, value);
    h.owned_ = std::move(bytes);
    return h;
}

}  // namespace maintgate::proxy
