#include "dataplane/forwarder/s3_xml.h"

#include <cctype>

namespace hawser::forwarder {
namespace {

std::string xmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      default: out += c;
    }
  }
  return out;
}

void appendUtf8(std::string& out, unsigned long cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The five predefined entities and numeric references; anything else is kept as written.
std::string xmlDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s[i] != '&') {
      out += s[i++];
      continue;
    }
    const auto semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) {
      out += s[i++];
      continue;
    }
    const auto ent = s.substr(i + 1, semi - i - 1);
    std::string_view plain;
    if (ent == "amp")
      plain = "&";
    else if (ent == "lt")
      plain = "<";
    else if (ent == "gt")
      plain = ">";
    else if (ent == "quot")
      plain = "\"";
    else if (ent == "apos")
      plain = "'";
    if (!plain.empty()) {
      out += plain;
    } else if (ent.size() > 1 && ent[0] == '#') {
      const bool hex = ent[1] == 'x' || ent[1] == 'X';
      const auto digits = ent.substr(hex ? 2 : 1);
      unsigned long cp = 0;
      bool ok = !digits.empty() && digits.size() <= 8;
      for (char c : digits) {
        const int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                      : hex && std::isxdigit(static_cast<unsigned char>(c))
                          ? std::tolower(static_cast<unsigned char>(c)) - 'a' + 10
                          : -1;
        if (d < 0) ok = false;
        cp = cp * (hex ? 16 : 10) + static_cast<unsigned long>(d < 0 ? 0 : d);
      }
      if (!ok || cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        out.append(s.substr(i, semi - i + 1));
      } else {
        appendUtf8(out, cp);
      }
    } else {
      out.append(s.substr(i, semi - i + 1));
    }
    i = semi + 1;
  }
  return out;
}

// Finds <name>text</name> (or <name/>) from `from`; the text's bounds, or npos.
bool nextElement(std::string_view xml, std::string_view name, size_t& from, std::string_view& text) {
  while (from < xml.size()) {
    const auto open = xml.find('<', from);
    if (open == std::string_view::npos || xml.size() - open - 1 < name.size()) break;
    from = open + 1;
    if (xml.compare(open + 1, name.size(), name) != 0) continue;
    const auto after = open + 1 + name.size();
    if (after >= xml.size()) break;
    const char c = xml[after];
    if (c != '>' && c != '/' && c != ' ' && c != '\t' && c != '\r' && c != '\n') continue;
    const auto gt = xml.find('>', after);
    if (gt == std::string_view::npos) break;
    if (xml[gt - 1] == '/') {  // <name/>
      text = {};
      from = gt + 1;
      return true;
    }
    std::string close = "</";
    close += name;
    close += '>';
    const auto end = xml.find(close, gt + 1);
    if (end == std::string_view::npos) break;
    text = xml.substr(gt + 1, end - gt - 1);
    from = end + close.size();
    return true;
  }
  from = xml.size();
  return false;
}

}  // namespace

std::optional<std::string> xmlText(std::string_view xml, std::string_view name) {
  size_t from = 0;
  std::string_view text;
  if (!nextElement(xml, name, from, text)) return std::nullopt;
  return xmlDecode(text);
}

std::vector<std::string> xmlTexts(std::string_view xml, std::string_view name) {
  std::vector<std::string> out;
  size_t from = 0;
  std::string_view text;
  while (nextElement(xml, name, from, text)) out.push_back(xmlDecode(text));
  return out;
}

std::string s3ErrorSummary(unsigned status, std::string_view body) {
  std::string out = "HTTP " + std::to_string(status);
  if (auto code = xmlText(body, "Code")) out += " " + *code;
  if (auto message = xmlText(body, "Message")) out += ": " + *message;
  return out;
}

std::string completeMultipartBody(const std::vector<std::string>& etags) {
  std::string out = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  for (size_t i = 0; i < etags.size(); ++i) {
    out +=
        "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + xmlEscape(etags[i]) + "</ETag></Part>";
  }
  out += "</CompleteMultipartUpload>";
  return out;
}

}  // namespace hawser::forwarder
