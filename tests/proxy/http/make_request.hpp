#pragma once
// A parsed request head built from its parts, for the tests of what reads one (forward,
// request_view): what Beast's parser would have produced, without a socket.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/net.hpp"

namespace maintgate::proxy::test {

using field_list = std::vector<std::pair<std::string, std::string>>;

inline http::request_header<> make_request(std::string_view method, std::string_view target, unsigned version,
                                           const field_list& fields) {
    http::request_header<> req;
    req.method_string(method);
    req.target(target);
    req.version(version);
    for (const auto& [name, value] : fields) req.insert(name, value);
    return req;
}

}  // namespace maintgate::proxy::test
