#pragma once
// Text helpers for the loader's messages, and the HTTP syntax checks several sections share.
#include <cstddef>
#include <string>
#include <string_view>

#include <toml++/toml.h>

namespace maintgate::config_detail {

// A value echoed inside double quotes, escaped and capped.
std::string quote(std::string_view text);
// "integer 5", "string \"5s\"".
std::string describe(const toml::node& node);
// Optimal string alignment distance.
std::size_t edit_distance(std::string_view a, std::string_view b);
// "parent.key", or "key" at the root.
std::string path_join(std::string_view parent, std::string_view key);

bool has_nul(std::string_view text);
// An HTTP token (RFC 9110): a method or a header name.
bool is_token(std::string_view text);
// CR, LF, NUL and the other control bytes but tab.
bool has_control(std::string_view text);
bool is_visible_ascii(std::string_view text);

}  // namespace maintgate::config_detail
