#pragma once
// Hook results in admin replies: the JSON of hook_store's to_json() and the text lines read
// back from it. Shared by `hooks`, `hook run`, `reopen` and `reopen status`.
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "proxy/hooks/hook_spec.hpp"

namespace maintgate::proxy {

boost::json::array hooks_json(const std::vector<hook_result>& v);
// One line per result: "ok    backup-db (reopen:writes) 1.2s", then its error and its
// output (indented, at most max_output_lines lines each) when it failed or `verbose`.
void hooks_text(std::string& out, const boost::json::array& results, std::string_view indent, bool verbose);

}  // namespace maintgate::proxy
