// A clock for policy tests: a time point the test advances by hand.
#pragma once

#include "policy/clock.h"

namespace hawser::policy::testing {

struct FakeClock {
  TimePoint now{std::chrono::seconds(1000)};
  void advance(Duration d) { now += d; }
};

}  // namespace hawser::policy::testing
