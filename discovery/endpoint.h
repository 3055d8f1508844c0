// An upstream endpoint as discovery finds it. Shared (by pointer) between the
// endpoint sets of successive updates, so per-host state survives updates.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hawser::discovery {

struct Endpoint {
  std::string host;
  uint16_t port = 0;
  std::string key;  // "host:port", also the connection pool key
  std::map<std::string, std::string> attributes;
  // From the attributes: `weight` (or a DNS SRV record's `srv_weight`) for
  // weighted round robin, 1 when absent; `AVAILABILITY_ZONE` for zone awareness.
  uint32_t weight = 1;
  std::string zone;
  std::atomic<int32_t> active_requests{0};  // across workers; relaxed
  std::atomic<bool> ejected{false};         // by outlier detection; load balancers skip it
  std::atomic<bool> unhealthy{false};       // by active health checks; load balancers skip it

  Endpoint(std::string h, uint16_t p, std::map<std::string, std::string> attrs = {});
};

using EndpointPtr = std::shared_ptr<Endpoint>;
using EndpointSet = std::vector<EndpointPtr>;

struct EndpointSpec {
  std::string host;
  uint16_t port = 0;
  std::map<std::string, std::string> attributes;
};

// Builds the new set, reusing the Endpoint objects of `previous` with the same
// key and attributes (so per-host state survives the update).
std::shared_ptr<const EndpointSet> mergeEndpoints(const EndpointSet* previous, const std::vector<EndpointSpec>& specs);
// Builds the new set, reusing the Endpoint objects of `previous` with the same key.
std::shared_ptr<const EndpointSet> mergeEndpoints(const EndpointSet* previous,
                                                  std::vector<std::pair<std::string, uint16_t>> addresses);

}  // namespace hawser::discovery
