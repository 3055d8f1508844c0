#include "discovery/file_source.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <fstream>
#include <sstream>

namespace hawser::discovery {

FileParseResult parseEndpointList(const std::string& text) {
  FileParseResult r;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    r.error = "line " + std::to_string(e.mark.line + 1) + ": " + e.msg;
    return r;
  }
  if (root.IsNull()) return r;  // an empty file is an empty set
  if (!root.IsSequence()) {
    r.error = "expected a list of \"host:port\" strings";
    return r;
  }
  for (size_t i = 0; i < root.size(); ++i) {
    auto item = root[i];
    std::string s = item.IsScalar() ? item.Scalar() : "";
    auto colon = s.rfind(':');
    unsigned port = 0;
    const char* end = s.data() + s.size();
    auto parsed = colon == std::string::npos || colon == 0
                      ? std::from_chars_result{s.data(), std::errc::invalid_argument}
                      : std::from_chars(s.data() + colon + 1, end, port);
    if (parsed.ec != std::errc() || parsed.ptr != end || port == 0 || port > 65535) {
      r.error = "item " + std::to_string(i) + ": invalid endpoint \"" + s + "\" (expected host:port)";
      r.endpoints.clear();
      return r;
    }
    std::string host = s.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    r.endpoints.emplace_back(std::move(host), static_cast<uint16_t>(port));
  }
  return r;
}

bool FileSource::poll(FileParseResult& result) {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    bool changed = first_ || size_ != -2;
    first_ = false;
    size_ = -2;
    result = {{}, "cannot stat " + path_};
    return changed;
  }
  bool changed = first_ || st.st_mtim.tv_sec != mtime_.tv_sec || st.st_mtim.tv_nsec != mtime_.tv_nsec ||
                 st.st_size != size_ || st.st_ino != inode_;
  if (!changed) return false;
  first_ = false;
  mtime_ = st.st_mtim;
  size_ = st.st_size;
  inode_ = st.st_ino;
  std::ifstream in(path_);
  if (!in) {
    result = {{}, "cannot read " + path_};
    return true;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  result = parseEndpointList(ss.str());
  return true;
}

}  // namespace hawser::discovery
