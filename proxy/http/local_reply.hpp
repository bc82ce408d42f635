#pragma once
// Responses the proxy makes itself (errors, interim 100). They are rendered once at
// start-up, so answering a bad request costs one write and no allocation.
#include <string_view>

namespace maintgate::proxy {

// An HTTP/1.1 response for status (400, 405, 408, 413, 414, 417, 431, 500, 501, 502,
// 503, 504, 505), with Content-Length, Cache-Control: no-store and Connection: close,
// in two parts so the writer can put the Date field between them: head is the status
// line and header lines, rest the blank line and the body. An unknown status gives 500.
struct local_reply_parts {
    std::string_view head;
    std::string_view rest;
};
local_reply_parts local_reply(unsigned status) noexcept;

// "HTTP/1.1 100 Continue\r\n\r\n"
inline constexpr std::string_view continue_reply = "HTTP/1.1 100 Continue\r\n\r\n";

}  // namespace maintgate::proxy
