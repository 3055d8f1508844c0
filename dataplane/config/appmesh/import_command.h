// `hawser import appmesh`: reads the files and the environment, runs the
// importer (appmesh_import.h), writes the configuration and the report.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace hawser::config::appmesh {

// Exit codes of `hawser import` (docs/migrate-from-app-mesh.md#exit-codes).
inline constexpr int kImportOk = 0;          // every field mapped
inline constexpr int kImportFailed = 1;      // a bug: the generated configuration did not validate
inline constexpr int kImportBadInput = 2;    // bad usage, an unreadable file or input that is not App Mesh's
inline constexpr int kImportIncomplete = 3;  // the configuration was written; some fields were not mapped

// args: what follows `hawser import`.
int importMain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace hawser::config::appmesh
