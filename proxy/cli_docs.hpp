#pragma once
// The man page and the bash completion, generated from the same texts and the same
// admin command table as `maintgate --help` and `maintgate ctl --help`, so none of them
// can name a command the others lack. The build writes both into the build folder and
// `cmake --install` installs them (`maintgate man`, `maintgate completion bash`).
#include <string>
#include <string_view>

namespace maintgate::proxy {

// maintgate(1) in man(7) roff. `usage` is the top-level --help text; the ctl options come
// from ctl_usage_text() and the admin commands from admin::command_table().
std::string man_page(std::string_view usage, std::string_view version);

// A bash completion script for `maintgate`: the top-level commands and options (from
// `usage`, the --help text), file names after options taking FILE or PATH, ctl's options
// (from ctl_usage_text()), and for `ctl` the admin commands' words and keywords, with the
// stage names after `to`, taken from admin::command_table().
std::string bash_completion(std::string_view usage);

}  // namespace maintgate::proxy
