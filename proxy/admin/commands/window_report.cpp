// window report: the window's timeline, the record a post-mortem starts from; text,
// JSON (--json) or Markdown (--markdown), all from the same object.
#include "proxy/admin/admin_command.hpp"
#include "proxy/admin/commands/commands.hpp"
#include "proxy/admin/commands/reply.hpp"
#include "proxy/admin/gate_control.hpp"
#include "proxy/window/window_control.hpp"
#include "proxy/window/window_report.hpp"

namespace maintgate::proxy {
namespace {

void render_window_report(std::string& out, const admin_reply& r, sys_time) {
    const auto& report = get_obj(r.body, "report");
    if (!get_bool(r.aside, "markdown")) {
        out += window::report_text(report);
        return;
    }
    // An empty line would end the reply: Markdown's blank lines go out as one space,
    // which Markdown reads as blank too.
    const auto md = window::report_markdown(report);
    std::size_t start = 0;
    while (start < md.size()) {
        auto end = md.find('\n', start);
        if (end == std::string::npos) end = md.size();
        out += end == start ? std::string(" ") : md.substr(start, end - start);
        out += '\n';
        start = end + 1;
    }
}

}  // namespace

boost::asio::awaitable<admin_reply> run_window_report(admin_context& a, const admin::command& c) {
    auto* wc = a.gate.windows();
    if (!wc) co_return error_reply("maintenance windows are not available");
    const auto* w = wc->find(c.window_id);
    if (!w) co_return error_reply("no window " + c.window_id + " ('window history' lists them)");
    admin_reply r;
    r.body["ok"] = true;
    r.body["report"] = window::report_json(*w);
    r.aside["markdown"] = c.format == admin::report_format::markdown;
    r.text = &render_window_report;
    co_return r;
}

}  // namespace maintgate::proxy
