#include "dataplane/config/appmesh/import_command.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "dataplane/config/appmesh/appmesh_import.h"
#include "dataplane/config/config.h"

namespace hawser::config::appmesh {

namespace {

const char* kHelp =
    "usage: hawser import appmesh [--virtual-node NAME] FILE...\n"
    "\n"
    "Turns App Mesh descriptions (the JSON printed by `aws appmesh describe-virtual-node`,\n"
    "`describe-virtual-router`, `describe-route`, `describe-virtual-service`, `describe-mesh`\n"
    "and the `list-*` commands; one output per FILE, or a JSON array of them; - reads stdin)\n"
    "into the hawser configuration of one virtual node's sidecar, on stdout. Every App Mesh\n"
    "field that could not be mapped is listed on stderr as FILE: JSON.PATH: why.\n"
    "\n"
    "  --virtual-node NAME   the node whose sidecar is configured: NAME or\n"
    "                        mesh/<mesh>/virtualNode/<name> (default: $APPMESH_VIRTUAL_NODE_NAME)\n"
    "\n"
    "Environment: APPMESH_VIRTUAL_NODE_NAME (as above); ENABLE_ENVOY_XRAY_TRACING=1 adds tracing\n"
    "with X-Ray propagation (OTLP to a collector at 127.0.0.1:4318), XRAY_SAMPLING_RATE its\n"
    "sample ratio; AWS_REGION (else AWS_DEFAULT_REGION) the Cloud Map region when no ARN names one.\n"
    "\n"
    "Exit codes: 0 everything mapped; 3 the configuration was written but some fields were not\n"
    "mapped (listed on stderr); 2 bad usage, an unreadable file or input that is not App Mesh's;\n"
    "1 internal error.\n";

int usage(std::ostream& err, const std::string& message) {
  err << "hawser import: " << message << "\n\n" << kHelp;
  return kImportBadInput;
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

}  // namespace

int importMain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      out << kHelp;
      return kImportOk;
    }
  }
  if (args.empty()) return usage(err, "which format? (import appmesh)");
  if (args[0] != "appmesh") return usage(err, "unknown format '" + args[0] + "' (expected appmesh)");

  ImportOptions options;
  options.virtual_node = env("APPMESH_VIRTUAL_NODE_NAME");
  std::vector<std::string> files;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--virtual-node") {
      if (i + 1 >= args.size()) return usage(err, "--virtual-node needs a NAME");
      options.virtual_node = args[++i];
    } else if (args[i].rfind("--", 0) == 0) {
      return usage(err, "unknown option '" + args[i] + "'");
    } else {
      files.push_back(args[i]);
    }
  }
  if (options.virtual_node.empty()) {
    return usage(err, "which virtual node? pass --virtual-node NAME or set APPMESH_VIRTUAL_NODE_NAME");
  }
  if (files.empty()) return usage(err, "no input files (the JSON of `aws appmesh describe-*`)");
  options.xray_tracing = env("ENABLE_ENVOY_XRAY_TRACING") == "1";
  if (auto rate = env("XRAY_SAMPLING_RATE"); !rate.empty() && options.xray_tracing) {
    char* end = nullptr;
    double r = std::strtod(rate.c_str(), &end);
    if (end == rate.c_str() || *end != '\0' || !(r >= 0 && r <= 1)) {
      err << "hawser import: environment XRAY_SAMPLING_RATE: expected a number between 0 and 1, got \"" << rate
          << "\"\n";
      return kImportBadInput;
    }
    options.xray_sampling_rate = r;
  }
  if (auto region = env("AWS_REGION"); !region.empty()) {
    options.default_region = region;
  } else if (auto fallback = env("AWS_DEFAULT_REGION"); !fallback.empty()) {
    options.default_region = fallback;
  }

  std::vector<InputDocument> documents;
  for (const auto& f : files) {
    std::stringstream text;
    if (f == "-") {
      text << std::cin.rdbuf();
    } else {
      std::ifstream in(f);
      if (!in) {
        err << "hawser import: " << f << ": cannot read the file (" << std::strerror(errno) << ")\n";
        return kImportBadInput;
      }
      text << in.rdbuf();
    }
    documents.push_back({f == "-" ? "(stdin)" : f, text.str()});
  }

  auto outcome = importAppMesh(documents, options);
  if (auto* e = std::get_if<InputError>(&outcome)) {
    err << "hawser import: " << e->source << ": " << (e->path.empty() ? "" : e->path + ": ") << e->message << "\n";
    return kImportBadInput;
  }
  auto& result = std::get<ImportResult>(outcome);
  try {
    // The importer's output must always be a valid configuration; anything else is a bug here.
    (void)loadText(result.yaml, "(generated configuration)");
  } catch (const ConfigError& e) {
    err << "hawser import: internal error: the generated configuration does not validate: " << e.what() << "\n";
    return kImportFailed;
  }
  out << result.yaml;
  out.flush();
  for (const auto& f : result.findings) {
    err << f.source << ": " << f.path << ": " << (f.note ? "note: " : "") << f.message << "\n";
  }
  if (result.unmapped > 0) {
    err << "hawser import: " << result.unmapped << " App Mesh field" << (result.unmapped == 1 ? " was" : "s were")
        << " not mapped (listed above); the configuration on stdout leaves " << (result.unmapped == 1 ? "it" : "them")
        << " out\n";
    return kImportIncomplete;
  }
  return kImportOk;
}

}  // namespace hawser::config::appmesh
