#pragma once
// The backup hook's result contract, as functions the runner calls in order and the tests
// call alone. The hook writes {"artifact": "...", "bytes": N, "sha256": "hex"} to its
// result_file; maintgate believes none of it until it has looked at the artifact itself.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/admin/state_file.hpp"
#include "proxy/hooks/hook_spec.hpp"

namespace maintgate {

struct backup_claim {
    std::string artifact;  // resolved: a relative path is relative to the result file's folder
    std::uint64_t bytes = 0;
    std::string sha256;  // lower-cased
};

// The result file's text. nullopt with error set when it is not one JSON object with a
// non-empty string "artifact", a non-negative integer "bytes" and a 64-hex-digit "sha256".
std::optional<backup_claim> parse_backup_result(std::string_view text, const std::string& result_file,
                                                std::string& error);

// What maintgate found on disk for the claimed artifact.
struct artifact_facts {
    bool exists = false;
    bool regular = false;
    std::uint64_t size = 0;
    sys_time mtime{};
};
artifact_facts stat_artifact(const std::string& path);

// The checks that need no hashing, in this order: the artifact exists and is a regular
// file, its size equals the claim, is at least min_bytes, is at least min_ratio of the
// last good run's, and its mtime is within max_age of now. "" when all pass, else why,
// for people ("artifact is 20 bytes, less than min_bytes 1024").
std::string judge_artifact(const backup_gate& g, const backup_claim& c, const artifact_facts& f,
                           const std::optional<backup_record>& last_good, sys_time now);

// SHA-256 of the file's bytes (OpenSSL EVP) in lower-case hex, reading it in blocks;
// nullopt with error set when it cannot be read.
std::optional<std::string> sha256_file(const std::string& path, std::string& error);

}  // namespace maintgate
