#include "proxy/hooks/redact.hpp"

#include <algorithm>
#include <cstdlib>

#include <re2/re2.h>

namespace maintgate {

namespace {

bool contains_upper(std::string_view name, std::string_view word) {
    if (name.size() < word.size()) return false;
    for (std::size_t i = 0; i + word.size() <= name.size(); ++i) {
        bool same = true;
        for (std::size_t j = 0; j < word.size() && same; ++j) {
            char c = name[i + j];
            if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
            same = c == word[j];
        }
        if (same) return true;
    }
    return false;
}

}  // namespace

bool is_secret_name(std::string_view name) noexcept {
    return contains_upper(name, "SECRET") || contains_upper(name, "TOKEN") || contains_upper(name, "PASSWORD") ||
           contains_upper(name, "KEY");
}

bool is_env_name_entry(std::string_view entry) noexcept {
    if (entry.empty() || (entry[0] >= '0' && entry[0] <= '9')) return false;
    return std::all_of(entry.begin(), entry.end(),
                       [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; });
}

std::string redact_pattern_problem(std::string_view pattern) {
    RE2::Options o;
    o.set_log_errors(false);
    RE2 re(re2::StringPiece(pattern.data(), pattern.size()), o);
    if (re.ok()) return {};
    return re.error();
}

redactor::redactor(const std::vector<std::pair<std::string, std::string>>& env,
                   const std::vector<std::string>& redact) {
    auto add = [this](const std::string& value) {
        if (value.size() < min_secret) return;
        if (std::find(literals_.begin(), literals_.end(), value) != literals_.end()) return;
        literals_.push_back(value);
        longest_ = std::max(longest_, value.size());
    };
    for (const auto& [name, value] : env)
        if (is_secret_name(name)) add(value);
    for (const auto& entry : redact) {
        if (is_env_name_entry(entry)) {
            const auto it = std::find_if(env.begin(), env.end(), [&](const auto& kv) { return kv.first == entry; });
            if (it != env.end())
                add(it->second);
            else if (const char* v = std::getenv(entry.c_str()))
                add(v);
            continue;
        }
        RE2::Options o;
        o.set_log_errors(false);
        auto re = std::make_unique<RE2>(entry, o);
        if (re->ok()) patterns_.push_back(std::move(re));
    }
    // Longest first, so a secret that contains another is replaced whole.
    std::sort(literals_.begin(), literals_.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

redactor::~redactor() = default;
redactor::redactor(redactor&&) noexcept = default;
redactor& redactor::operator=(redactor&&) noexcept = default;

std::string redactor::apply(std::string text) const {
    for (const auto& secret : literals_) {
        std::size_t at = 0;
        while ((at = text.find(secret, at)) != std::string::npos) {
            text.replace(at, secret.size(), "***");
            at += 3;
        }
    }
    for (const auto& re : patterns_) RE2::GlobalReplace(&text, *re, "***");
    return text;
}

}  // namespace maintgate
