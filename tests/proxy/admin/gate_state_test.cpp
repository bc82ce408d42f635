#include "proxy/admin/gate_state.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "proxy/admin/json.hpp"
#include "proxy/http/pages.hpp"
#include "tests/temp_dir.hpp"

using namespace maintgate;
namespace fs = std::filesystem;
using maintgate::test::temp_dir;
using namespace std::chrono;

namespace {

struct parsed_head {
    std::string status_line;
    std::multimap<std::string, std::string> fields;  // lower-case name -> value

    std::size_t count(const std::string& name) const { return fields.count(name); }
    std::string get(const std::string& name) const {
        auto it = fields.find(name);
        return it == fields.end() ? std::string{} : it->second;
    }
};

std::string lower(std::string s) {
    for (auto& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

parsed_head parse_head(const std::string& head) {
    parsed_head out;
    // Every line ends in CRLF, and the blank line is not there.
    REQUIRE(head.size() >= 2);
    REQUIRE(head.substr(head.size() - 2) == "\r\n");
    REQUIRE(head.find("\r\n\r\n") == std::string::npos);
    std::size_t pos = 0;
    bool first = true;
    while (pos < head.size()) {
        auto end = head.find("\r\n", pos);
        REQUIRE(end != std::string::npos);
        std::string line = head.substr(pos, end - pos);
        REQUIRE(line.find('\n') == std::string::npos);
        REQUIRE(line.find('\r') == std::string::npos);
        pos = end + 2;
        if (first) {
            out.status_line = line;
            first = false;
            continue;
        }
        auto colon = line.find(':');
        REQUIRE(colon != std::string::npos);
        REQUIRE(colon > 0);
        std::string value = line.substr(colon + 1);
        REQUIRE(!value.empty());
        REQUIRE(value[0] == ' ');
        out.fields.emplace(lower(line.substr(0, colon)), value.substr(1));
    }
    return out;
}

gate_settings settings() {
    gate_settings s;
    s.retry_after = minutes(10);
    s.maintenance_page = std::string(builtin_maintenance_page());
    s.read_only_page = std::string(builtin_read_only_page());
    return s;
}

maintgate::sys_time at(int y, unsigned mo, unsigned d, int h, int mi, int s) {
    return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s};
}

const maintgate::sys_time now = at(2026, 11, 22, 2, 0, 0);

constexpr std::string_view content_types[] = {"text/html; charset=utf-8", "application/json",
                                              "text/plain; charset=utf-8"};

// The checks every 503 reply shares.
void check_503(const rendered_reply& r, const gate_record& rec, policy::body_format f, std::int64_t retry) {
    const auto h = parse_head(r.head);
    CHECK(h.status_line == "HTTP/1.1 503 Service Unavailable");
    CHECK(h.count("content-type") == 1);
    CHECK(h.get("content-type") == content_types[static_cast<int>(f)]);
    CHECK(h.count("content-length") == 1);
    CHECK(h.get("content-length") == std::to_string(r.body.size()));
    CHECK(h.count("retry-after") == 1);
    CHECK(h.get("retry-after") == std::to_string(retry));
    CHECK(h.count("cache-control") == 1);
    CHECK(h.get("cache-control") == "no-store");
    CHECK(h.count("vary") == 1);
    CHECK(h.get("vary") == "Accept");
    if (rec.mode == policy::mode::open) {
        CHECK(h.count("x-maintgate-mode") == 0);
    } else {
        CHECK(h.count("x-maintgate-mode") == 1);
        CHECK(h.get("x-maintgate-mode") == policy::to_string(rec.mode));
    }
    CHECK(h.count("connection") == 0);  // the writer adds it when it must
    CHECK(h.count("set-cookie") == 0);
}

boost::json::object parse_json(const std::string& body) {
    std::string error;
    auto obj = json::parse_flat_object(body, error);
    INFO(body << " -> " << error);
    REQUIRE(obj.has_value());
    return *obj;
}

void check_json_body(const std::string& body, std::string_view mode, const gate_record& rec,
                     std::int64_t retry) {
    const auto obj = parse_json(body);
    REQUIRE(obj.count("mode") == 1);
    REQUIRE(obj.at("mode").is_string());
    CHECK(obj.at("mode").as_string() == mode);
    REQUIRE(obj.count("reason") == 1);
    REQUIRE(obj.at("reason").is_string());
    CHECK(std::string_view(obj.at("reason").as_string()) == rec.reason);
    REQUIRE(obj.count("retry_after") == 1);
    REQUIRE(obj.at("retry_after").is_int64());
    CHECK(obj.at("retry_after").as_int64() == retry);
    REQUIRE(obj.count("until") == 1);
    if (rec.until) {
        REQUIRE(obj.at("until").is_string());
        CHECK(std::string_view(obj.at("until").as_string()) == format_iso8601(*rec.until));
    } else {
        CHECK(obj.at("until").is_null());
    }
}

std::string read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

}  // namespace

TEST_CASE("gate_state: retry_after_seconds", "[gate_state]") {
    gate_settings s = settings();
    struct row {
        const char* what;
        std::optional<maintgate::sys_time> until;
        milliseconds setting;
        std::int64_t want;
    };
    const row rows[] = {
        {"no until: the setting", std::nullopt, minutes(10), 600},
        {"no until, other setting", std::nullopt, seconds(42), 42},
        {"no until, zero setting: at least 1", std::nullopt, milliseconds(0), 1},
        {"until ahead", now + seconds(90), minutes(10), 90},
        {"until far ahead", now + hours(5), minutes(10), 5 * 3600},
        {"until ahead by a fraction: rounded up", now + milliseconds(1500), minutes(10), 2},
        {"until ahead by 1 ms: at least 1", now + milliseconds(1), minutes(10), 1},
        {"until exactly now: the setting", now, minutes(10), 600},
        {"until passed: the setting", now - minutes(3), minutes(10), 600},
    };
    for (const auto& r : rows) {
        INFO(r.what);
        gate_record rec;
        rec.mode = policy::mode::maintenance;
        rec.until = r.until;
        s.retry_after = r.setting;
        CHECK(retry_after_seconds(rec, s, now) == r.want);
    }
}

TEST_CASE("gate_state: render_snapshot replies, every mode and format", "[gate_state]") {
    const gate_settings s = settings();
    struct row {
        policy::mode mode;
        std::string reason;
        std::optional<maintgate::sys_time> until;
        std::int64_t retry;
    };
    const row rows[] = {
        {policy::mode::maintenance, "schema migration", now + minutes(45), 45 * 60},
        {policy::mode::maintenance, "", std::nullopt, 600},
        {policy::mode::read_only, "backup <snapshot> & \"copy\" 'n'", now + seconds(30), 30},
        {policy::mode::read_only, "", std::nullopt, 600},
        {policy::mode::read_only, "ended", now - hours(1), 600},
        {policy::mode::open, "", std::nullopt, 600},
    };
    for (const auto& r : rows) {
        gate_record rec;
        rec.mode = r.mode;
        rec.reason = r.reason;
        rec.until = r.until;
        rec.set_by = "uid 0 pid 1";
        rec.since = now - minutes(5);
        INFO("mode " << policy::to_string(r.mode) << ", reason '" << r.reason << "', until "
                     << (r.until ? format_iso8601(*r.until) : "none"));
        const auto snap = render_snapshot(rec, s, now);
        REQUIRE(snap);
        CHECK(snap->record.mode == rec.mode);
        CHECK(snap->record.reason == rec.reason);

        const bool maint = r.mode == policy::mode::maintenance;
        const std::string_view refusal_mode = maint ? "maintenance" : "read-only";
        for (int f = 0; f < 3; ++f) {
            const auto fmt = static_cast<policy::body_format>(f);
            INFO("format " << f);
            {
                INFO("refusal");
                check_503(snap->refusal[f], rec, fmt, r.retry);
            }
            {
                INFO("page");
                check_503(snap->page[f], rec, fmt, r.retry);
            }
        }
        // JSON bodies.
        check_json_body(snap->refusal[1].body, refusal_mode, rec, r.retry);
        check_json_body(snap->page[1].body, "maintenance", rec, r.retry);

        // HTML bodies: the right page, the reason escaped, every placeholder filled.
        for (const rendered_reply* page : {&snap->refusal[0], &snap->page[0]}) {
            const std::string& body = page->body;
            CHECK(body.find("{{") == std::string::npos);
            CHECK(body.find("<html") != std::string::npos);
            if (!r.reason.empty()) CHECK(body.find(html_escape(r.reason)) != std::string::npos);
            if (r.reason.find('<') != std::string::npos) CHECK(body.find(r.reason) == std::string::npos);
            if (r.until && *r.until > now) CHECK(body.find(format_iso8601(*r.until)) != std::string::npos);
        }
        CHECK(snap->page[0].body.find("data-mode=\"maintenance\"") != std::string::npos);
        CHECK(snap->refusal[0].body.find("data-mode=\"" + std::string(refusal_mode) + "\"") !=
              std::string::npos);

        // Plain-text bodies.
        for (const rendered_reply* text : {&snap->refusal[2], &snap->page[2]}) {
            CHECK(text->body.find("Retry after " + std::to_string(r.retry) + " seconds.") !=
                  std::string::npos);
            if (!r.reason.empty()) CHECK(text->body.find(r.reason) != std::string::npos);
            CHECK(text->body.back() == '\n');
        }

        // The status endpoint: 200 JSON, not cached, readable from anywhere.
        const auto h = parse_head(snap->status.head);
        CHECK(h.status_line == "HTTP/1.1 200 OK");
        CHECK(h.get("content-type") == "application/json");
        CHECK(h.get("content-length") == std::to_string(snap->status.body.size()));
        CHECK(h.get("cache-control") == "no-store");
        CHECK(h.get("access-control-allow-origin") == "*");
        CHECK(h.count("x-maintgate-mode") == (r.mode == policy::mode::open ? 0u : 1u));
        const auto st = parse_json(snap->status.body);
        check_json_body(snap->status.body, policy::to_string(r.mode), rec, r.retry);
        REQUIRE(st.count("since") == 1);
        CHECK(std::string_view(st.at("since").as_string()) == format_iso8601(rec.since));
        CHECK(snap->status.body == status_json(rec, r.retry) + "\n");
    }
}

TEST_CASE("gate_state: Retry-After counts down to until", "[gate_state]") {
    const gate_settings s = settings();
    gate_record rec;
    rec.mode = policy::mode::maintenance;
    rec.until = now + seconds(100);
    for (int elapsed : {0, 1, 50, 99}) {
        INFO("elapsed " << elapsed);
        const auto snap = render_snapshot(rec, s, now + seconds(elapsed));
        const auto h = parse_head(snap->page[2].head);
        CHECK(h.get("retry-after") == std::to_string(100 - elapsed));
    }
    // Past the end: back to the default, never 0 or negative.
    const auto late = render_snapshot(rec, s, now + seconds(101));
    CHECK(parse_head(late->page[0].head).get("retry-after") == "600");
}

TEST_CASE("gate_state: a reason cannot inject header lines", "[gate_state]") {
    gate_record rec;
    rec.mode = policy::mode::read_only;
    rec.reason = "x\r\nSet-Cookie: pwned=1\r\n\r\n<h1>";
    const auto snap = render_snapshot(rec, settings(), now);
    for (const auto& r : snap->refusal) CHECK(r.head.find("pwned") == std::string::npos);
    for (const auto& r : snap->page) CHECK(r.head.find("pwned") == std::string::npos);
    CHECK(snap->status.head.find("pwned") == std::string::npos);
    // The JSON body keeps the reason intact.
    CHECK(std::string_view(parse_json(snap->refusal[1].body).at("reason").as_string()) == rec.reason);
}

TEST_CASE("gate_state: restore_gate_record", "[gate_state]") {
    temp_dir dir;
    const std::string path = (dir.path / "state.json").string();

    SECTION("no state_file: the initial mode, nothing written") {
        gate_settings s = settings();
        s.initial_mode = policy::mode::read_only;
        const auto before = system_clock::now();
        const auto r = restore_gate_record(s);
        CHECK(r.mode == policy::mode::read_only);
        CHECK(r.set_by == "config");
        CHECK(r.since >= before - seconds(1));
        CHECK(fs::is_empty(dir.path));
    }
    SECTION("missing file: the initial mode, and the file is written") {
        for (auto m : {policy::mode::open, policy::mode::read_only, policy::mode::maintenance}) {
            INFO(policy::to_string(m));
            fs::remove(path);
            gate_settings s = settings();
            s.state_file = path;
            s.initial_mode = m;
            const auto r = restore_gate_record(s);
            CHECK(r.mode == m);
            REQUIRE(fs::exists(path));
            const auto loaded = load_gate_record(path);
            INFO(loaded.error);
            REQUIRE(loaded.status == load_status::ok);
            CHECK(loaded.record.mode == m);
            CHECK(loaded.record.set_by == r.set_by);
            CHECK_FALSE(fs::exists(path + ".tmp"));
        }
    }
    SECTION("corrupt file: corrupt_state_mode, file left untouched") {
        const std::string garbage[] = {"{\"mode\":\"open\"", "{\"mode\":\"closed\"}",
                                       "{\"mode\":\"open\",\"until\":\"soon\"}", ""};
        for (const auto& g : garbage) {
            for (auto m : {policy::mode::maintenance, policy::mode::read_only}) {
                INFO("'" << g << "' -> " << policy::to_string(m));
                {
                    std::ofstream f(path, std::ios::binary | std::ios::trunc);
                    f << g;
                }
                gate_settings s = settings();
                s.state_file = path;
                s.initial_mode = policy::mode::open;
                s.corrupt_state_mode = m;
                const auto r = restore_gate_record(s);
                CHECK(r.mode == m);
                CHECK_FALSE(r.reason.empty());
                CHECK(read_file(path) == g);
                CHECK_FALSE(fs::exists(path + ".tmp"));
            }
        }
    }
    SECTION("valid file: its record") {
        gate_record saved;
        saved.mode = policy::mode::maintenance;
        saved.stage = policy::stage::operators;
        saved.fenced = true;
        saved.reason = "restore \"db\"\nstep 2";
        saved.until = at(2026, 11, 22, 3, 0, 0);
        saved.set_by = "uid 1000 pid 4242";
        saved.since = at(2026, 11, 22, 1, 0, 0);
        REQUIRE(save_gate_record(path, saved) == "");
        const std::string before = read_file(path);
        gate_settings s = settings();
        s.state_file = path;
        s.initial_mode = policy::mode::open;
        const auto r = restore_gate_record(s);
        CHECK(r.mode == saved.mode);
        CHECK(r.stage == saved.stage);
        CHECK(r.fenced == saved.fenced);
        CHECK(r.reason == saved.reason);
        CHECK(r.until == saved.until);
        CHECK(r.set_by == saved.set_by);
        CHECK(r.since == saved.since);
        CHECK(read_file(path) == before);
    }
}
