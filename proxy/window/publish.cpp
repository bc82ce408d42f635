#include "proxy/window/publish.hpp"

#include <algorithm>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "proxy/admin/json.hpp"

namespace maintgate::window {
namespace {

namespace js = boost::json;

js::value iso(std::optional<sys_time> t) { return t ? js::value(format_iso8601(*t)) : js::value(nullptr); }

// The hosted status page's words: scheduled, in_progress, verifying, completed.
std::string_view feed_status(phase p) noexcept {
    switch (p) {
    case phase::planned:
    case phase::announced: return "scheduled";
    case phase::freezing:
    case phase::active:
    case phase::reopening: return "in_progress";
    case phase::verifying: return "verifying";
    case phase::completed:
    case phase::aborted: return "completed";
    }
    return "scheduled";
}

// The notice's words (window_notice.hpp): announced before the start, then active, then
// verifying.
std::string_view notice_phase(phase p) noexcept {
    if (p == phase::verifying) return "verifying";
    if (in_progress(p)) return "active";
    return "announced";
}

std::optional<sys_time> scheduled_for(const window& w) { return w.p.starts ? w.p.starts : w.started_at; }

bool announced_now(const window& w, sys_time now) {
    if (w.ph == phase::announced) return true;
    return w.ph == phase::planned && (!w.p.announce_from || *w.p.announce_from <= now);
}

// Completed windows stay in the feeds this long, so status pages show the last ones.
constexpr auto feed_history = std::chrono::hours(24 * 7);

bool in_feed(const window& w, sys_time now) {
    if (w.ph == phase::aborted) return false;  // a cancelled maintenance is removed from status pages
    if (w.ph == phase::completed) return w.ended_at && *w.ended_at + feed_history > now;
    return true;
}

rendered_reply reply_200(std::string_view content_type, std::string body) {
    rendered_reply r;
    r.head = "HTTP/1.1 200 OK\r\nContent-Type: ";
    r.head += content_type;
    r.head += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    // Status pages poll it; a minute of caching keeps a busy one from costing anything,
    // and it holds nothing secret.
    r.head += "Cache-Control: public, max-age=30\r\nAccess-Control-Allow-Origin: *\r\n";
    r.body = std::move(body);
    return r;
}

std::string ics_time(sys_time t) {
    auto s = format_iso8601(t);  // 2026-11-22T03:00:00Z -> 20261122T030000Z
    std::string out;
    for (char c : s)
        if (c != '-' && c != ':') out += c;
    return out;
}

void ics_line(std::string& out, std::string_view line) {
    out += ics_fold(line);
    out += "\r\n";
}

}  // namespace

std::string ics_escape(std::string_view text) {
    std::string out;
    for (char c : text) {
        switch (c) {
        case '\\': out += "\\\\"; break;
        case ';': out += "\\;"; break;
        case ',': out += "\\,"; break;
        case '\n': out += "\\n"; break;
        case '\r': break;
        default:
            if (static_cast<unsigned char>(c) < 0x20 && c != '\t') break;  // no control bytes in text
            out += c;
        }
    }
    return out;
}

std::string ics_fold(std::string_view line) {
    // RFC 5545 3.1: lines SHOULD NOT be longer than 75 octets; a continuation starts
    // with one space, which counts towards its 75.
    std::string out;
    std::size_t width = 0, limit = 75;
    for (std::size_t i = 0; i < line.size();) {
        std::size_t len = 1;
        const auto b = static_cast<unsigned char>(line[i]);
        if (b >= 0xf0) len = 4;
        else if (b >= 0xe0) len = 3;
        else if (b >= 0xc0) len = 2;
        len = std::min(len, line.size() - i);
        if (width + len > limit) {
            out += "\r\n ";
            width = 1;
        }
        out.append(line.substr(i, len));
        width += len;
        i += len;
    }
    return out;
}

std::int64_t jitter_seconds(std::int64_t retry, std::size_t k, std::size_t variants) noexcept {
    const std::int64_t spread = std::min<std::int64_t>(60, retry / 10);
    if (spread < 1 || variants < 2) return 0;
    return (spread * static_cast<std::int64_t>(k) + static_cast<std::int64_t>(variants - 1) / 2) /
           static_cast<std::int64_t>(variants - 1);
}

std::string feed_json(const std::vector<window>& windows, sys_time now) {
    js::array list;
    for (const auto& w : windows) {
        if (!in_feed(w, now)) continue;
        js::array updates;
        // Newest first, as status pages list them: one update per phase reached.
        for (auto it = w.timeline.rbegin(); it != w.timeline.rend(); ++it) {
            if (!it->what.starts_with("phase ")) continue;
            auto ph = parse_phase(std::string_view(it->what).substr(6));
            if (!ph) continue;
            auto msg = w.p.messages.find(std::string(to_string(*ph)));
            updates.emplace_back(js::object{
                {"status", feed_status(*ph)},
                {"body", msg != w.p.messages.end() ? msg->second : w.p.reason},
                {"created_at", format_iso8601(it->at)},
            });
        }
        list.emplace_back(js::object{
            {"id", w.p.id},
            {"name", w.p.reason.empty() ? "Scheduled maintenance" : w.p.reason},
            {"status", feed_status(w.ph)},
            {"impact", w.p.mode == policy::mode::maintenance ? "major" : "minor"},
            {"created_at", format_iso8601(w.planned_at)},
            {"updated_at", format_iso8601(w.updated_at)},
            {"started_at", iso(w.started_at)},
            {"resolved_at", iso(w.ph == phase::completed ? w.ended_at : std::nullopt)},
            {"scheduled_for", iso(scheduled_for(w))},
            {"scheduled_until", format_iso8601(w.p.ends)},
            {"message", w.message()},
            {"maintgate_phase", to_string(w.ph)},
            {"maintgate_mode", policy::to_string(w.p.mode)},
            {"incident_updates", std::move(updates)},
        });
    }
    return js::serialize(js::object{{"page", js::object{{"updated_at", format_iso8601(now)}}},
                                    {"scheduled_maintenances", std::move(list)}}) +
           "\n";
}

std::string feed_ics(const std::vector<window>& windows, sys_time now) {
    std::string out;
    ics_line(out, "BEGIN:VCALENDAR");
    ics_line(out, "VERSION:2.0");
    ics_line(out, "PRODID:-//maintgate//maintenance windows//EN");
    ics_line(out, "CALSCALE:GREGORIAN");
    ics_line(out, "METHOD:PUBLISH");
    ics_line(out, "X-WR-CALNAME:Maintenance windows");
    for (const auto& w : windows) {
        // Upcoming and under way; a calendar entry needs a start.
        if (finished(w.ph)) continue;
        const auto start = scheduled_for(w);
        if (!start) continue;
        ics_line(out, "BEGIN:VEVENT");
        ics_line(out, "UID:" + ics_escape(w.p.id) + "@maintgate");
        ics_line(out, "DTSTAMP:" + ics_time(w.updated_at));
        ics_line(out, "DTSTART:" + ics_time(*start));
        ics_line(out, "DTEND:" + ics_time(std::max(w.p.ends, *start + std::chrono::seconds(1))));
        ics_line(out, "SUMMARY:" + ics_escape(w.p.reason.empty() ? "Scheduled maintenance" : w.p.reason));
        ics_line(out, "DESCRIPTION:" + ics_escape(w.message()));
        ics_line(out, "STATUS:CONFIRMED");
        ics_line(out, "TRANSP:OPAQUE");
        ics_line(out, "LAST-MODIFIED:" + ics_time(w.updated_at));
        ics_line(out, "END:VEVENT");
    }
    ics_line(out, "END:VCALENDAR");
    (void)now;
    return out;
}

publication make_publication(const std::vector<window>& windows, sys_time now) {
    publication p;
    auto feeds = std::make_shared<window_feeds>();
    feeds->json = reply_200("application/json", feed_json(windows, now));
    feeds->ics = reply_200("text/calendar; charset=utf-8", feed_ics(windows, now));
    p.feeds = std::move(feeds);

    const window* shown = nullptr;
    for (const auto& w : windows)
        if (in_progress(w.ph)) shown = &w;
    if (!shown) {
        for (const auto& w : windows) {
            if (!announced_now(w, now)) continue;
            auto s = scheduled_for(w);
            auto best = shown ? scheduled_for(*shown) : std::nullopt;
            if (!shown || (s && (!best || *s < *best))) shown = &w;
        }
    }
    if (!shown) return p;
    auto n = std::make_shared<window_notice>();
    n->id = shown->p.id;
    n->phase = notice_phase(shown->ph);
    n->announce_from = shown->p.announce_from.value_or(shown->planned_at);
    n->starts = scheduled_for(*shown);
    n->ends = shown->p.ends;
    n->message = shown->message();
    p.jitter = in_progress(shown->ph) && shown->ph != phase::verifying;
    p.status_field = js::serialize(js::object{
        {"id", n->id},
        {"phase", n->phase},  // the notice's words: announced, active, verifying
        {"announce_from", format_iso8601(n->announce_from)},
        {"starts", iso(scheduled_for(*shown))},
        {"ends", format_iso8601(n->ends)},
        {"message", n->message},
    });
    p.notice = std::move(n);
    return p;
}

void decorate(gate_snapshot& s, const publication& p, std::int64_t retry) {
    s.notice = p.notice;
    s.feeds = p.feeds;
    // The status body is one JSON object and a newline: the window goes in as its last field.
    auto& st = s.status;
    if (st.body.size() >= 2 && st.body.ends_with("}\n")) {
        const auto old_length = "Content-Length: " + std::to_string(st.body.size()) + "\r\n";
        st.body.resize(st.body.size() - 2);
        st.body += ",\"window\":" + p.status_field + "}\n";
        if (auto at = st.head.find(old_length); at != std::string::npos)
            st.head.replace(at, old_length.size(), "Content-Length: " + std::to_string(st.body.size()) + "\r\n");
    }
    if (!p.jitter || jitter_seconds(retry, jitter_variants - 1, jitter_variants) == 0) return;
    const std::string field = "Retry-After: " + std::to_string(retry) + "\r\n";
    auto spread = [&](rendered_reply& r) {
        const auto at = r.head.find(field);
        if (at == std::string::npos) return;
        r.jittered_heads.reserve(jitter_variants);
        for (std::size_t k = 0; k < jitter_variants; ++k) {
            std::string h = r.head;
            h.replace(at, field.size(),
                      "Retry-After: " + std::to_string(retry + jitter_seconds(retry, k, jitter_variants)) + "\r\n");
            r.jittered_heads.push_back(std::move(h));
        }
    };
    for (auto& r : s.refusal) spread(r);
    for (auto& r : s.page) spread(r);
}

}  // namespace maintgate::window
