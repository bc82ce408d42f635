#pragma once
// The maintenance windows on the metrics listener, in the text exposition format:
//   maintgate_window_phase{phase} gauge: 1 for the phase of the window under way (else the
//     next planned one), 0 for the other phases; all 0 when there is none
//   maintgate_window_starts_timestamp_seconds, maintgate_window_ends_timestamp_seconds
//     (that window's; the start omitted when it starts by hand)
//   maintgate_window_refused_writes{route} gauge: writes refused during that window
//   maintgate_windows{phase="completed|aborted"} gauge: past windows kept in the store
#include <string>

#include "proxy/window/window_control.hpp"

namespace maintgate::window {

std::string render_window_metrics(const window_control& wc, sys_time now);

}  // namespace maintgate::window
