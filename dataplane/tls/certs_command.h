// `hawser certs`: a development CA, workload certificates and CRLs on disk.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace hawser::tls {

// `args` are the words after "certs". Returns the process exit code: 0 ok,
// 2 bad usage (message and help on `err`), 1 runtime failure (files).
int runCertsCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace hawser::tls
