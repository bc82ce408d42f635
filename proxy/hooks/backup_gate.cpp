#include "proxy/hooks/backup_gate.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <boost/json.hpp>
#include <openssl/evp.h>

#include "proxy/config/duration.hpp"

namespace maintgate {

namespace bj = boost::json;

namespace {

bool is_hex64(std::string_view s) {
    if (s.size() != 64) return false;
    for (const char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
    return true;
}

std::string lower(std::string s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

}  // namespace

std::optional<backup_claim> parse_backup_result(std::string_view text, const std::string& result_file,
                                                std::string& error) {
    boost::system::error_code ec;
    bj::value v = bj::parse(text, ec);
    if (ec) {
        error = "result file " + result_file + " is not JSON (" + ec.message() + ")";
        return std::nullopt;
    }
    if (!v.is_object()) {
        error = "result file " + result_file + " is not a JSON object";
        return std::nullopt;
    }
    const auto& o = v.get_object();
    backup_claim c;
    const auto* artifact = o.if_contains("artifact");
    if (!artifact || !artifact->is_string() || artifact->get_string().empty()) {
        error = "result file " + result_file + ": \"artifact\" is missing or not a non-empty string";
        return std::nullopt;
    }
    c.artifact = std::string(artifact->get_string());
    if (c.artifact.front() != '/') {
        const auto slash = result_file.rfind('/');
        if (slash != std::string::npos) c.artifact = result_file.substr(0, slash + 1) + c.artifact;
    }
    const auto* bytes = o.if_contains("bytes");
    if (bytes && bytes->is_int64() && bytes->get_int64() >= 0)
        c.bytes = static_cast<std::uint64_t>(bytes->get_int64());
    else if (bytes && bytes->is_uint64())
        c.bytes = bytes->get_uint64();
    else {
        error = "result file " + result_file + ": \"bytes\" is missing or not a non-negative integer";
        return std::nullopt;
    }
    const auto* sha = o.if_contains("sha256");
    if (!sha || !sha->is_string() || !is_hex64(sha->get_string())) {
        error = "result file " + result_file + ": \"sha256\" is missing or not 64 hex digits";
        return std::nullopt;
    }
    c.sha256 = lower(std::string(sha->get_string()));
    return c;
}

artifact_facts stat_artifact(const std::string& path) {
    artifact_facts f;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return f;
    f.exists = true;
    f.regular = S_ISREG(st.st_mode);
    f.size = static_cast<std::uint64_t>(st.st_size);
    f.mtime = sys_time(std::chrono::duration_cast<sys_time::duration>(
        std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
    return f;
}

std::string judge_artifact(const backup_gate& g, const backup_claim& c, const artifact_facts& f,
                           const std::optional<backup_record>& last_good, sys_time now) {
    if (!f.exists) return "artifact " + c.artifact + " does not exist";
    if (!f.regular) return "artifact " + c.artifact + " is not a regular file";
    if (f.size != c.bytes)
        return "artifact is " + std::to_string(f.size) + " bytes, the result file says " + std::to_string(c.bytes);
    if (f.size < g.min_bytes)
        return "artifact is " + std::to_string(f.size) + " bytes, less than min_bytes " +
               std::to_string(g.min_bytes);
    if (g.min_ratio > 0.0 && last_good && last_good->bytes > 0) {
        const double floor = g.min_ratio * static_cast<double>(last_good->bytes);
        if (static_cast<double>(f.size) < floor) {
            char ratio[32];
            std::snprintf(ratio, sizeof ratio, "%.3g", static_cast<double>(f.size) / double(last_good->bytes));
            return "artifact is " + std::to_string(f.size) + " bytes, " + ratio + " of the last good backup's " +
                   std::to_string(last_good->bytes) + " (min_ratio " +
                   [&] {
                       char r[32];
                       std::snprintf(r, sizeof r, "%g", g.min_ratio);
                       return std::string(r);
                   }() +
                   ")";
        }
    }
    if (g.max_age.count() > 0) {
        const auto age = std::chrono::duration_cast<duration>(now - f.mtime);
        if (age > g.max_age)
            return "artifact was last written " + format_duration(age) + " ago, older than max_age " +
                   format_duration(g.max_age);
    }
    return {};
}

std::optional<std::string> sha256_file(const std::string& path, std::string& error) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) {
        error = "cannot read " + path + ": " + std::strerror(errno);
        return std::nullopt;
    }
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
        error = "cannot start SHA-256";
        return std::nullopt;
    }
    std::unique_ptr<unsigned char[]> buf(new unsigned char[1 << 16]);
    std::size_t n;
    while ((n = std::fread(buf.get(), 1, 1 << 16, f.get())) > 0) EVP_DigestUpdate(ctx.get(), buf.get(), n);
    if (std::ferror(f.get())) {
        error = "cannot read " + path + ": " + std::strerror(errno);
        return std::nullopt;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), md, &len);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned i = 0; i < len; ++i) {
        out += hex[md[i] >> 4];
        out += hex[md[i] & 15];
    }
    return out;
}

}  // namespace maintgate
