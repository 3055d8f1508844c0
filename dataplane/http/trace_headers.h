// Trace context in and out of HTTP/1.1 heads, in the formats of
// `telemetry.tracing.otlp.propagation`: read once from the request, written
// to every attempt's head (dataplane/http/README.md, "Tracing").
#pragma once

#include "dataplane/config/config.h"
#include "dataplane/http/exchange.h"
#include "policy/random.h"

namespace hawser::http1 {

// The caller's context from the first configured format that carries a
// valid one (else a new trace), the sampling decision, and this hop's span.
void startTrace(Exchange& x, const RequestHead& head, const config::Tracing& t, policy::Random& rng);
// Writes the context into an attempt's head in every configured format,
// replacing what the client sent in those formats. Outbound, each attempt
// is a span of its own (a child of the exchange's CLIENT span); inbound,
// the app's parent is the SERVER span.
void injectTrace(Exchange& x, RequestHead& head, const config::Tracing& t, policy::Random& rng);

}  // namespace hawser::http1
