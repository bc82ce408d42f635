// libFuzzer target: the config loader on arbitrary text. load_config_string promises never
// to throw and to report every error with a position; `maintgate check` and a reload run
// it on whatever an operator saved.
//
// Beyond "no crash, no sanitizer report, no exception", it checks that:
// - a result has either a config or errors, never both and never neither;
// - every error names the source and has a message, and a position inside the text
//   (line 1..lines+1, so an error "at the end" of a file without a final newline fits);
// - a loaded config is usable: at least one listener, and workers resolved (not 0).
// Loading may read the page files a config names (gate.pages_dir): only files called
// maintenance.html and read_only.html, which is harmless.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/config/config.hpp"

namespace {

[[noreturn]] void broken(const char* property) {
    std::fprintf(stderr, "fuzz_config: property broken: %s\n", property);
    std::abort();
}

void check(bool ok, const char* property) {
    if (!ok) broken(property);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(bytes), size);
    static const std::string source = "fuzz.toml";

    maintgate::load_result r;
    try {
        r = maintgate::load_config_string(text, source);
    } catch (...) {
        broken("load_config_string threw");
    }

    check(r.cfg.has_value() != !r.errors.empty(), "a result with both or neither of config and errors");
    std::size_t lines = 1;
    for (char c : text) lines += c == '\n';
    for (const auto& e : r.errors) {
        check(e.file == source, "an error names another source");
        check(!e.message.empty(), "an error without a message");
        check(e.line <= lines + 1, "an error past the end of the text");
        check((e.line == 0) == (e.column == 0), "an error with half a position");
        check(!e.to_string().empty(), "an error renders empty");
    }
    if (r.cfg) {
        check(!r.cfg->listeners.empty(), "a loaded config without a listener");
        check(r.cfg->workers != 0, "a loaded config with workers unresolved");
    }
    return 0;
}
