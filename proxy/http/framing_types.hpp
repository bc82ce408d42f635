#pragma once
// The small types the framing checks take from their caller, kept apart from
// framing.hpp (which needs Beast) so the config, which names them, includes the
// parser's types and never the reverse (haproxy's *-t.h headers).
#include <cstdint>

namespace maintgate {

// What to do with a request header whose name holds an underscore. CGI, WSGI and PHP
// hand headers to the app as HTTP_* variables with '-' turned into '_', so
// "X_Forwarded_For" and "X-Forwarded-For" become the same variable: a client can
// shadow a field the proxy sets or checks. The proxy only manages the '-' spelling.
enum class underscores_policy : std::uint8_t {
    drop,  // remove such fields, silently (nginx's default, underscores_in_headers off)
    reject,  // answer 400; the request never reaches the upstream
    forward,  // pass them unchanged (HAProxy's default); the app must tell them apart
};

}  // namespace maintgate
