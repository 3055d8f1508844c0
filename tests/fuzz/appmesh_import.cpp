// `hawser import appmesh` on untrusted App Mesh JSON (dataplane/config/appmesh/):
// the importer on any documents, then the contract import_command.cpp relies
// on: a configuration the importer writes always passes the config loader (a
// ConfigError there is exit 1, "internal error"), and the report counts what
// it lists.
//
// Input: a first line `NODE [xray] [rate=R] [region=R]` (the --virtual-node
// name and the environment import_command.cpp reads), then the documents,
// each one file's text, separated by lines of exactly `=====`.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "dataplane/config/appmesh/appmesh_import.h"
#include "dataplane/config/config.h"

namespace am = hawser::config::appmesh;

namespace {

am::ImportOptions optionsFrom(std::string_view line) {
  am::ImportOptions o;
  std::istringstream words{std::string(line)};
  words >> o.virtual_node;
  for (std::string w; words >> w;) {
    if (w == "xray") {
      o.xray_tracing = true;
    } else if (w.rfind("rate=", 0) == 0) {
      double r = std::strtod(w.c_str() + 5, nullptr);
      if (r >= 0 && r <= 1) o.xray_sampling_rate = r;  // import_command.cpp refuses any other
    } else if (w.rfind("region=", 0) == 0 && w.size() > 7) {
      o.default_region = w.substr(7);
    }
  }
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto eol = in.find('\n');
  auto options = optionsFrom(in.substr(0, eol));
  std::vector<am::InputDocument> documents;
  if (eol != std::string_view::npos) {
    std::string_view rest = in.substr(eol + 1);
    constexpr std::string_view kSeparator = "\n=====\n";
    for (size_t n = 0;; ++n) {
      auto cut = rest.find(kSeparator);
      documents.push_back({"input" + std::to_string(n) + ".json", std::string(rest.substr(0, cut))});
      if (cut == std::string_view::npos) break;
      rest = rest.substr(cut + kSeparator.size());
    }
  }

  auto outcome = am::importAppMesh(documents, options);
  if (std::holds_alternative<am::InputError>(outcome)) {
    if (std::get<am::InputError>(outcome).message.empty()) __builtin_trap();  // an error says what is wrong
    return 0;
  }
  const auto& result = std::get<am::ImportResult>(outcome);
  size_t unmapped = 0;
  for (const auto& f : result.findings) {
    if (f.path.empty() || f.message.empty()) __builtin_trap();
    unmapped += f.note ? 0 : 1;
  }
  if (unmapped != result.unmapped) __builtin_trap();
  try {
    (void)hawser::config::loadText(result.yaml, "(generated configuration)");
  } catch (const hawser::config::ConfigError& e) {
    // The importer wrote a configuration hawser refuses (`hawser import` exits 1, "internal error").
    std::fprintf(stderr, "the generated configuration does not load: %s\n%s", e.what(), result.yaml.c_str());
    __builtin_trap();
  }
  std::string mesh, name;
  (void)am::parseVirtualNodeName(options.virtual_node, mesh, name);
  return 0;
}
