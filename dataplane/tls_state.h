// The TLS contexts one generation of certificate material produces. Built on
// the main thread, posted to workers; each connection keeps the contexts it
// was made with, so a rotation never frees one mid-connection.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/config/config.h"
#include "dataplane/tls/identity.h"

namespace hawser {

struct TlsState {
  std::shared_ptr<boost::asio::ssl::context> server;  // inbound: requires a client certificate
  std::shared_ptr<boost::asio::ssl::context> client;  // outbound: presents ours, verifies theirs
  std::string identity;                               // what this task proves
  tls::CertificateDescription certificate;
  std::vector<tls::CertificateDescription> cas;
  config::Tls files;
};

// Loads and validates the files and builds both contexts; null with `error`
// naming the file and the problem on failure.
std::shared_ptr<const TlsState> buildTlsState(const config::Tls& files, std::string& error);

// Modification stamps of the material's files, to notice a rotation.
struct TlsFileStamps {
  std::vector<std::pair<long, long>> stamps;  // (mtime ns, size) per file; (-1,-1) missing
  bool operator==(const TlsFileStamps&) const = default;
};
TlsFileStamps stampTlsFiles(const config::Tls& files);

}  // namespace hawser
