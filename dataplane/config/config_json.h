// The effective configuration as JSON, for GET /config_dump. Secrets (key
// material, credentials) never appear: only file paths and public values.
#pragma once

#include <boost/json/value.hpp>

#include "dataplane/config/config.h"

namespace hawser::config {
boost::json::value toJson(const Config& c);
}
