#pragma once
// The spool's configuration as plain data: the [spool] section and what a webhook rule
// adds to it (spool = true, the keys, the signature). config.hpp holds these; the loader
// (proxy/config/spool.cpp) fills them, the spool (proxy/spool/) reads them.
#include <cstdint>
#include <string>
#include <vector>

#include "proxy/config/duration.hpp"

namespace maintgate {

enum class signature_scheme : std::uint8_t { none, github, stripe, standard_webhooks };

// Where a key comes from in a request: "header:NAME" (the only source today). Empty
// name: no key.
struct request_key {
    std::string header;  // lower-case field name, or empty
    bool empty() const noexcept { return header.empty(); }
};

// What `spool = true` on a [[rule]] with action = "webhook" asks for.
struct webhook_spool {
    bool spool = false;
    request_key dedupe_key;  // duplicate within spool.dedupe_ttl: 202 with the first id
    request_key order_key;  // delivered FIFO per value; empty: no ordering between events
    signature_scheme signature = signature_scheme::none;
    std::string secret;  // read at load from secret_file or secret_env
    duration tolerance{300'000};  // stripe and standard-webhooks: timestamp skew allowed
    std::string where;  // "file:line:column" of the rule
};

struct spool_settings {
    std::string dir;  // empty: no spool (a rule with spool = true then fails to load)
    std::uint64_t max_bytes = 1ull << 30;  // stored events, framing included
    std::uint64_t max_events = 100'000;
    duration max_age{7LL * 24 * 3600 * 1000};  // the oldest pending event; past it: 503
    std::uint64_t max_event_bytes = 1 << 20;  // one request body; past it: 413
    std::uint64_t segment_bytes = 64ull << 20;  // a segment is rotated past this
    duration dedupe_ttl{24LL * 3600 * 1000};
    duration commit_interval{2};  // group commit: gather appends this long before the fsync
    unsigned concurrency = 4;  // replay deliveries in flight, all keys together
    double rate = 50;  // replay deliveries per second; 0: unlimited
    duration retry_base{500};  // backoff: base * 2^attempt, capped, with full jitter
    duration retry_cap{60'000};
    unsigned max_attempts = 10;  // then dead-lettered
    duration delivery_timeout{30'000};  // one delivery: connect, send, response head
};

}  // namespace maintgate
