#pragma once
// One handler per admin command, each in its own file here, and the column of the command
// table that names them: handler_for(verb), which admin_server runs. The parser's table
// (admin_command.hpp) stays pure; this is the half of each row that does I/O.
#include <boost/asio/awaitable.hpp>

#include "proxy/admin/admin_command.hpp"

namespace maintgate::proxy {

struct admin_context;
struct admin_reply;

boost::asio::awaitable<admin_reply> run_help(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_status(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_set_mode(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_freeze(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_reopen(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_reopen_status(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_check(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_history(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_reload(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_spool_status(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_spool_list(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_spool_show(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_spool_replay(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_spool_drop(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_spool_requeue(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_window_plan(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_window_start(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_window_status(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_window_abort(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_window_history(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_window_report(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_hooks_list(admin_context& a, const admin::command& c);
boost::asio::awaitable<admin_reply> run_hook_now(admin_context& a, const admin::command& c);

// Runs a parsed command on the admin thread: the reply's JSON object and the renderer of
// its text form.
using command_handler = boost::asio::awaitable<admin_reply> (*)(admin_context&, const admin::command&);

// The handler of a verb; every verb has one (a static_assert and a test say so).
command_handler handler_for(admin::verb v) noexcept;

}  // namespace maintgate::proxy
