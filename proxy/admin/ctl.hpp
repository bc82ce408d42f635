#pragma once
// `maintgate ctl`: the admin socket's client. Joins its words into one command line
// (admin::join_command), sends it, reads one reply per the protocol in admin_command.hpp
// and turns it into an exit status a script can test.
#include <span>
#include <string>
#include <string_view>

namespace maintgate::proxy {

// Exit statuses of `maintgate ctl`.
enum ctl_status : int {
    ctl_ok = 0,  // the command succeeded
    ctl_refused = 1,  // the reply is an error or a refusal ("error: ..." or "ok": false)
    ctl_usage = 2,  // bad arguments, or no socket path to be found
    ctl_no_connect = 3,  // the socket could not be connected to
    ctl_broken = 4,  // the connection dropped before the whole reply, or --timeout passed
};

// The usage text of `maintgate ctl` (options and exit statuses, not the command list).
std::string_view ctl_usage_text() noexcept;

// Runs `maintgate ctl ARGS...`. args are the words after "ctl"; config_path is a -c FILE
// given before "ctl" (empty if none). The reply goes to stdout (a text error reply and
// ctl's own messages to stderr). Returns a ctl_status. Never throws (beyond bad_alloc).
int run_ctl(std::span<const std::string_view> args, const std::string& config_path);

}  // namespace maintgate::proxy
