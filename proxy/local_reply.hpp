#pragma once
// Responses the proxy makes itself (errors, interim 100). They are rendered once at
// start-up, so answering a bad request costs one write and no allocation.
#include <string_view>

namespace maintgate::proxy {

// A complete HTTP/1.1 response for status (400, 405, 408, 413, 414, 417, 431, 500,
// 501, 502, 503, 504, 505), with Content-Length, Cache-Control: no-store and
// Connection: close. An unknown status gives the 500 reply.
std::string_view local_reply(unsigned status) noexcept;

// "HTTP/1.1 100 Continue\r\n\r\n"
inline constexpr std::string_view continue_reply = "HTTP/1.1 100 Continue\r\n\r\n";

}  // namespace maintgate::proxy
