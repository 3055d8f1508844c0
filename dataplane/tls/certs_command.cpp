#include "dataplane/tls/certs_command.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <ostream>

#include "dataplane/tls/certificate_authority.h"
#include "dataplane/tls/identity.h"
#include "dataplane/tls/pem.h"

namespace hawser::tls {
namespace {

constexpr int kOk = 0;
constexpr int kRuntimeFailure = 1;
constexpr int kUsage = 2;

const char* kCertsHelp =
    "usage: hawser certs <ca|issue|revoke> [options]\n"
    "\n"
    "Development certificates for mutual TLS (EC P-256, SHA-256).\n"
    "  ca      create a certificate authority: DIR/ca.pem, DIR/ca-key.pem\n"
    "  issue   issue a workload certificate signed by a CA\n"
    "  revoke  write a CRL revoking the given certificates\n"
    "\n"
    "Run 'hawser certs <command> --help' for the options of a command.\n";

const char* kCaHelp =
    "usage: hawser certs ca --out DIR [--days N] [--name CN]\n"
    "\n"
    "  --out DIR    directory for ca.pem and ca-key.pem (created if missing; files replaced)\n"
    "  --days N     validity in days (default 3650)\n"
    "  --name CN    subject common name (default \"hawser development CA\")\n";

const char* kIssueHelp =
    "usage: hawser certs issue --ca DIR --out DIR --name NAME --spiffe spiffe://NS/SVC\n"
    "                          [--dns NAME]... [--ip ADDR]... [--days N | --expired]\n"
    "                          [--not-before-days N]\n"
    "\n"
    "  --ca DIR             directory holding ca.pem and ca-key.pem (the signer)\n"
    "  --out DIR            directory for NAME.pem (leaf, then the CA chain) and NAME-key.pem (mode 0600)\n"
    "  --name NAME          file name and subject common name\n"
    "  --spiffe URI         SPIFFE ID as a URI SAN (repeatable; a --spiffe or --dns is required)\n"
    "  --dns NAME           DNS SAN (repeatable)\n"
    "  --ip ADDR            IP SAN, IPv4 or IPv6 (repeatable)\n"
    "  --days N             valid for N days from now (default 365)\n"
    "  --expired            valid from 30 days ago until yesterday (for tests)\n"
    "  --not-before-days N  valid from N days from now (N > 0: not yet valid; default: 5 minutes ago)\n";

const char* kRevokeHelp =
    "usage: hawser certs revoke --ca DIR --out FILE [--serial-from CERT.pem]... [--days N]\n"
    "\n"
    "  --ca DIR               directory holding ca.pem and ca-key.pem (the CRL signer)\n"
    "  --out FILE             the CRL to write (PEM)\n"
    "  --serial-from CERT...  revoke the (first) certificate in each file; several files may\n"
    "                         follow one flag. None: an empty CRL.\n"
    "  --days N               next update in N days (default 30)\n";

struct UsageError {
  std::string message;
};

bool wantsHelp(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

// A small flag reader: --flag VALUE, repeatable where the caller loops.
class Flags {
 public:
  explicit Flags(const std::vector<std::string>& args) : args_(args) {}
  bool done() const { return i_ >= args_.size(); }
  const std::string& peek() const { return args_[i_]; }
  void skip() { ++i_; }
  std::string value(const std::string& flag) {
    if (i_ + 1 >= args_.size() || args_[i_ + 1].rfind("--", 0) == 0) throw UsageError{flag + " needs a value"};
    i_ += 2;
    return args_[i_ - 1];
  }
  // Values up to the next flag (at least one).
  std::vector<std::string> values(const std::string& flag) {
    std::vector<std::string> out;
    ++i_;
    while (i_ < args_.size() && args_[i_].rfind("--", 0) != 0) out.push_back(args_[i_++]);
    if (out.empty()) throw UsageError{flag + " needs at least one value"};
    return out;
  }

 private:
  const std::vector<std::string>& args_;
  size_t i_ = 0;
};

long parseDays(const std::string& flag, const std::string& text, long min, long max) {
  long v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < min || v > max) {
    throw UsageError{flag + " must be a whole number of days in " + std::to_string(min) + ".." + std::to_string(max) +
                     ", got '" + text + "'"};
  }
  return v;
}

std::chrono::seconds days(long n) {
  return std::chrono::hours(24 * n);
}

// Creates `dir` and its parents (like mkdir -p).
void ensureDirectory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw CertificateError(dir + ": cannot create directory: " + ec.message());
  if (!std::filesystem::is_directory(dir, ec)) throw CertificateError(dir + ": not a directory");
}

std::string readOrThrow(const std::string& path) {
  std::string text, error;
  if (!readWholeFile(path, text, error)) throw CertificateError(path + ": unreadable: " + error);
  return text;
}

struct LoadedCa {
  CertifiedKey ca;
  std::string chain_pem;  // ca.pem as written (the CA, or an intermediate and its chain)
};

LoadedCa loadCa(const std::string& dir) {
  LoadedCa out;
  const std::string cert_path = dir + "/ca.pem", key_path = dir + "/ca-key.pem";
  out.chain_pem = readOrThrow(cert_path);
  auto certs = certificatesFromPem(out.chain_pem);
  if (certs.empty()) throw CertificateError(cert_path + ": no certificate found");
  std::string key_text = readOrThrow(key_path);
  out.ca.key = privateKeyFromPem(key_text);
  if (!out.ca.key) throw CertificateError(key_path + ": no parsable private key");
  out.ca.cert = std::move(certs.front());
  if (X509_check_private_key(out.ca.cert.get(), out.ca.key.get()) != 1) {
    throw CertificateError(key_path + " does not match " + cert_path);
  }
  if (X509_check_ca(out.ca.cert.get()) == 0) throw CertificateError(cert_path + ": not a CA certificate");
  return out;
}

int caCommand(const std::vector<std::string>& args, std::ostream& out) {
  std::string dir;
  CaOptions options;
  Flags f(args);
  while (!f.done()) {
    const std::string flag = f.peek();
    if (flag == "--out")
      dir = f.value(flag);
    else if (flag == "--days")
      options.validity.not_after = days(parseDays(flag, f.value(flag), 1, 36500));
    else if (flag == "--name")
      options.common_name = f.value(flag);
    else
      throw UsageError{"unknown option '" + flag + "'"};
  }
  if (dir.empty()) throw UsageError{"--out DIR is required"};
  if (options.common_name.empty() || options.common_name.size() > 64) throw UsageError{"--name must be 1..64 bytes"};

  CertifiedKey ca = createCertificateAuthority(options);
  ensureDirectory(dir);
  writeFileAtomically(dir + "/ca-key.pem", privateKeyToPem(ca.key.get()), FileSecrecy::kPrivate);
  writeFileAtomically(dir + "/ca.pem", certificateToPem(ca.cert.get()), FileSecrecy::kPublic);
  out << "wrote " << dir << "/ca.pem and " << dir << "/ca-key.pem\n";
  return kOk;
}

int issueCommand(const std::vector<std::string>& args, std::ostream& out) {
  std::string ca_dir, out_dir, name;
  WorkloadOptions options;
  std::optional<long> valid_days, not_before_days;
  bool expired = false;
  Flags f(args);
  while (!f.done()) {
    const std::string flag = f.peek();
    if (flag == "--ca")
      ca_dir = f.value(flag);
    else if (flag == "--out")
      out_dir = f.value(flag);
    else if (flag == "--name")
      name = f.value(flag);
    else if (flag == "--spiffe")
      options.uris.push_back(f.value(flag));
    else if (flag == "--dns")
      options.dns_names.push_back(f.value(flag));
    else if (flag == "--ip")
      options.ip_addresses.push_back(f.value(flag));
    else if (flag == "--days")
      valid_days = parseDays(flag, f.value(flag), 1, 36500);
    else if (flag == "--not-before-days")
      not_before_days = parseDays(flag, f.value(flag), -36500, 36500);
    else if (flag == "--expired") {
      expired = true;
      f.skip();
    } else
      throw UsageError{"unknown option '" + flag + "'"};
  }
  if (ca_dir.empty()) throw UsageError{"--ca DIR is required"};
  if (out_dir.empty()) throw UsageError{"--out DIR is required"};
  if (name.empty()) throw UsageError{"--name NAME is required"};
  if (name.size() > 64 || name.find('/') != std::string::npos || name[0] == '.') {
    throw UsageError{"--name must be a plain file name of at most 64 bytes, got '" + name + "'"};
  }
  if (options.uris.empty() && options.dns_names.empty()) throw UsageError{"--spiffe or --dns is required"};
  for (const auto& uri : options.uris) {
    if (!isSpiffeId(uri) || uri.find('/', 9) == std::string::npos) {
      throw UsageError{"--spiffe must look like spiffe://<namespace>/<service>, got '" + uri + "'"};
    }
  }
  if (expired && valid_days) throw UsageError{"--days and --expired cannot be combined"};
  for (const auto& ip : options.ip_addresses) {
    ASN1_OCTET_STRING* parsed = a2i_IPADDRESS(ip.c_str());
    ERR_clear_error();
    ASN1_OCTET_STRING_free(parsed);
    if (parsed == nullptr) throw UsageError{"--ip must be an IPv4 or IPv6 address, got '" + ip + "'"};
  }

  options.common_name = name;
  if (expired) {
    options.validity.not_before = days(not_before_days.value_or(-30));
    options.validity.not_after = days(-1);
  } else {
    if (not_before_days) options.validity.not_before = days(*not_before_days);
    options.validity.not_after = days(valid_days.value_or(365));
  }
  if (options.validity.not_after <= options.validity.not_before) {
    throw UsageError{"the validity window is empty: not-after must be later than not-before"};
  }

  LoadedCa ca = loadCa(ca_dir);
  CertifiedKey leaf = issueWorkloadCertificate(ca.ca, options);
  ensureDirectory(out_dir);
  std::string chain = certificateToPem(leaf.cert.get());
  chain += ca.chain_pem;
  if (!chain.empty() && chain.back() != '\n') chain += '\n';
  // Key first: a watcher that sees the new certificate finds its key already there.
  writeFileAtomically(out_dir + "/" + name + "-key.pem", privateKeyToPem(leaf.key.get()), FileSecrecy::kPrivate);
  writeFileAtomically(out_dir + "/" + name + ".pem", chain, FileSecrecy::kPublic);
  out << "wrote " << out_dir << "/" << name << ".pem and " << out_dir << "/" << name << "-key.pem ("
      << peerIdentity(leaf.cert.get()).value_or("") << ")\n";
  return kOk;
}

int revokeCommand(const std::vector<std::string>& args, std::ostream& out) {
  std::string ca_dir, out_path;
  std::vector<std::string> cert_files;
  CrlOptions options;
  Flags f(args);
  while (!f.done()) {
    const std::string flag = f.peek();
    if (flag == "--ca")
      ca_dir = f.value(flag);
    else if (flag == "--out")
      out_path = f.value(flag);
    else if (flag == "--days")
      options.next_update = days(parseDays(flag, f.value(flag), 1, 3650));
    else if (flag == "--serial-from") {
      for (auto& v : f.values(flag)) cert_files.push_back(std::move(v));
    } else
      throw UsageError{"unknown option '" + flag + "'"};
  }
  if (ca_dir.empty()) throw UsageError{"--ca DIR is required"};
  if (out_path.empty()) throw UsageError{"--out FILE is required"};

  LoadedCa ca = loadCa(ca_dir);
  std::vector<X509Ptr> certs;
  for (const auto& path : cert_files) {
    auto found = certificatesFromPem(readOrThrow(path));
    if (found.empty()) throw CertificateError(path + ": no certificate found");
    certs.push_back(std::move(found.front()));
  }
  std::vector<const X509*> revoked;
  for (const auto& c : certs) revoked.push_back(c.get());
  X509CrlPtr crl = createCrl(ca.ca, revoked, options);
  writeFileAtomically(out_path, crlToPem(crl.get()), FileSecrecy::kPublic);
  out << "wrote " << out_path << " (" << revoked.size() << " revoked)\n";
  return kOk;
}

}  // namespace

int runCertsCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    if (args.empty()) {
      err << "hawser: certs needs a command\n\n" << kCertsHelp;
      return kUsage;
    }
    out << kCertsHelp;
    return kOk;
  }
  const std::string& command = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  const char* help = command == "ca"       ? kCaHelp
                     : command == "issue"  ? kIssueHelp
                     : command == "revoke" ? kRevokeHelp
                                           : nullptr;
  if (help == nullptr) {
    err << "hawser: unknown certs command '" << command << "'\n\n" << kCertsHelp;
    return kUsage;
  }
  if (wantsHelp(rest)) {
    out << help;
    return kOk;
  }
  try {
    if (command == "ca") return caCommand(rest, out);
    if (command == "issue") return issueCommand(rest, out);
    return revokeCommand(rest, out);
  } catch (const UsageError& e) {
    err << "hawser: certs " << command << ": " << e.message << "\n\n" << help;
    return kUsage;
  } catch (const std::exception& e) {
    err << "hawser: certs " << command << ": " << e.what() << "\n";
    return kRuntimeFailure;
  }
}

}  // namespace hawser::tls
