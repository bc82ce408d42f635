#include "proxy/admin/commands/commands.hpp"

#include <array>
#include <cstddef>

namespace maintgate::proxy {

namespace {

using admin::verb;

// Indexed by verb, in the enum's order: the row of the command table that does I/O.
constexpr std::array<command_handler, admin::verb_count> handlers = [] {
    std::array<command_handler, admin::verb_count> h{};
    h[std::size_t(verb::help)] = &run_help;
    h[std::size_t(verb::status)] = &run_status;
    h[std::size_t(verb::set_mode)] = &run_set_mode;
    h[std::size_t(verb::freeze)] = &run_freeze;
    h[std::size_t(verb::reopen)] = &run_reopen;
    h[std::size_t(verb::reopen_status)] = &run_reopen_status;
    h[std::size_t(verb::check)] = &run_check;
    h[std::size_t(verb::history)] = &run_history;
    h[std::size_t(verb::reload)] = &run_reload;
    h[std::size_t(verb::spool_status)] = &run_spool_status;
    h[std::size_t(verb::spool_list)] = &run_spool_list;
    h[std::size_t(verb::spool_show)] = &run_spool_show;
    h[std::size_t(verb::spool_replay)] = &run_spool_replay;
    h[std::size_t(verb::spool_drop)] = &run_spool_drop;
    h[std::size_t(verb::spool_requeue)] = &run_spool_requeue;
    h[std::size_t(verb::window_plan)] = &run_window_plan;
    h[std::size_t(verb::window_start)] = &run_window_start;
    h[std::size_t(verb::window_status)] = &run_window_status;
    h[std::size_t(verb::window_abort)] = &run_window_abort;
    h[std::size_t(verb::window_history)] = &run_window_history;
    h[std::size_t(verb::window_report)] = &run_window_report;
    h[std::size_t(verb::hooks)] = &run_hooks_list;
    h[std::size_t(verb::hook_run)] = &run_hook_now;
    return h;
}();

// Every verb has one: reply_test.cpp checks each row of the command table. (Not a
// static_assert: under -fsanitize=address GCC does not fold a function's address to
// non-null at compile time.)

}  // namespace

command_handler handler_for(admin::verb v) noexcept { return handlers[std::size_t(v)]; }

}  // namespace maintgate::proxy
