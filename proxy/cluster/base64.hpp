#pragma once
// Base64 (RFC 4648, the standard alphabet with '=' padding): etcd's JSON gateway carries
// every key and value this way. Pure; a few lines rather than Beast's detail namespace.
#include <optional>
#include <string>
#include <string_view>

namespace maintgate::proxy::cluster {

std::string base64_encode(std::string_view bytes);

// nullopt for anything that is not canonical padded base64 (a wrong length, a byte
// outside the alphabet, padding in the middle, non-zero bits under the padding).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace maintgate::proxy::cluster
