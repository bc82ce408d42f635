#include "proxy/http/http_date.hpp"

#include <cstdio>
#include <ctime>

namespace maintgate::proxy {

std::string_view date_field() noexcept {
    thread_local std::time_t cached_second = -1;
    thread_local char line[64];
    thread_local std::size_t length = 0;
    std::time_t now = std::time(nullptr);
    if (now != cached_second) {
        std::tm tm{};
        gmtime_r(&now, &tm);
        // IMF-fixdate; strftime's %a/%b are locale-dependent, so spell them out.
        static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        int n = std::snprintf(line, sizeof line, "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n",
                              days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
                              tm.tm_min, tm.tm_sec);
        length = n > 0 ? static_cast<std::size_t>(n) : 0;
        cached_second = now;
    }
    return {line, length};
}

}  // namespace maintgate::proxy
