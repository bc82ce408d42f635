#pragma once
// Secrets out of hook output before it reaches the audit log, the replies or the journal.
// Replaced by "***": the values of the child's environment variables whose names contain
// SECRET, TOKEN, PASSWORD or KEY (always), the values of the variables a hook's `redact`
// names (an entry written in upper case letters, digits and "_"), and every match of the
// other `redact` entries, which are RE2 regexes.
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace re2 {
class RE2;
}

namespace maintgate {

// SECRET, TOKEN, PASSWORD or KEY anywhere in the name, in any case.
bool is_secret_name(std::string_view name) noexcept;
// A `redact` entry that names a variable rather than a pattern: [A-Z_][A-Z0-9_]*.
bool is_env_name_entry(std::string_view entry) noexcept;
// "" when pattern compiles, else RE2's message (for the loader's errors).
std::string redact_pattern_problem(std::string_view pattern);

class redactor {
public:
    // env: the child's environment. Values of the named variables come from env, or from
    // maintgate's own environment when the child did not get them. Values shorter than
    // min_secret bytes are not replaced (a KEY_ID=1 would turn every "1" into "***").
    redactor(const std::vector<std::pair<std::string, std::string>>& env, const std::vector<std::string>& redact);
    ~redactor();
    redactor(redactor&&) noexcept;
    redactor& operator=(redactor&&) noexcept;

    std::string apply(std::string text) const;
    // The longest literal secret: capture keeps this much past the cap so that a secret
    // cut by the cap is still recognised.
    std::size_t longest() const noexcept { return longest_; }

    static constexpr std::size_t min_secret = 3;

private:
    std::vector<std::string> literals_;
    std::vector<std::unique_ptr<re2::RE2>> patterns_;
    std::size_t longest_ = 0;
};

}  // namespace maintgate
