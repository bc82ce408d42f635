#pragma once
// maintgate's conventions for the JSON it writes and reads back itself (the state file,
// audit lines, the gate's JSON bodies), on top of Boost.JSON.
#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace maintgate::json {

// o on one line, as Boost.JSON serialises it (but doubles: "0.5", not "5E-1") (a quote, a backslash and every byte below
// 0x20 escaped), and DEL written "\u007f" too: no field can break the line, forge
// another entry, or reach a terminal raw. Other bytes, UTF-8 or not, pass through as
// they are (the files are ours, the text in them is not).
std::string serialize_line(const boost::json::object& o);

// The inverse, strict: one object whose values are strings, numbers, true/false or
// null, nothing after it but whitespace. Strings may hold any bytes (invalid UTF-8 comes
// back as the bytes serialize_line wrote); an escape that is not valid UTF-16 (a lone
// surrogate) is refused. Returns nullopt with error set ("... at offset N") on anything
// else; a later key repeated wins.
std::optional<boost::json::object> parse_flat_object(std::string_view text, std::string& error);

}  // namespace maintgate::json
