#include "proxy/http/banner_inject.hpp"

namespace maintgate {
namespace {

// Elements whose content is text to the tokenizer: a "<body" inside is not a tag.
constexpr std::string_view raw_elements[] = {"script",  "style",   "title",    "textarea",
                                             "xmp",     "iframe",  "noembed",  "noframes"};
constexpr std::uint8_t no_raw = 0xff;

constexpr bool is_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}
constexpr bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

}  // namespace

void banner_injector::reset(std::string_view fragment, std::size_t give_up) noexcept {
    fragment_ = fragment;
    give_up_ = give_up;
    seen_ = 0;
    outcome_ = outcome::scanning;
    st_ = st::data;
    name_len_ = 0;
    name_long_ = false;
    dashes_ = 0;
    raw_ = no_raw;
    raw_matched_ = 0;
}

banner_injector::pieces banner_injector::feed(std::string_view piece) noexcept {
    if (outcome_ != outcome::scanning) return {piece, {}, {}};
    // Only as far as the give-up bound: past it the page goes through as it is.
    const std::size_t budget = give_up_ > seen_ ? give_up_ - seen_ : 0;
    const std::size_t scan = piece.size() < budget ? piece.size() : budget;
    for (std::size_t i = 0; i < scan; ++i) {
        if (step(piece[i])) {
            outcome_ = outcome::inserted;
            return {piece.substr(0, i + 1), fragment_, piece.substr(i + 1)};
        }
        if (outcome_ == outcome::gave_up) return {piece, {}, {}};
    }
    seen_ += scan;
    if (seen_ >= give_up_) outcome_ = outcome::gave_up;
    return {piece, {}, {}};
}

void banner_injector::end_start_tag() noexcept {
    // Called at the '>' of a start tag that is not <body>.
    st_ = st::data;
    if (name_long_) return;
    const std::string_view name(name_, name_len_);
    if (name == "frameset" || name == "plaintext") {
        outcome_ = outcome::gave_up;
        return;
    }
    for (std::uint8_t i = 0; i < std::size(raw_elements); ++i)
        if (name == raw_elements[i]) {
            raw_ = i;
            st_ = st::raw;
            return;
        }
}

bool banner_injector::step(char c) noexcept {
    switch (st_) {
    case st::data:
        if (c == '<') st_ = st::tag_open;
        return false;
    case st::tag_open:
        if (is_alpha(c)) {
            name_[0] = lower(c);
            name_len_ = 1;
            name_long_ = false;
            st_ = st::tag_name;
        } else if (c == '!') {
            st_ = st::markup_open;
        } else if (c == '/') {
            st_ = st::end_tag_open;
        } else if (c == '?') {
            st_ = st::bogus;
        } else if (c == '<') {
            st_ = st::tag_open;  // "<<body>": the first '<' is text
        } else {
            st_ = st::data;  // "a < b": text
        }
        return false;
    case st::end_tag_open:
        st_ = is_alpha(c) ? st::end_tag : c == '>' ? st::data : st::bogus;
        return false;
    case st::end_tag:
        if (c == '>') st_ = st::data;
        return false;
    case st::tag_name:
        if (is_space(c) || c == '/' || c == '>') {
            const bool body = !name_long_ && std::string_view(name_, name_len_) == "body";
            if (c == '>') {
                if (body) return true;
                end_start_tag();
            } else {
                st_ = st::before_attr;
            }
            return false;
        }
        if (name_len_ < sizeof name_ - 1)
            name_[name_len_++] = lower(c);
        else
            name_long_ = true;
        return false;
    case st::before_attr:
        if (c == '>') {
            if (!name_long_ && std::string_view(name_, name_len_) == "body") return true;
            end_start_tag();
        } else if (c == '=') {
            st_ = st::before_value;
        }
        return false;
    case st::before_value:
        if (is_space(c)) return false;
        if (c == '"') {
            st_ = st::value_dq;
        } else if (c == '\'') {
            st_ = st::value_sq;
        } else if (c == '>') {
            st_ = st::before_attr;
            return step(c);
        } else {
            st_ = st::value_unq;
        }
        return false;
    case st::value_dq:
        if (c == '"') st_ = st::before_attr;
        return false;
    case st::value_sq:
        if (c == '\'') st_ = st::before_attr;
        return false;
    case st::value_unq:
        if (is_space(c)) {
            st_ = st::before_attr;
        } else if (c == '>') {
            st_ = st::before_attr;
            return step(c);
        }
        return false;
    case st::markup_open:
        if (c == '-')
            st_ = st::comment_start;
        else
            st_ = c == '>' ? st::data : st::bogus;  // <!doctype html>, <![CDATA[ ... ]]>
        return false;
    case st::comment_start:
        if (c == '-') {
            // Inside "<!--". Counting its two dashes makes "<!-->" and "<!--->" end at
            // once, as the HTML tokenizer's abrupt-closing rule says.
            st_ = st::comment;
            dashes_ = 2;
        } else {
            st_ = c == '>' ? st::data : st::bogus;  // "<!-x>" is a bogus comment
        }
        return false;
    case st::comment:
        if (c == '-') {
            if (dashes_ < 2) ++dashes_;
        } else if (c == '>' && dashes_ >= 2) {
            st_ = st::data;
        } else if (!(c == '!' && dashes_ >= 2)) {
            dashes_ = 0;  // "--!>" also ends a comment
        }
        return false;
    case st::bogus:
        if (c == '>') st_ = st::data;
        return false;
    case st::raw:
        if (c == '<') st_ = st::raw_lt;
        return false;
    case st::raw_lt:
        if (c == '/') {
            st_ = st::raw_end;
            raw_matched_ = 0;
        } else {
            st_ = c == '<' ? st::raw_lt : st::raw;
        }
        return false;
    case st::raw_end: {
        const std::string_view name = raw_elements[raw_];
        if (raw_matched_ < name.size()) {
            if (lower(c) == name[raw_matched_]) {
                ++raw_matched_;
            } else {
                st_ = c == '<' ? st::raw_lt : st::raw;
            }
            return false;
        }
        // The whole name matched: it is the end tag if a delimiter follows.
        if (is_space(c) || c == '/' || c == '>') {
            raw_ = no_raw;
            st_ = c == '>' ? st::data : st::end_tag;
        } else {
            st_ = c == '<' ? st::raw_lt : st::raw;
        }
        return false;
    }
    }
    return false;
}

}  // namespace maintgate
