// Time as policy/ sees it: a value passed in by the caller, never read here.
#pragma once

#include <chrono>

namespace hawser::policy {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = std::chrono::nanoseconds;

}  // namespace hawser::policy
