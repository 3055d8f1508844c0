// Header rules a proxy must apply to every forwarded message (RFC 9110).
#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>

#include <string>
#include <string_view>

namespace hawser {

// Removes hop-by-hop fields (RFC 9110 7.6.1): Connection, every field it
// names, Keep-Alive, Proxy-Connection, Proxy-Authorization,
// Proxy-Authenticate, TE and, unless this is an upgrade, Upgrade.
// Transfer-Encoding stays: it describes the framing hawser re-emits.
void removeHopByHop(boost::beast::http::fields& f, bool keep_upgrade);

// True when the request asks for a protocol upgrade (Connection: upgrade).
bool isUpgradeRequest(const boost::beast::http::fields& f);

// Appends the client address to x-forwarded-for, sets x-forwarded-proto when
// absent, appends "1.1 hawser" to Via, and keeps or creates x-request-id.
// Returns the request id.
std::string applyForwardingHeaders(boost::beast::http::fields& f, std::string_view client_ip, std::string_view proto);

// Writes a message head to `out` (replacing its contents) exactly as Beast's
// serializer does for a message that is not chunked: the start line, every
// field as it is, the blank line. With the body bytes appended, one buffer
// goes out in one write, without the serializer's buffer-sequence machinery.
// With `terminate` false the blank line is left off, for the caller to
// append its framing line first.
void serializeHead(const boost::beast::http::request_header<>& h, std::string& out, bool terminate = true);
void serializeHead(const boost::beast::http::response_header<>& h, std::string& out, bool terminate = true);

// A random RFC 4122 version 4 UUID.
std::string newRequestId();

}  // namespace hawser
