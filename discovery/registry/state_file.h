// `--data FILE`: the registry state on disk, replaced atomically (temp file,
// fsync, rename, fsync of the directory) so a crash leaves the old or the new
// state, never a torn one.
#pragma once

#include <string>

#include "discovery/registry/registry_state.h"

namespace hawser::discovery::registry {

// A missing file is an empty state. Throws std::runtime_error naming the file
// when it cannot be read or is not a registry state.
RegistryState loadStateFile(const std::string& path);
// Returns an error message, empty on success.
std::string saveStateFile(const std::string& path, const RegistryState& state);

}  // namespace hawser::discovery::registry
