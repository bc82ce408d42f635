#pragma once
// One handler per admin command, each in its own file here; admin_command.cpp puts them
// in the command table's `run` column and admin_server runs the row's handler.
#include <boost/asio/awaitable.hpp>

namespace maintgate::admin {
struct command;
}

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

}  // namespace maintgate::proxy
