#pragma once
// Just enough JSON for maintgate's own files (the state file, audit lines): writing
// escaped strings, and reading back a flat object of strings, numbers, booleans and
// nulls. Not a general JSON library, on purpose.
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace maintgate::json {

// Appends s as a JSON string literal (with quotes) to out. Control bytes are escaped;
// invalid UTF-8 is passed through byte for byte (the files are ours, the text is not).
void append_string(std::string& out, std::string_view s);

struct value {
    enum class kind { string, number, boolean, null } type = kind::null;
    std::string text;  // the string's content, or the number's text
    bool flag = false;
};

// Parses {"key": value, ...} where every value is a string, number, true/false or null.
// Returns nullopt with error set on anything else, including trailing garbage.
std::optional<std::map<std::string, value>> parse_flat_object(std::string_view text, std::string& error);

}  // namespace maintgate::json
