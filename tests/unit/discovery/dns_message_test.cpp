// The raw DNS answer reader (discovery/dns/dns_message.h), on messages built
// byte by byte: header flags, compression pointers, SRV/A/AAAA/CNAME/SOA
// rdata, TTLs, and malformed input.
#include "discovery/dns/dns_message.h"

#include <ares.h>

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hawser::discovery::dns {
namespace {

using Bytes = std::vector<std::uint8_t>;

void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
void put32(Bytes& b, std::uint32_t v) {
  put16(b, static_cast<std::uint16_t>(v >> 16));
  put16(b, static_cast<std::uint16_t>(v));
}
// Uncompressed name.
void putName(Bytes& b, const std::string& name) {
  std::size_t start = 0;
  while (start < name.size()) {
    auto dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    b.push_back(static_cast<std::uint8_t>(dot - start));
    b.insert(b.end(), name.begin() + static_cast<long>(start), name.begin() + static_cast<long>(dot));
    start = dot + 1;
  }
  b.push_back(0);
}
void putPointer(Bytes& b, std::uint16_t offset) {
  put16(b, static_cast<std::uint16_t>(0xC000 | offset));
}
Bytes header(std::uint16_t flags, std::uint16_t qd, std::uint16_t an, std::uint16_t ns = 0, std::uint16_t ar = 0) {
  Bytes b;
  put16(b, 0x1234);
  put16(b, flags);
  put16(b, qd);
  put16(b, an);
  put16(b, ns);
  put16(b, ar);
  return b;
}
void putQuestion(Bytes& b, const std::string& name, std::uint16_t type) {
  putName(b, name);
  put16(b, type);
  put16(b, kClassIn);
}
// Record header with the owner as a pointer to offset 12 (the question name).
void putRrHeader(Bytes& b, std::uint16_t type, std::uint32_t ttl, std::uint16_t rdlength, std::uint16_t owner = 12) {
  putPointer(b, owner);
  put16(b, type);
  put16(b, kClassIn);
  put32(b, ttl);
  put16(b, rdlength);
}

DnsMessage ok(const std::variant<DnsMessage, std::string>& parsed) {
  if (auto* e = std::get_if<std::string>(&parsed)) ADD_FAILURE() << "parse error: " << *e;
  auto* m = std::get_if<DnsMessage>(&parsed);
  return m ? *m : DnsMessage{};
}

// An SRV answer as dnsmasq sends one: two SRV records whose targets are
// written once in full and once compressed, plus an A in the additional section.
Bytes srvAnswer() {
  Bytes b = header(0x8580, 1, 2, 0, 1);
  putQuestion(b, "_http._tcp.Svc.Test", kTypeSrv);  // name at 12
  // SRV 1: target written out in full: "a" + pointer to "svc.test" in the question.
  // Question name layout: 12:"_http"(6) 18:"_tcp"(5) 23:"svc"(4) 27:"test"(5) 32:0
  putRrHeader(b, kTypeSrv, 30, 6 + 2 + 2);
  put16(b, 10);    // priority
  put16(b, 20);    // weight
  put16(b, 8081);  // port
  std::size_t target1 = b.size();
  b.push_back(1);
  b.push_back('a');
  putPointer(b, 23);
  // SRV 2: target "b.svc.test" with a smaller TTL.
  putRrHeader(b, kTypeSrv, 7, 6 + 2 + 2);
  put16(b, 0);
  put16(b, 5);
  put16(b, 8082);
  b.push_back(1);
  b.push_back('b');
  putPointer(b, 23);
  // Additional: A for a.svc.test (owner: pointer to target 1).
  putRrHeader(b, kTypeA, 3, 4, static_cast<std::uint16_t>(target1));
  b.insert(b.end(), {10, 0, 0, 1});
  return b;
}

TEST(DnsMessage, SrvRecordsWithCompressedTargetsAndTtls) {
  auto bytes = srvAnswer();
  auto parsed = parseDnsMessage(bytes);
  auto m = ok(parsed);
  EXPECT_TRUE(m.response);
  EXPECT_FALSE(m.truncated);
  EXPECT_EQ(m.rcode, kRcodeNoError);
  EXPECT_EQ(m.question_name, "_http._tcp.svc.test");
  EXPECT_EQ(m.question_type, kTypeSrv);
  ASSERT_EQ(m.answers.size(), 2u);
  EXPECT_EQ(m.answers[0].name, "_http._tcp.svc.test");
  EXPECT_EQ(m.answers[0].target, "a.svc.test");
  EXPECT_EQ(m.answers[0].ttl, 30u);
  ASSERT_EQ(m.additional.size(), 1u);
  EXPECT_EQ(m.additional[0].name, "a.svc.test");
  EXPECT_EQ(m.additional[0].address, "10.0.0.1");

  auto srv = extractSrv(m, "_HTTP._tcp.svc.test.");
  ASSERT_EQ(srv.size(), 2u);
  EXPECT_EQ(srv[0].target, "a.svc.test");
  EXPECT_EQ(srv[0].priority, 10);
  EXPECT_EQ(srv[0].weight, 20);
  EXPECT_EQ(srv[0].port, 8081);
  EXPECT_EQ(srv[0].ttl, 30u);
  EXPECT_EQ(srv[1].target, "b.svc.test");
  EXPECT_EQ(srv[1].port, 8082);
  EXPECT_EQ(srv[1].ttl, 7u);
  // Not the name asked for: nothing.
  EXPECT_TRUE(extractSrv(m, "_grpc._tcp.svc.test").empty());
}

TEST(DnsMessage, AgreesWithCaresSrvParser) {
  auto bytes = srvAnswer();
  ares_srv_reply* reply = nullptr;
  ASSERT_EQ(ares_parse_srv_reply(bytes.data(), static_cast<int>(bytes.size()), &reply), ARES_SUCCESS);
  auto srv = extractSrv(ok(parseDnsMessage(bytes)), "_http._tcp.svc.test");
  std::size_t i = 0;
  for (auto* r = reply; r; r = r->next, ++i) {
    ASSERT_LT(i, srv.size());
    EXPECT_EQ(srv[i].target, normalizeDnsName(r->host));
    EXPECT_EQ(srv[i].port, r->port);
    EXPECT_EQ(srv[i].priority, r->priority);
    EXPECT_EQ(srv[i].weight, r->weight);
  }
  EXPECT_EQ(i, srv.size());
  ares_free_data(reply);
}

TEST(DnsMessage, AddressesFollowCnameChainWithMinimumTtl) {
  Bytes b = header(0x8180, 1, 4);
  putQuestion(b, "www.example", kTypeA);  // 12: "www"(4) 16:"example"(8) 24:0
  // www.example CNAME edge.example (ttl 60)
  putRrHeader(b, kTypeCname, 60, 7);
  std::size_t edge = b.size();
  b.push_back(4);
  b.insert(b.end(), {'e', 'd', 'g', 'e'});
  putPointer(b, 16);
  // edge.example A 192.0.2.1 (ttl 120), A 192.0.2.2 (ttl 90), duplicate 192.0.2.1
  putRrHeader(b, kTypeA, 120, 4, static_cast<std::uint16_t>(edge));
  b.insert(b.end(), {192, 0, 2, 1});
  putRrHeader(b, kTypeA, 90, 4, static_cast<std::uint16_t>(edge));
  b.insert(b.end(), {192, 0, 2, 2});
  putRrHeader(b, kTypeA, 100, 4, static_cast<std::uint16_t>(edge));
  b.insert(b.end(), {192, 0, 2, 1});
  auto m = ok(parseDnsMessage(b));
  auto a = extractAddresses(m, "www.example", kTypeA);
  EXPECT_EQ(a.addresses, (std::vector<std::string>{"192.0.2.1", "192.0.2.2"}));
  EXPECT_EQ(a.ttl, 60u);  // the CNAME's
  EXPECT_TRUE(extractAddresses(m, "www.example", kTypeAaaa).addresses.empty());
  EXPECT_EQ(extractAddresses(m, "www.example", kTypeAaaa).ttl, 0u);

  // Cross-check against c-ares' own A parser (addrttls).
  ares_addrttl ttls[4];
  int n = 4;
  ASSERT_EQ(ares_parse_a_reply(b.data(), static_cast<int>(b.size()), nullptr, ttls, &n), ARES_SUCCESS);
  ASSERT_GE(n, 2);
  EXPECT_EQ(ttls[0].ttl, 60);
}

TEST(DnsMessage, AaaaRecord) {
  Bytes b = header(0x8180, 1, 1);
  putQuestion(b, "v6.test", kTypeAaaa);
  putRrHeader(b, kTypeAaaa, 5, 16);
  b.insert(b.end(), {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01});
  auto a = extractAddresses(ok(parseDnsMessage(b)), "v6.test", kTypeAaaa);
  EXPECT_EQ(a.addresses, (std::vector<std::string>{"2001:db8::1"}));
  EXPECT_EQ(a.ttl, 5u);
}

TEST(DnsMessage, NxdomainWithSoaGivesNegativeTtl) {
  Bytes b = header(0x8583, 1, 0, 1);
  putQuestion(b, "nx.svc.test", kTypeA);  // 12:"nx"(3) 15:"svc"(4) 19:"test"(5) 24:0
  putPointer(b, 15);
  put16(b, kTypeSoa);
  put16(b, kClassIn);
  put32(b, 600);
  Bytes rdata;
  putName(rdata, "ns.svc.test");
  putName(rdata, "admin.svc.test");
  put32(rdata, 1);     // serial
  put32(rdata, 3600);  // refresh
  put32(rdata, 600);   // retry
  put32(rdata, 86400);
  put32(rdata, 45);  // minimum
  put16(b, static_cast<std::uint16_t>(rdata.size()));
  b.insert(b.end(), rdata.begin(), rdata.end());
  auto m = ok(parseDnsMessage(b));
  EXPECT_EQ(m.rcode, kRcodeNxDomain);
  EXPECT_TRUE(m.answers.empty());
  ASSERT_EQ(m.authority.size(), 1u);
  EXPECT_EQ(m.authority[0].name, "svc.test");
  EXPECT_EQ(negativeTtl(m), 45u);
}

TEST(DnsMessage, SrvRootTargetMeansNoService) {
  Bytes b = header(0x8180, 1, 1);
  putQuestion(b, "_x._tcp.t", kTypeSrv);
  putRrHeader(b, kTypeSrv, 10, 7);
  put16(b, 0);
  put16(b, 0);
  put16(b, 0);
  b.push_back(0);  // "."
  auto srv = extractSrv(ok(parseDnsMessage(b)), "_x._tcp.t");
  ASSERT_EQ(srv.size(), 1u);
  EXPECT_EQ(srv[0].target, "");
}

TEST(DnsMessage, TopBitTtlIsZero) {
  Bytes b = header(0x8180, 1, 1);
  putQuestion(b, "t.test", kTypeA);
  putRrHeader(b, kTypeA, 0x80000001u, 4);
  b.insert(b.end(), {1, 2, 3, 4});
  EXPECT_EQ(extractAddresses(ok(parseDnsMessage(b)), "t.test", kTypeA).ttl, 0u);
}

TEST(DnsMessage, UnknownTypesAndClassesAreSkipped) {
  Bytes b = header(0x8180, 1, 2);
  putQuestion(b, "t.test", kTypeA);
  putRrHeader(b, 16 /* TXT */, 10, 3);
  b.insert(b.end(), {2, 'h', 'i'});
  putRrHeader(b, kTypeA, 9, 4);
  b.insert(b.end(), {1, 2, 3, 4});
  auto m = ok(parseDnsMessage(b));
  ASSERT_EQ(m.answers.size(), 2u);
  EXPECT_EQ(m.answers[0].type, 16);
  EXPECT_EQ(extractAddresses(m, "t.test", kTypeA).addresses, (std::vector<std::string>{"1.2.3.4"}));
}

TEST(DnsMessage, MalformedMessagesAreErrors) {
  auto isError = [](const Bytes& b) { return std::holds_alternative<std::string>(parseDnsMessage(b)); };
  EXPECT_TRUE(isError({}));
  EXPECT_TRUE(isError(Bytes(11, 0)));

  // Answer count larger than what follows.
  Bytes truncated = header(0x8180, 1, 2);
  putQuestion(truncated, "t.test", kTypeA);
  putRrHeader(truncated, kTypeA, 9, 4);
  truncated.insert(truncated.end(), {1, 2, 3, 4});
  EXPECT_TRUE(isError(truncated));

  // rdlength past the end.
  Bytes overrun = header(0x8180, 1, 1);
  putQuestion(overrun, "t.test", kTypeA);
  putRrHeader(overrun, kTypeA, 9, 40);
  overrun.insert(overrun.end(), {1, 2, 3, 4});
  EXPECT_TRUE(isError(overrun));

  // A with the wrong rdlength.
  Bytes shortA = header(0x8180, 1, 1);
  putQuestion(shortA, "t.test", kTypeA);
  putRrHeader(shortA, kTypeA, 9, 3);
  shortA.insert(shortA.end(), {1, 2, 3});
  EXPECT_TRUE(isError(shortA));

  // A compression pointer to itself (a loop).
  Bytes loop = header(0x8180, 1, 0);
  put16(loop, 0xC000 | 12);
  put16(loop, kTypeA);
  put16(loop, kClassIn);
  EXPECT_TRUE(isError(loop));

  // Two pointers pointing at each other.
  Bytes pingpong = header(0x8180, 1, 1);
  putQuestion(pingpong, "t.test", kTypeA);  // ends at 12 + 8 + 4 = 24
  putPointer(pingpong, 26);                 // at 24 -> 26
  putPointer(pingpong, 24);                 // at 26 -> 24
  put16(pingpong, kTypeA);
  put16(pingpong, kClassIn);
  put32(pingpong, 1);
  put16(pingpong, 4);
  pingpong.insert(pingpong.end(), {1, 2, 3, 4});
  EXPECT_TRUE(isError(pingpong));

  // SRV whose target runs past its rdata.
  Bytes srv = header(0x8180, 1, 1);
  putQuestion(srv, "_x._tcp.t", kTypeSrv);
  putRrHeader(srv, kTypeSrv, 10, 8);
  put16(srv, 0);
  put16(srv, 0);
  put16(srv, 80);
  srv.push_back(3);
  srv.push_back('a');  // label claims 3 octets, rdata ends
  EXPECT_TRUE(isError(srv));

  // A label longer than 63 (0x40 prefix: unsupported label type).
  Bytes label = header(0x8180, 1, 0);
  label.push_back(0x40);
  label.push_back(0);
  put16(label, kTypeA);
  put16(label, kClassIn);
  EXPECT_TRUE(isError(label));

  // A name longer than 255 octets.
  Bytes longName = header(0x8180, 1, 0);
  for (int i = 0; i < 5; ++i) {
    longName.push_back(63);
    longName.insert(longName.end(), 63, 'x');
  }
  longName.push_back(0);
  put16(longName, kTypeA);
  put16(longName, kClassIn);
  EXPECT_TRUE(isError(longName));
}

TEST(DnsMessage, TruncatedFlagToleratesMissingTrailingSections) {
  Bytes b = header(0x8380, 1, 1, 3);  // TC set, claims 3 authority records
  putQuestion(b, "t.test", kTypeA);
  putRrHeader(b, kTypeA, 9, 4);
  b.insert(b.end(), {1, 2, 3, 4});
  auto m = ok(parseDnsMessage(b));
  EXPECT_TRUE(m.truncated);
  EXPECT_EQ(m.answers.size(), 1u);
}

// Found by fuzz/dns_answer: the header's counts were reserved as claimed, so a
// 12-byte message made the parser allocate room for 3 x 65535 records.
TEST(DnsMessage, RecordCountsDoNotDriveAllocation) {
  Bytes b = header(0x8380, 1, 0xFFFF, 0xFFFF, 0xFFFF);  // TC set: the sections may end early
  putQuestion(b, "t.test", kTypeA);
  EXPECT_TRUE(std::holds_alternative<std::string>(parseDnsMessage(b)));  // the answers claimed are not there
  Bytes one = header(0x8380, 1, 1, 0xFFFF, 0xFFFF);
  putQuestion(one, "t.test", kTypeA);
  putRrHeader(one, kTypeA, 9, 4);
  one.insert(one.end(), {1, 2, 3, 4});
  auto parsed = parseDnsMessage(one);  // not through ok(): a copy would not keep the capacity
  const auto* m = std::get_if<DnsMessage>(&parsed);
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->answers.size(), 1u);
  EXPECT_LE(m->answers.capacity(), 4u);
  EXPECT_LE(m->authority.capacity(), 4u);
  EXPECT_LE(m->additional.capacity(), 4u);
}

TEST(DnsMessage, NormalizeName) {
  EXPECT_EQ(normalizeDnsName("A.Svc.TEST."), "a.svc.test");
  EXPECT_EQ(normalizeDnsName("."), "");
  EXPECT_EQ(normalizeDnsName("x"), "x");
}

}  // namespace
}  // namespace hawser::discovery::dns
