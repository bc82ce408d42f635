#pragma once
// The `window ...` commands' arguments, parsed as admin_command.cpp parses the others
// (pure, every error naming the bad word). Inside the admin command library only.
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "proxy/admin/admin_command.hpp"

namespace maintgate::admin {

// window plan|start|abort|history|report: fills cmd (text included) or returns an error.
std::string parse_window(verb v, std::span<const word> args, sys_time now, command& cmd);

namespace detail {
// admin_command.cpp's own helpers, shared with window_command.cpp.
std::string show_word(const word& w);
bool keyword(const word& w, std::string_view k) noexcept;
std::string hint_for(const word& w);
std::optional<sys_time> time_word(std::string_view t, sys_time now);
std::string quoted(std::string_view text);
std::string history_count(std::span<const word> args, command& cmd);
}  // namespace detail

}  // namespace maintgate::admin
