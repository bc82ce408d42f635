// spool status|list|show|replay|drop|requeue: the webhook spool from the admin socket.
// drop, requeue and replay change what gets delivered, so each writes an audit line
// (actor, command, outcome) like the gate's own changes.
#include <chrono>

#include "proxy/admin/admin_command.hpp"
#include "proxy/admin/commands/commands.hpp"
#include "proxy/admin/commands/reply.hpp"
#include "proxy/admin/gate_control.hpp"
#include "proxy/spool/spool.hpp"

namespace maintgate::proxy {
namespace {

namespace js = boost::json;

sys_time from_ms(std::int64_t ms) { return sys_time{std::chrono::milliseconds(ms)}; }

js::object event_object(const spool::event_info& i) {
    const auto& e = i.e;
    js::object o;
    o["id"] = std::to_string(e.id);
    o["state"] = spool::to_string(e.st);
    o["arrival"] = iso_or_null(from_ms(e.arrival_ms));
    o["method"] = e.method;
    o["target"] = e.target;
    o["delivery_id"] = e.delivery_id;
    o["order_key"] = e.order_key;
    o["bytes"] = e.bytes;
    o["attempts"] = e.attempts;
    o["last_status"] = e.last_status;
    o["last_detail"] = e.last_detail;
    o["in_flight"] = i.in_flight;
    o["next_try"] = i.next_try_ms ? iso_or_null(from_ms(i.next_try_ms)) : js::value(nullptr);
    return o;
}

std::string event_line(const js::object& o) {
    std::string line = std::string(get_str(o, "id")) + "  " + std::string(get_str(o, "state")) + "  " +
                       std::string(get_str(o, "method")) + " " + one_line(get_str(o, "target"));
    if (auto d = get_str(o, "delivery_id"); !d.empty()) line += "  delivery " + one_line(d);
    if (auto k = get_str(o, "order_key"); !k.empty()) line += "  key " + one_line(k);
    if (auto n = get_uint(o, "attempts")) line += "  attempts " + std::to_string(n);
    if (auto d = get_str(o, "last_detail"); !d.empty()) line += "  (" + one_line(d) + ")";
    if (get_bool(o, "in_flight")) line += "  in flight";
    return line + "\n";
}

// The spool or a reply saying there is none.
spool::spool* the_spool(admin_context& a) { return a.gate.spool(); }
admin_reply no_spool() { return error_reply("no webhook spool configured ([spool] dir)"); }

void render_status(std::string& out, const admin_reply& r, sys_time) {
    const auto& o = r.body;
    out += "spool " + std::string(get_str(o, "dir")) + ": " + std::to_string(get_uint(o, "pending")) +
           " pending, " + std::to_string(get_uint(o, "dead")) + " dead-lettered, " +
           std::to_string(get_uint(o, "bytes")) + " bytes in " + std::to_string(get_uint(o, "segments")) +
           " segment(s)\n";
    out += std::string(get_bool(o, "replaying") ? "replaying" : "not replaying (webhooks are held by the gate)") +
           ", " + std::to_string(get_uint(o, "in_flight")) + " in flight\n";
    out += "accepted " + std::to_string(get_uint(o, "accepted")) + ", duplicates " +
           std::to_string(get_uint(o, "duplicates")) + ", delivered " + std::to_string(get_uint(o, "delivered")) +
           ", retried " + std::to_string(get_uint(o, "retried")) + ", dead-lettered " +
           std::to_string(get_uint(o, "dead_lettered")) + "\n";
    if (get_bool(o, "quota_alert")) out += "ALERT: a quota refused webhooks in the last 60 s (503)\n";
}

void render_list(std::string& out, const admin_reply& r, sys_time) {
    const auto& events = get_array(r.body, "events");
    for (const auto& e : events) out += event_line(e.as_object());
    if (events.empty()) out = r.aside.contains("dry_run") ? "nothing to deliver\n" : "the spool is empty\n";
}

void render_show(std::string& out, const admin_reply& r, sys_time) {
    const auto& o = get_obj(r.body, "event");
    out += event_line(o);
    out += "arrived " + std::string(get_str(o, "arrival")) + "\n";
    for (const auto& h : get_array(o, "headers")) {
        const auto& pair = h.as_array();
        out += "  " + one_line(pair[0].as_string()) + ": " + one_line(pair[1].as_string()) + "\n";
    }
    out += "body: " + std::to_string(get_uint(o, "body_bytes")) + " bytes\n";
}

void render_done(std::string& out, const admin_reply& r, sys_time) { out += std::string(get_str(r.body, "done")) + "\n"; }

}  // namespace

boost::asio::awaitable<admin_reply> run_spool_status(admin_context& a, const admin::command&) {
    auto* sp = the_spool(a);
    if (!sp) co_return no_spool();
    const auto s = sp->status();
    const auto& c = sp->counters();
    admin_reply r;
    auto& o = r.body;
    o["ok"] = true;
    o["dir"] = s.dir;
    o["pending"] = s.counts.pending;
    o["dead"] = s.counts.dead;
    o["bytes"] = s.counts.stored_bytes;
    o["segments"] = s.counts.segments;
    o["oldest_pending"] = s.counts.oldest_pending_ms ? iso_or_null(from_ms(s.counts.oldest_pending_ms))
                                                     : js::value(nullptr);
    o["replaying"] = s.replaying;
    o["in_flight"] = s.in_flight;
    o["quota_alert"] = s.quota_alert;
    o["accepted"] = c.accepted.load();
    o["duplicates"] = c.duplicates.load();
    o["delivered"] = c.delivered.load();
    o["retried"] = c.retried.load();
    o["dead_lettered"] = c.dead_lettered.load();
    js::object rejected;
    for (std::size_t i = 0; i < spool::reject_reason_count; ++i)
        rejected[spool::to_string(static_cast<spool::reject_reason>(i))] = c.rejected[i].load();
    o["rejected"] = std::move(rejected);
    o["torn_bytes_at_start"] = s.torn_bytes;
    r.text = &render_status;
    co_return r;
}

boost::asio::awaitable<admin_reply> run_spool_list(admin_context& a, const admin::command& c) {
    auto* sp = the_spool(a);
    if (!sp) co_return no_spool();
    js::array events;
    for (const auto& i : sp->list(c.count)) events.emplace_back(event_object(i));
    admin_reply r;
    r.body["ok"] = true;
    r.body["events"] = std::move(events);
    r.text = &render_list;
    co_return r;
}

boost::asio::awaitable<admin_reply> run_spool_show(admin_context& a, const admin::command& c) {
    auto* sp = the_spool(a);
    if (!sp) co_return no_spool();
    const auto i = sp->info(c.id);
    if (!i) co_return error_reply("no spooled event " + std::to_string(c.id));
    js::object o = event_object(*i);
    js::array headers;
    std::size_t body_bytes = 0;
    if (auto e = sp->load(c.id)) {
        for (const auto& [n, v] : e->headers) headers.emplace_back(js::array{js::string(n), js::string(v)});
        body_bytes = e->body.size();
    }
    o["headers"] = std::move(headers);
    o["body_bytes"] = body_bytes;
    admin_reply r;
    r.body["ok"] = true;
    r.body["event"] = std::move(o);
    r.text = &render_show;
    co_return r;
}

boost::asio::awaitable<admin_reply> run_spool_replay(admin_context& a, const admin::command& c) {
    auto* sp = the_spool(a);
    if (!sp) co_return no_spool();
    if (c.dry_run) {
        js::array events;
        for (const auto& i : sp->next_deliveries(admin::max_history)) events.emplace_back(event_object(i));
        admin_reply r;
        r.body["ok"] = true;
        r.body["dry_run"] = true;
        r.body["replaying"] = spool::spool::webhooks_pass(a.gate.record());
        r.body["events"] = std::move(events);
        r.aside["dry_run"] = true;
        r.text = &render_list;
        co_return r;
    }
    if (!spool::spool::webhooks_pass(a.gate.record())) {
        a.gate.audit_action(a.who, c.text, "refused", "webhooks are held by the gate");
        co_return error_reply("webhooks are held by the gate (stage " +
                              std::string(policy::to_string(a.gate.record().stage)) +
                              "); replay starts at the open stage");
    }
    sp->replay_now();
    a.gate.audit_action(a.who, c.text, "ok", "");
    admin_reply r;
    r.body["ok"] = true;
    r.body["done"] = "every pending event is due now";
    r.text = &render_done;
    co_return r;
}

namespace {

boost::asio::awaitable<admin_reply> change(admin_context& a, const admin::command& c, spool::mark_kind kind,
                                           std::string_view done) {
    auto* sp = the_spool(a);
    if (!sp) co_return no_spool();
    spool::mark m{kind, c.id, 0, a.who.name};
    const std::string err = co_await sp->async_mark(std::move(m), boost::asio::use_awaitable);
    if (!err.empty()) {
        const std::string why = sp->info(c.id) ? "event " + std::to_string(c.id) + " is " +
                                                     std::string(spool::to_string(sp->info(c.id)->e.st)) + ": " + err
                                               : "no spooled event " + std::to_string(c.id);
        a.gate.audit_action(a.who, c.text, "refused", why);
        co_return error_reply(why);
    }
    a.gate.audit_action(a.who, c.text, "ok", "");
    admin_reply r;
    r.body["ok"] = true;
    r.body["id"] = std::to_string(c.id);
    r.body["done"] = "event " + std::to_string(c.id) + " " + std::string(done);
    r.text = &render_done;
    co_return r;
}

}  // namespace

boost::asio::awaitable<admin_reply> run_spool_drop(admin_context& a, const admin::command& c) {
    co_return co_await change(a, c, spool::mark_kind::dropped, "dropped: it will not be delivered");
}

boost::asio::awaitable<admin_reply> run_spool_requeue(admin_context& a, const admin::command& c) {
    co_return co_await change(a, c, spool::mark_kind::requeued, "requeued");
}

}  // namespace maintgate::proxy
