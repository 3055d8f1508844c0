// One AWS JSON 1.1 request to Cloud Map (data plane or control plane),
// SigV4-signed when credentials are given. Shared by the discovery poller and
// self-registration so both speak the exact same wire format.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "discovery/aws/credentials.h"
#include "discovery/cloudmap/http_client.h"

namespace hawser::discovery::cloudmap {

// `target` is the full X-Amz-Target (e.g. Route53AutoNaming_v20170314.DiscoverInstances).
// With `credentials` null the request goes unsigned (a local registry without --credentials).
HttpRequest makeCloudMapRequest(const std::string& url, const std::string& host_header, std::string_view target,
                                std::string body, std::chrono::milliseconds timeout, const std::string& region,
                                const aws::Credentials* credentials);

}  // namespace hawser::discovery::cloudmap
