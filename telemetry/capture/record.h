// A capture record: one HTTP exchange (or, as metadata only, one TCP,
// CONNECT or WebSocket session) as the tee hands it to the shipper and as
// it travels to the forwarder and into storage: one JSON object per line
// (NDJSON). The request path fills a CaptureRecord; the shipper encodes it
// off the request path; the forwarder and `hawser capture export` read the
// JSON back through validateRecord(). docs/capture.md has the format.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace boost::json {
class value;
}

namespace hawser::telemetry {

using CaptureHeaders = std::vector<std::pair<std::string, std::string>>;

struct CapturedMessage {
  CaptureHeaders headers;
  std::string body;         // the first max_body_bytes bytes
  uint64_t body_bytes = 0;  // all the body bytes that passed
  bool truncated = false;   // body_bytes > body.size()

  // Keeps at most `limit` bytes in total.
  void append(std::string_view bytes, uint64_t limit);
};

struct CaptureRecord {
  std::string id;                 // 32 hex digits, unique per record
  int64_t start_us = 0;           // Unix time, microseconds
  int64_t duration_us = 0;        // until the last byte went to the client
  std::string_view kind;          // http | tcp | connect | websocket
  std::string_view direction;     // inbound | outbound
  std::string service;            // the app whose traffic this is: node.service (else the cluster's name)
  std::string remote_service;     // outbound: the service called
  std::string request_id;         // x-request-id
  std::string listener;           // the listener that accepted it
  std::string peer;               // the verified TLS identity of the other side ("" if none)
  std::string upstream;           // the endpoint of the last attempt
  std::string trace_id, span_id;  // when tracing is on
  std::string reason;             // why hawser answered or ended it ("" for a plain exchange)
  unsigned attempts = 0;
  bool redacted = false;  // a header value was replaced by kRedactedMarker
  // The request (method, target and authority also for CONNECT and WebSocket).
  std::string method, scheme, authority, target;
  unsigned version = 11;
  CapturedMessage request;
  unsigned status = 0;  // 0: no response reached the client
  CapturedMessage response;
  uint64_t bytes_in = 0, bytes_out = 0;  // sessions: bytes each way

  size_t approximateBytes() const;
};

inline constexpr std::string_view kRedactedMarker = "[redacted]";

// The record as one line of JSON (no newline).
std::string encodeRecord(const CaptureRecord& r);

// A record read back: "" when `v` is a well-formed record, else what is
// wrong with it (the forwarder refuses such a batch; export skips the line).
std::string validateRecord(const boost::json::value& v);

// RFC 3339 UTC with microseconds ("2026-12-02T11:20:00.123456Z").
std::string formatTimestamp(int64_t unix_us);
// The same form back (fraction optional, 'Z' only); false when malformed.
bool parseTimestamp(std::string_view s, int64_t& unix_us);

// RFC 4648 base64 with padding.
std::string base64Encode(std::string_view in);
// False on any character outside the alphabet or bad padding.
bool base64Decode(std::string_view in, std::string& out);

// A 128-bit record id as 32 lower-case hex digits, from two 64-bit values.
std::string recordId(uint64_t hi, uint64_t lo);

}  // namespace hawser::telemetry
