// window plan: a maintenance window, planned (or planned again before it starts).
#include <algorithm>

#include "proxy/admin/admin_command.hpp"
#include "proxy/admin/commands/commands.hpp"
#include "proxy/admin/commands/reply.hpp"
#include "proxy/admin/gate_control.hpp"
#include "proxy/window/window_control.hpp"
#include "proxy/window/window_report.hpp"

namespace maintgate::proxy {
namespace {

void render_window_plan(std::string& out, const admin_reply& r, sys_time) {
    const auto& w = get_obj(r.body, "window");
    out += "planned " + window::summary_line(w) + "\n";
    if (is_null(w, "starts"))
        out += "starts by hand: window start " + std::string(get_str(w, "id")) + "\n";
    else
        out += "starts by itself at " + std::string(get_str(w, "starts")) + "\n";
    out += "announced from " +
           (is_null(w, "announce_from") ? std::string("now") : std::string(get_str(w, "announce_from"))) + "\n";
    std::string hooks;
    for (const auto& [point, names] : get_obj(r.body, "hooks")) {
        std::string list;
        for (const auto& n : names.as_array()) list += (list.empty() ? "" : ", ") + std::string(n.as_string());
        if (!list.empty()) hooks += (hooks.empty() ? "" : "; ") + std::string(point) + " " + list;
    }
    if (!hooks.empty()) out += "hooks: " + hooks + "\n";
}

}  // namespace

boost::asio::awaitable<admin_reply> run_window_plan(admin_context& a, const admin::command& c) {
    auto* wc = a.gate.windows();
    if (!wc) co_return error_reply("maintenance windows are not available");
    window::plan p;
    p.id = c.window_id;
    p.starts = c.window_starts;
    p.ends = *c.window_ends;
    p.announce_from = c.window_announce;
    p.mode = c.mode;
    p.reason = c.reason;
    p.source = "ctl";
    // Hooks named here must be [[hook]]s of the running config, as a [[window]]'s are.
    std::string missing;
    for (const auto& [point, name] : c.window_hooks) {
        const auto& hooks = a.gate.cfg().hooks;
        if (std::none_of(hooks.begin(), hooks.end(), [&](const auto& h) { return h.name == name; }))
            missing += (missing.empty() ? "" : ", ") + name + " (" + point + ")";
        else
            p.hooks[std::size_t(*window::parse_hook_point(point))].push_back(name);
    }
    if (!missing.empty()) {
        std::string names;
        for (const auto& h : a.gate.cfg().hooks) names += (names.empty() ? "" : ", ") + h.name;
        co_return error_reply("window plan: no [[hook]] is named " + missing +
                              (names.empty() ? "; none is configured" : "; configured: " + names));
    }
    // A window planned again keeps its messages (only the config can say them), and its
    // hooks unless this plan names some.
    if (const auto* old = wc->find(p.id)) {
        p.messages = old->p.messages;
        if (c.window_hooks.empty()) p.hooks = old->p.hooks;
    }
    auto res = wc->plan_window(std::move(p), a.who, c.text);
    if (!res.ok) co_return error_reply(res.error);
    admin_reply r;
    r.body["ok"] = true;
    const auto* planned = wc->find(res.id);
    r.body["window"] = window::summary_json(*planned);
    boost::json::object hooks;  // by point, in the report's shape
    for (std::size_t i = 0; i < window::hook_point_count; ++i) {
        boost::json::array names;
        for (const auto& n : planned->p.hooks[i]) names.emplace_back(boost::json::string(n));
        hooks[window::to_string(window::hook_point(i))] = std::move(names);
    }
    r.body["hooks"] = std::move(hooks);
    r.text = &render_window_plan;
    co_return r;
}

}  // namespace maintgate::proxy
