// The whole config loader (YAML text -> validated Config), as for
// HAWSER_CONFIG_YAML, then the /config_dump rendering of what it accepted.
// A ConfigError is the loader doing its job; anything else escaping (a
// yaml-cpp exception, std::out_of_range, ...) is a bug, so it propagates and
// the fuzzer reports it.
#include <boost/json/serialize.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

#include "dataplane/config/config.h"
#include "dataplane/config/config_json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string yaml(reinterpret_cast<const char*>(data), size);
  try {
    hawser::config::Config c = hawser::config::loadText(yaml, "fuzz.yaml");
    (void)boost::json::serialize(hawser::config::toJson(c));
  } catch (const hawser::config::ConfigError&) {
  }
  return 0;
}
