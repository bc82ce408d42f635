// help: the command list generated from the command table.
#include "proxy/admin/admin_command.hpp"
#include "proxy/admin/commands/commands.hpp"
#include "proxy/admin/commands/reply.hpp"

namespace maintgate::proxy {
namespace {

void render_help(std::string& out, const admin_reply& r, sys_time) { out += get_str(r.body, "help"); }

}  // namespace

boost::asio::awaitable<admin_reply> run_help(admin_context&, const admin::command&) {
    admin_reply r;
    r.body["ok"] = true;
    r.body["help"] = admin::help_text();
    r.text = &render_help;
    co_return r;
}

}  // namespace maintgate::proxy
