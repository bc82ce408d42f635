#include "policy/accept.hpp"

#include "policy/ascii.hpp"

namespace maintgate::policy {
namespace {

// q-value in thousandths; malformed values count as 1 (be lenient with clients).
int parse_q(std::string_view params) noexcept {
    while (!params.empty()) {
        auto semi = params.find(';');
        auto p = trim_ows(params.substr(0, semi));
        params = semi == std::string_view::npos ? std::string_view{} : params.substr(semi + 1);
        if (p.size() < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=') continue;
        auto v = p.substr(2);
        if (v.empty() || (v[0] != '0' && v[0] != '1')) return 1000;
        int q = (v[0] - '0') * 1000;
        int scale = 100;
        for (std::size_t i = 2; i < v.size() && i < 5 && v[1] == '.'; ++i) {
            if (v[i] < '0' || v[i] > '9') return 1000;
            q += (v[i] - '0') * scale;
            scale /= 10;
        }
        return q > 1000 ? 1000 : q;
    }
    return 1000;
}

// How specifically a media range names each format: 3 exact, 2 "type/*" or "+json",
// 1 "*/*", 0 not at all. The most specific range decides a format's q, as RFC 9110 says.
struct match {
    int specificity[3] = {0, 0, 0};
};

match classify(std::string_view range) noexcept {
    match m;
    auto slash = range.find('/');
    if (slash == std::string_view::npos) return m;
    auto type = range.substr(0, slash);
    auto sub = range.substr(slash + 1);
    if (type == "*" && sub == "*") {
        m.specificity[0] = m.specificity[1] = m.specificity[2] = 1;
        return m;
    }
    if (iequals(type, "text")) {
        if (sub == "*") m.specificity[0] = m.specificity[2] = 2;
        if (iequals(sub, "html")) m.specificity[0] = 3;
        if (iequals(sub, "plain")) m.specificity[2] = 3;
    } else if (iequals(type, "application")) {
        if (sub == "*") m.specificity[1] = 2;
        if (iequals(sub, "json"))
            m.specificity[1] = 3;
        else if (sub.size() > 5 && iequals(sub.substr(sub.size() - 5), "+json"))
            m.specificity[1] = 2;
    }
    return m;
}

}  // namespace

body_format choose_format(std::string_view accept) noexcept {
    accept = trim_ows(accept);
    if (accept.empty()) return body_format::html;
    int best_spec[3] = {0, 0, 0};
    int q[3] = {0, 0, 0};
    while (!accept.empty()) {
        auto comma = accept.find(',');
        auto item = trim_ows(accept.substr(0, comma));
        accept = comma == std::string_view::npos ? std::string_view{} : accept.substr(comma + 1);
        if (item.empty()) continue;
        auto semi = item.find(';');
        auto range = trim_ows(item.substr(0, semi));
        int item_q = semi == std::string_view::npos ? 1000 : parse_q(item.substr(semi + 1));
        match m = classify(range);
        for (int f = 0; f < 3; ++f) {
            if (m.specificity[f] > best_spec[f]) {
                best_spec[f] = m.specificity[f];
                q[f] = item_q;
            } else if (m.specificity[f] == best_spec[f] && m.specificity[f] > 0 && item_q > q[f]) {
                q[f] = item_q;
            }
        }
    }
    // Highest q wins; at equal q a type the client named beats one it only allowed
    // through a wildcard ("application/json, text/plain, */*" wants JSON); then the
    // order html, json, text.
    int best = -1;
    for (int f = 0; f < 3; ++f) {
        if (q[f] == 0) continue;
        if (best < 0 || q[f] > q[best] || (q[f] == q[best] && best_spec[f] > best_spec[best])) best = f;
    }
    if (best < 0) return body_format::text;
    return static_cast<body_format>(best);
}

}  // namespace maintgate::policy
