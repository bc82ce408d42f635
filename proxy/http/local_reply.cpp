#include "proxy/http/local_reply.hpp"

#include <array>
#include <string>

namespace maintgate::proxy {
namespace {

struct status_text {
    unsigned status;
    std::string_view reason;
    std::string_view extra;  // additional header lines, each ending in CRLF
};

constexpr std::array<status_text, 13> statuses{{
    {400, "Bad Request", ""},
    {405, "Method Not Allowed", "Allow: GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE\r\n"},
    {408, "Request Timeout", ""},
    {413, "Content Too Large", ""},
    {414, "URI Too Long", ""},
    {417, "Expectation Failed", ""},
    {431, "Request Header Fields Too Large", ""},
    {500, "Internal Server Error", ""},
    {501, "Not Implemented", ""},
    {502, "Bad Gateway", ""},
    {503, "Service Unavailable", ""},
    {504, "Gateway Timeout", ""},
    {505, "HTTP Version Not Supported", ""},
}};

std::string render(const status_text& s) {
    std::string body = std::to_string(s.status) + " " + std::string(s.reason) + "\n";
    std::string out = "HTTP/1.1 " + std::to_string(s.status) + " " + std::string(s.reason) + "\r\n";
    out += "Content-Type: text/plain; charset=utf-8\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    out += "Cache-Control: no-store\r\n";
    out += s.extra;
    out += "Connection: close\r\n\r\n";
    out += body;
    return out;  // split before the blank line by local_reply()
}

struct rendered_table {
    std::array<std::string, statuses.size()> replies;
    rendered_table() {
        for (std::size_t i = 0; i < statuses.size(); ++i) replies[i] = render(statuses[i]);
    }
};

const rendered_table& table() {
    static const rendered_table t;  // built once; thread-safe initialisation
    return t;
}

}  // namespace

local_reply_parts local_reply(unsigned status) noexcept {
    const auto& t = table();
    std::size_t index = 0;
    for (std::size_t i = 0; i < statuses.size(); ++i) {
        if (statuses[i].status == status) {
            index = i;
            break;
        }
        if (statuses[i].status == 500) index = i;
    }
    std::string_view whole = t.replies[index];
    std::size_t blank = whole.find("\r\n\r\n") + 2;  // keep the last header's CRLF in head
    return {whole.substr(0, blank), whole.substr(blank)};
}

}  // namespace maintgate::proxy
