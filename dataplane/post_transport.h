// The exporters' HttpTransport (telemetry/http_post.h) over discovery's
// HTTP client: the span exporter's and the capture shipper's POSTs.
#pragma once

#include <functional>

#include "discovery/cloudmap/http_client.h"
#include "telemetry/http_post.h"

namespace hawser {

// `prepare` (optional) completes each request before it is sent (e.g. mutual TLS to the forwarder).
telemetry::HttpTransport postTransport(discovery::cloudmap::HttpTransport http,
                                       std::function<void(discovery::cloudmap::HttpRequest&)> prepare = {});

}  // namespace hawser
