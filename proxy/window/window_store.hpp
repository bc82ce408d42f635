#pragma once
// The windows' own file, next to the gate's state file: every window, live and past,
// as one JSON document, replaced durably (temp file, fsync, rename, fsync the folder)
// on every transition, so a restart comes back in the same phase.
#include <string>
#include <vector>

#include "proxy/window/window.hpp"

namespace maintgate::window {

// "/var/lib/maintgate/state.json" -> "/var/lib/maintgate/state.windows.json"; empty when
// there is no state file (then windows live only as long as the process).
std::string store_path(const std::string& state_file);

struct load_result {
    bool ok = true;  // false: the file exists but cannot be read; windows is empty
    std::vector<window> windows;
    std::string error;
};

load_result load_windows(const std::string& path);

// "" or what failed; a failure leaves the old file as it was.
std::string save_windows(const std::string& path, const std::vector<window>& windows);

// Past windows kept in the file (and history) beyond the live ones.
inline constexpr std::size_t max_kept_windows = 100;

}  // namespace maintgate::window
