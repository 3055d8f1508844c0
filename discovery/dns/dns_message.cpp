#include "discovery/dns/dns_message.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <set>

namespace hawser::discovery::dns {
namespace {

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> b) : bytes_(b) {}

  bool u8(std::size_t at, std::uint8_t& v) const {
    if (at >= bytes_.size()) return false;
    v = bytes_[at];
    return true;
  }
  bool u16(std::size_t at, std::uint16_t& v) const {
    if (at + 2 > bytes_.size()) return false;
    v = static_cast<std::uint16_t>((bytes_[at] << 8) | bytes_[at + 1]);
    return true;
  }
  bool u32(std::size_t at, std::uint32_t& v) const {
    if (at + 4 > bytes_.size()) return false;
    v = (std::uint32_t{bytes_[at]} << 24) | (std::uint32_t{bytes_[at + 1]} << 16) |
        (std::uint32_t{bytes_[at + 2]} << 8) | std::uint32_t{bytes_[at + 3]};
    return true;
  }
  std::size_t size() const { return bytes_.size(); }
  const std::uint8_t* data() const { return bytes_.data(); }

  // Reads a possibly compressed name at `at`; `next` is set past the name as
  // it appears at `at` (i.e. after the first pointer, if any).
  bool name(std::size_t at, std::string& out, std::size_t& next) const {
    out.clear();
    std::size_t pos = at;
    bool jumped = false;
    std::size_t wire_len = 0;  // octets of the uncompressed name, incl. length bytes
    std::size_t limit = at;    // a pointer must point strictly before this
    for (;;) {
      std::uint8_t len;
      if (!u8(pos, len)) return false;
      if ((len & 0xC0) == 0xC0) {
        std::uint8_t low;
        if (!u8(pos + 1, low)) return false;
        std::size_t target = (std::size_t{len & 0x3Fu} << 8) | low;
        if (!jumped) next = pos + 2;
        jumped = true;
        if (target >= limit) return false;  // forward or self pointer: could loop
        limit = target;
        pos = target;
        continue;
      }
      if ((len & 0xC0) != 0) return false;  // 0x40 / 0x80: extended label types, unsupported
      if (len == 0) {
        if (!jumped) next = pos + 1;
        return wire_len + 1 <= 255;
      }
      if (pos + 1 + len > bytes_.size()) return false;
      wire_len += 1 + len;
      if (wire_len + 1 > 255) return false;
      if (!out.empty()) out.push_back('.');
      for (std::size_t i = 0; i < len; ++i) {
        out.push_back(static_cast<char>(std::tolower(bytes_[pos + 1 + i])));
      }
      pos += 1 + len;
    }
  }

 private:
  std::span<const std::uint8_t> bytes_;
};

std::string formatAddress(int family, const std::uint8_t* p) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (!inet_ntop(family, p, buf, sizeof buf)) return {};
  return buf;
}

// Parses one resource record at `pos`; advances `pos`.
bool parseRecord(const Reader& r, std::size_t& pos, DnsRecord& rec, std::string& error) {
  std::size_t next = 0;
  if (!r.name(pos, rec.name, next)) {
    error = "bad owner name at offset " + std::to_string(pos);
    return false;
  }
  pos = next;
  std::uint16_t rdlength;
  if (!r.u16(pos, rec.type) || !r.u16(pos + 2, rec.klass) || !r.u32(pos + 4, rec.ttl) || !r.u16(pos + 8, rdlength)) {
    error = "truncated record header";
    return false;
  }
  // RFC 2181 8: a TTL with the top bit set is treated as zero.
  if (rec.ttl > 0x7FFFFFFFu) rec.ttl = 0;
  pos += 10;
  std::size_t rdata = pos;
  if (rdata + rdlength > r.size()) {
    error = "rdata runs past the end of the message";
    return false;
  }
  pos = rdata + rdlength;
  if (rec.klass != kClassIn) return true;
  switch (rec.type) {
    case kTypeA:
      if (rdlength != 4) {
        error = "A record with rdlength " + std::to_string(rdlength);
        return false;
      }
      rec.address = formatAddress(AF_INET, r.data() + rdata);
      break;
    case kTypeAaaa:
      if (rdlength != 16) {
        error = "AAAA record with rdlength " + std::to_string(rdlength);
        return false;
      }
      rec.address = formatAddress(AF_INET6, r.data() + rdata);
      break;
    case kTypeCname: {
      std::size_t end = 0;
      if (!r.name(rdata, rec.target, end) || end > pos) {
        error = "bad CNAME target";
        return false;
      }
      break;
    }
    case kTypeSrv: {
      std::size_t end = 0;
      if (rdlength < 7 || !r.u16(rdata, rec.priority) || !r.u16(rdata + 2, rec.weight) || !r.u16(rdata + 4, rec.port) ||
          !r.name(rdata + 6, rec.target, end) || end != pos) {
        error = "bad SRV rdata";
        return false;
      }
      break;
    }
    case kTypeSoa: {
      std::string ignored;
      std::size_t after_mname = 0, after_rname = 0;
      if (!r.name(rdata, ignored, after_mname) || !r.name(after_mname, ignored, after_rname) ||
          after_rname + 20 != pos || !r.u32(after_rname + 16, rec.soa_minimum)) {
        error = "bad SOA rdata";
        return false;
      }
      break;
    }
    default: break;
  }
  return true;
}

// Follows the CNAME chain from `qname` through the answer section; returns
// the names in the chain (qname first) and the minimum CNAME TTL.
std::vector<std::string> cnameChain(const DnsMessage& m, std::string_view qname, std::uint32_t& min_ttl) {
  std::vector<std::string> chain{normalizeDnsName(qname)};
  min_ttl = std::numeric_limits<std::uint32_t>::max();
  for (std::size_t hops = 0; hops < 16; ++hops) {
    const DnsRecord* cname = nullptr;
    for (const auto& rec : m.answers) {
      if (rec.type == kTypeCname && rec.klass == kClassIn && rec.name == chain.back()) {
        cname = &rec;
        break;
      }
    }
    if (!cname || std::find(chain.begin(), chain.end(), cname->target) != chain.end()) break;
    min_ttl = std::min(min_ttl, cname->ttl);
    chain.push_back(cname->target);
  }
  return chain;
}

}  // namespace

std::string normalizeDnsName(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string out(name);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::variant<DnsMessage, std::string> parseDnsMessage(std::span<const std::uint8_t> bytes) {
  Reader r(bytes);
  DnsMessage m;
  std::uint16_t flags, qdcount, ancount, nscount, arcount;
  if (!r.u16(0, m.id) || !r.u16(2, flags) || !r.u16(4, qdcount) || !r.u16(6, ancount) || !r.u16(8, nscount) ||
      !r.u16(10, arcount)) {
    return std::string("message shorter than a DNS header");
  }
  m.response = (flags & 0x8000) != 0;
  m.truncated = (flags & 0x0200) != 0;
  m.rcode = static_cast<std::uint8_t>(flags & 0x000F);
  std::size_t pos = 12;
  for (std::uint16_t i = 0; i < qdcount; ++i) {
    std::string qname;
    std::size_t next = 0;
    std::uint16_t qtype, qclass;
    if (!r.name(pos, qname, next) || !r.u16(next, qtype) || !r.u16(next + 2, qclass)) {
      return std::string("bad question section");
    }
    if (i == 0) {
      m.question_name = std::move(qname);
      m.question_type = qtype;
    }
    pos = next + 4;
  }
  std::string error;
  auto section = [&](std::uint16_t count, std::vector<DnsRecord>& out) {
    // The counts are the sender's claim: a 12-byte header may announce 65535
    // records per section. Every record takes at least 11 octets (a root name
    // and the fixed fields), so reserve no more than the bytes left can hold.
    out.reserve(std::min<std::size_t>(count, (r.size() - std::min(pos, r.size())) / 11));
    for (std::uint16_t i = 0; i < count; ++i) {
      DnsRecord rec;
      if (!parseRecord(r, pos, rec, error)) return false;
      out.push_back(std::move(rec));
    }
    return true;
  };
  if (!section(ancount, m.answers)) return "answer section: " + error;
  // A truncated message may legitimately end early after the answers.
  if (!section(nscount, m.authority) && !m.truncated) return "authority section: " + error;
  if (!section(arcount, m.additional) && !m.truncated) return "additional section: " + error;
  return m;
}

std::vector<SrvAnswer> extractSrv(const DnsMessage& message, std::string_view qname) {
  std::uint32_t cname_ttl = 0;
  auto chain = cnameChain(message, qname, cname_ttl);
  std::vector<SrvAnswer> out;
  for (const auto& rec : message.answers) {
    if (rec.type != kTypeSrv || rec.klass != kClassIn) continue;
    if (std::find(chain.begin(), chain.end(), rec.name) == chain.end()) continue;
    out.push_back(SrvAnswer{rec.target, rec.priority, rec.weight, rec.port, std::min(rec.ttl, cname_ttl)});
  }
  return out;
}

AddressAnswer extractAddresses(const DnsMessage& message, std::string_view qname, std::uint16_t type) {
  std::uint32_t ttl = 0;
  auto chain = cnameChain(message, qname, ttl);
  AddressAnswer out;
  std::set<std::string> seen;
  for (const auto& rec : message.answers) {
    if (rec.type != type || rec.klass != kClassIn || rec.address.empty()) continue;
    if (std::find(chain.begin(), chain.end(), rec.name) == chain.end()) continue;
    ttl = std::min(ttl, rec.ttl);
    if (seen.insert(rec.address).second) out.addresses.push_back(rec.address);
  }
  out.ttl = out.addresses.empty() ? 0 : ttl;
  return out;
}

std::optional<std::uint32_t> negativeTtl(const DnsMessage& message) {
  for (const auto& rec : message.authority) {
    if (rec.type == kTypeSoa && rec.klass == kClassIn) return std::min(rec.ttl, rec.soa_minimum);
  }
  return std::nullopt;
}

}  // namespace hawser::discovery::dns
