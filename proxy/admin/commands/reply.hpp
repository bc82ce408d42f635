#pragma once
// What an admin command hands back: its JSON reply as a boost::json::object, and the
// function that renders the text reply from that same object. admin_server sends one
// or the other (render()); a handler never formats bytes for the wire itself.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "proxy/admin/probe.hpp"
#include "proxy/admin/state_file.hpp"

namespace maintgate::proxy {

class gate_control;
struct admin_peer;

// Everything a command handler may touch.
struct admin_context {
    gate_control& gate;
    const admin_peer& who;
    sys_time now;  // when the line was read: parse_command resolved its times against it
};

struct admin_reply;

// Appends the text form of `r` to out: one or more lines, each ending in "\n". render()
// drops empty lines and puts "error: " before a failed reply that lacks it.
using text_renderer = void (*)(std::string& out, const admin_reply& r, sys_time now);

struct admin_reply {
    boost::json::object body;  // the JSON reply as sent: "ok" first, "error" when false
    boost::json::object aside;  // facts only the text shows (exact times, config limits); never sent
    text_renderer text = nullptr;
};

// {"ok":false,"error":message}; text "error: message".
admin_reply error_reply(std::string_view message);

// The reply's bytes as the protocol in admin_command.hpp says: one JSON line, or the text
// lines and the empty line that ends them.
std::string render(const admin_reply& r, bool json, sys_time now);

// Reading a reply object back in a renderer. A missing key reads as empty, false or 0:
// the handler beside each renderer writes every key it reads.
std::string_view get_str(const boost::json::object& o, std::string_view key);
bool get_bool(const boost::json::object& o, std::string_view key);
std::uint64_t get_uint(const boost::json::object& o, std::string_view key);
double get_double(const boost::json::object& o, std::string_view key);
const boost::json::object& get_obj(const boost::json::object& o, std::string_view key);
const boost::json::array& get_array(const boost::json::object& o, std::string_view key);
bool is_null(const boost::json::object& o, std::string_view key);  // missing or null

// A time kept exactly (in sys_time ticks) for the text's relative times; nothing stored
// when t is empty.
void put_time(boost::json::object& o, std::string_view key, std::optional<sys_time> t);
std::optional<sys_time> get_time(const boost::json::object& o, std::string_view key);

// The ISO 8601 time as a JSON string, or null.
boost::json::value iso_or_null(std::optional<sys_time> t);

// "12m ago", "in 38m": people read relative times faster than timestamps at 2am.
std::string relative(sys_time t, sys_time now);
// "2026-11-22T03:10:00Z (12m ago)"
std::string when(sys_time t, sys_time now);
// Raw newlines from a reason or a check's detail would end the text reply early.
std::string one_line(std::string_view s);
// "12.5%": a rate between 0 and 1 as a percentage with one decimal.
std::string percent(double rate);

// Check results as JSON, [{"name","ok","status","detail","elapsed_ms"}...], and as text
// lines ("pass  name: detail") read back from that JSON.
boost::json::array probes_json(const std::vector<probe_result>& v);
void probes_text(std::string& out, const boost::json::array& checks, std::string_view indent);

}  // namespace maintgate::proxy
