#include "proxy/admin/gate_state.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include <boost/json/value.hpp>

#include "proxy/admin/json.hpp"
#include "proxy/http/pages.hpp"

namespace maintgate {
namespace {

constexpr std::array<std::string_view, 3> content_types = {"text/html; charset=utf-8", "application/json",
                                                           "text/plain; charset=utf-8"};

rendered_reply make_reply(std::string_view status_line, std::string_view content_type, std::string body,
                          std::int64_t retry_after, const gate_record& record, bool vary_accept) {
    rendered_reply r;
    r.head.reserve(256);
    r.head += status_line;
    r.head += "\r\nContent-Type: ";
    r.head += content_type;
    r.head += "\r\nContent-Length: ";
    r.head += std::to_string(body.size());
    r.head += "\r\n";
    if (retry_after > 0) {
        r.head += "Retry-After: ";
        r.head += std::to_string(retry_after);
        r.head += "\r\n";
    }
    // A refusal must never be cached: the gate opens again and the cache would not know.
    r.head += "Cache-Control: no-store\r\n";
    if (vary_accept) r.head += "Vary: Accept\r\n";
    if (record.mode != policy::mode::open) {
        r.head += "X-Maintgate-Mode: ";
        r.head += policy::to_string(record.mode);
        r.head += "\r\n";
    }
    r.body = std::move(body);
    return r;
}

std::string text_body(std::string_view headline, const gate_record& record, std::int64_t retry_after) {
    std::string s(headline);
    if (!record.reason.empty()) {
        s += " Reason: ";
        s += record.reason;
        s += '.';
    }
    if (record.until) {
        s += " Expected back: ";
        s += format_human(*record.until);
        s += '.';
    }
    s += " Retry after ";
    s += std::to_string(retry_after);
    s += " seconds.\n";
    return s;
}

}  // namespace

std::int64_t retry_after_seconds(const gate_record& record, const gate_settings& settings, sys_time now) {
    using namespace std::chrono;
    if (record.until && *record.until > now)
        return std::max<std::int64_t>(
            1, duration_cast<seconds>(*record.until - now + seconds(1) - milliseconds(1)).count());
    return std::max<std::int64_t>(1, duration_cast<seconds>(settings.retry_after).count());
}

std::string status_json(const gate_record& record, std::int64_t retry_after) {
    boost::json::value until = nullptr;
    if (record.until) until = format_iso8601(*record.until);
    return json::serialize_line({{"mode", policy::to_string(record.mode)},
                                 {"reason", record.reason},
                                 {"since", format_iso8601(record.since)},
                                 {"until", std::move(until)},
                                 {"retry_after", retry_after}});
}

std::shared_ptr<const gate_snapshot> render_snapshot(const gate_record& record, const gate_settings& settings,
                                                     sys_time now) {
    auto snap = std::make_shared<gate_snapshot>();
    snap->record = record;
    std::int64_t retry = retry_after_seconds(record, settings, now);
    // The page reloads itself around the expected end, but neither hammers the app nor
    // leaves a user staring at a stale page for long.
    std::int64_t refresh = std::clamp<std::int64_t>(retry, 5, 300);
    std::string until_human = record.until ? format_human(*record.until) : std::string{};
    std::string until_iso = record.until ? format_iso8601(*record.until) : std::string{};
    std::string until_in = !record.until         ? std::string{}
                           : *record.until > now ? until_in_words(retry)
                                                 : std::string("any moment now");

    auto json_body = [&](std::string_view mode) {
        boost::json::value until = nullptr;
        if (record.until) until = until_iso;
        return json::serialize_line({{"mode", mode},
                                     {"reason", record.reason},
                                     {"retry_after", retry},
                                     {"until", std::move(until)}}) +
               "\n";
    };
    auto html = [&](const std::string& tpl, std::string_view mode) {
        page_values v{mode,  record.reason, until_human, until_iso,
                      retry, refresh,       until_in,    settings.policy.status_path};
        return render_template(tpl, v);
    };

    constexpr std::string_view unavailable = "HTTP/1.1 503 Service Unavailable";
    // In maintenance mode a refused webhook is answered like the page; the body says
    // which mode it is either way.
    bool maint = record.mode == policy::mode::maintenance;
    std::string_view refusal_mode = maint ? "maintenance" : "read-only";
    snap->refusal[0] = make_reply(
        unavailable, content_types[0],
        html(maint ? settings.maintenance_page : settings.read_only_page, refusal_mode), retry, record, true);
    snap->refusal[1] =
        make_reply(unavailable, content_types[1], json_body(refusal_mode), retry, record, true);
    snap->refusal[2] = make_reply(
        unavailable, content_types[2],
        text_body(maint ? "Service unavailable: maintenance in progress."
                        : "Service unavailable for changes: the site is read-only, nothing was saved.",
                  record, retry),
        retry, record, true);

    snap->page[0] = make_reply(unavailable, content_types[0], html(settings.maintenance_page, "maintenance"),
                               retry, record, true);
    snap->page[1] = make_reply(unavailable, content_types[1], json_body("maintenance"), retry, record, true);
    snap->page[2] = make_reply(unavailable, content_types[2],
                               text_body("Service unavailable: maintenance in progress.", record, retry),
                               retry, record, true);

    snap->status =
        make_reply("HTTP/1.1 200 OK", content_types[1], status_json(record, retry) + "\n", 0, record, false);
    // Status pages on another origin poll this; it holds nothing secret.
    snap->status.head += "Access-Control-Allow-Origin: *\r\n";
    return snap;
}

std::shared_ptr<const gate_snapshot> render_snapshot(const gate_record& record,
                                                     std::shared_ptr<const config> cfg, sys_time now) {
    auto snap = std::const_pointer_cast<gate_snapshot>(render_snapshot(record, cfg->gate, now));
    // The banner's assets: the same in every mode, cacheable for a while (a page
    // cached with the banner still finds them), and never sniffed as anything else.
    const auto asset = [](std::string_view type, const std::string& body) {
        rendered_reply r;
        r.head = "HTTP/1.1 200 OK\r\nContent-Type: " + std::string(type) +
                 "\r\nContent-Length: " + std::to_string(body.size()) +
                 "\r\nCache-Control: public, max-age=300\r\nX-Content-Type-Options: nosniff\r\n";
        r.body = body;
        return r;
    };
    snap->banner_assets[0] = asset("text/css; charset=utf-8", cfg->banner.css);
    snap->banner_assets[1] = asset("text/javascript; charset=utf-8", cfg->banner.js);
    snap->cfg = std::move(cfg);
    return snap;
}

gate_record restore_gate_record(const gate_settings& settings) {
    gate_record r;
    r.since = std::chrono::system_clock::now();
    if (settings.state_file.empty()) {
        r.mode = settings.initial_mode;
        r.stage = policy::stage_of(r.mode);
        r.set_by = "config";
        spdlog::warn("gate: no state_file configured; starting {} and a restart will not remember the mode",
                     policy::to_string(r.mode));
        return r;
    }
    auto loaded = load_gate_record(settings.state_file);
    switch (loaded.status) {
    case load_status::ok:
        spdlog::info("gate: restored mode {} (stage {}{}) from {} (set by {} at {})",
                     policy::to_string(loaded.record.mode), policy::to_string(loaded.record.stage),
                     loaded.record.fenced ? ", writes fenced" : "", settings.state_file,
                     loaded.record.set_by.empty() ? "?" : loaded.record.set_by,
                     format_iso8601(loaded.record.since));
        return loaded.record;
    case load_status::missing:
        r.mode = settings.initial_mode;
        r.stage = policy::stage_of(r.mode);
        r.set_by = "config";
        spdlog::info("gate: no state file at {} yet; starting in initial_mode {}", settings.state_file,
                     policy::to_string(r.mode));
        break;
    case load_status::corrupt:
        r.mode = settings.corrupt_state_mode;
        r.stage = policy::stage_of(r.mode);
        r.set_by = "corrupt state file";
        r.reason = "state file unreadable";
        spdlog::error(
            "gate: state file {} is unreadable ({}); starting in {} (corrupt_state_mode) until an "
            "operator sets the mode",
            settings.state_file, loaded.error, policy::to_string(r.mode));
        // The unreadable file is left as it is for the operator to inspect.
        return r;
    }
    if (auto err = save_gate_record(settings.state_file, r); !err.empty())
        spdlog::error(
            "gate: cannot write the state file: {}; mode changes will be refused until it can be written",
            err);
    return r;
}

}  // namespace maintgate
