#pragma once
#include <string_view>

namespace maintgate::proxy {

// "Date: Sun, 22 Nov 2026 02:30:00 GMT\r\n" for now. RFC 9110 wants Date on the replies
// a server makes itself; each thread formats it at most once a second.
std::string_view date_field() noexcept;

}  // namespace maintgate::proxy
