#pragma once
// The streaming HTML injector behind the maintenance window's banner: fed a response
// body piece by piece, it finds the first <body> start tag and puts the banner's
// fragment right after that tag's '>'. Pure (no Asio, no Beast) and bounded: it keeps a
// few bytes of tokenizer state across pieces and never a byte of the page, so a tag
// split across reads costs nothing extra and the page streams through as it came.
//
// What it skips before <body, as a browser's tokenizer would: comments (<!-- ... -->,
// also the abrupt <!--> and <!--->), the doctype and other <!...> and <?...>
// declarations, end tags, and the contents of raw-text and RCDATA elements (<script>,
// <style>, <title>, <textarea>, <xmp>, <iframe>, <noembed>, <noframes>), so a
// document.write("<body>") in a script is not taken for the tag. Inside a start tag a
// '>' in a quoted attribute value does not end the tag. Tag names compare without case.
//
// It gives up, and passes the rest through unchanged, when the page has no <body> in
// its first give_up bytes (64 KiB unless told), or when it meets <frameset> or
// <plaintext> first (no body to put a banner in).
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace maintgate {

class banner_injector {
public:
    static constexpr std::size_t default_give_up = 64 * 1024;

    // What one piece becomes, in order: before, then insert (the fragment, once, empty
    // otherwise), then after. Views into the piece fed and the fragment.
    struct pieces {
        std::string_view before;
        std::string_view insert;
        std::string_view after;
        std::size_t size() const noexcept { return before.size() + insert.size() + after.size(); }
    };

    enum class outcome : std::uint8_t { scanning, inserted, gave_up };

    banner_injector() noexcept = default;
    explicit banner_injector(std::string_view fragment, std::size_t give_up = default_give_up) noexcept {
        reset(fragment, give_up);
    }

    // Starts over for a new body; fragment must outlive the body's feeds.
    void reset(std::string_view fragment, std::size_t give_up = default_give_up) noexcept;

    // One piece of the body, as it arrived. Never allocates.
    pieces feed(std::string_view piece) noexcept;

    outcome state() const noexcept { return outcome_; }

private:
    enum class st : std::uint8_t {
        data,  // text
        tag_open,  // after '<'
        end_tag_open,  // after "</"
        tag_name,  // a start tag's name
        end_tag,  // in an end tag, until '>'
        before_attr,  // in a start tag, between attributes
        before_value,  // after '=' (and any spaces)
        value_dq,
        value_sq,
        value_unq,
        markup_open,  // after "<!"
        comment_start,  // after "<!-": a second '-' opens a comment
        comment,  // inside a comment; dashes_ counts the '-' run before '>'
        bogus,  // <!doctype ...>, <?...>, </ followed by a non-letter: until '>'
        raw,  // inside <script> and the like: looking for '<'
        raw_lt,  // raw, after '<'
        raw_end,  // raw, after "</", matching the element's name
    };

    bool step(char c) noexcept;  // true: the <body> tag ended at c
    void end_start_tag() noexcept;

    std::string_view fragment_;
    std::size_t give_up_ = default_give_up;
    std::size_t seen_ = 0;
    outcome outcome_ = outcome::scanning;
    st st_ = st::data;
    // The tag name so far, lower-case, when it may still be one we care about.
    char name_[9] = {};
    std::uint8_t name_len_ = 0;
    bool name_long_ = false;
    std::uint8_t dashes_ = 0;
    // The raw-text element we are in (an index into the table in the .cpp), and how many
    // of its name's letters an end tag has matched so far.
    std::uint8_t raw_ = 0;
    std::uint8_t raw_matched_ = 0;
};

}  // namespace maintgate
