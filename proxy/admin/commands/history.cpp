// history: the audit log's tail, as text lines and as the JSON entries themselves.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "proxy/admin/admin_command.hpp"
#include "proxy/admin/audit.hpp"
#include "proxy/admin/commands/commands.hpp"
#include "proxy/admin/commands/reply.hpp"
#include "proxy/admin/gate_control.hpp"

namespace maintgate::proxy {
namespace {

namespace js = boost::json;

void render_history(std::string& out, const admin_reply& r, sys_time) {
    const auto& entries = get_array(r.body, "entries");
    for (const auto& e : entries)
        out += format_audit_human(e.is_string() ? std::string_view(e.get_string())
                                                : std::string_view(js::serialize(e))) +
               "\n";
    if (entries.empty()) out = "no entries yet\n";
    if (auto err = get_str(r.aside, "stopped_early"); !err.empty())
        out += "(stopped early: " + std::string(err) + ")\n";
}

}  // namespace

boost::asio::awaitable<admin_reply> run_history(admin_context& a, const admin::command& c) {
    auto tail = a.gate.history(c.count);
    if (!tail.error.empty() && tail.lines.empty()) co_return error_reply(tail.error);
    // The audit lines are JSON objects already: each goes in as the value it holds. A
    // line that does not parse (a hand edit) goes in as a string, so the reply stays JSON.
    js::array entries;
    entries.reserve(tail.lines.size());
    for (const auto& line : tail.lines) {
        boost::system::error_code ec;
        js::value v = js::parse(line, ec);
        if (ec)
            entries.emplace_back(js::string(line));
        else
            entries.emplace_back(std::move(v));
    }
    admin_reply r;
    r.body["ok"] = true;
    r.body["entries"] = std::move(entries);
    if (!tail.error.empty()) r.aside["stopped_early"] = tail.error;
    r.text = &render_history;
    co_return r;
}

}  // namespace maintgate::proxy
