#include "messages/message_record.hpp"

#include "messages/records.hpp"

namespace inboxd {

namespace {

constexpr std::string_view kDefaults[][2] = {
    {"direction", "inbound"}, {"origin", "whatsapp"}, {"status", "received"}, {"type", "text"}};

bool is_default(const std::string& key, const nlohmann::json& v) {
  for (auto& d : kDefaults)
    if (key == d[0])
      return v.is_string() && v.get_ref<const std::string&>() == d[1];
  return false;
}

// A scanner over the top level of a JSON object's text. It trusts the text to be JSON (what the
// store wrote) and only finds where its members start and which keys they have; on anything
// else it stops and reports failure.
struct top_level {
  std::string_view s;
  size_t i = 0;

  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
      ++i;
  }
  bool string() { // at '"': past the closing quote
    for (++i; i < s.size(); ++i) {
      if (s[i] == '\\')
        ++i;
      else if (s[i] == '"')
        return ++i, true;
    }
    return false;
  }
  bool value() {
    if (i < s.size() && s[i] == '"')
      return string();
    int depth = 0;
    while (i < s.size()) {
      char c = s[i];
      if (c == '"') {
        if (!string())
          return false;
        continue;
      }
      if (c == '{' || c == '[')
        ++depth;
      else if (c == '}' || c == ']') {
        if (depth == 0)
          return true;
        --depth;
      } else if (c == ',' && depth == 0)
        return true;
      ++i;
    }
    return false;
  }
  // Calls key(name) for each top-level key; false when the text is not an object.
  template <class F>
  bool keys(F&& key) {
    ws();
    if (i >= s.size() || s[i] != '{')
      return false;
    ++i;
    ws();
    if (i < s.size() && s[i] == '}')
      return true;
    while (i < s.size()) {
      ws();
      auto start = i;
      if (i >= s.size() || s[i] != '"' || !string())
        return false;
      key(s.substr(start + 1, i - start - 2));
      ws();
      if (i >= s.size() || s[i] != ':')
        return false;
      ++i;
      ws();
      if (!value())
        return false;
      ws();
      if (i < s.size() && s[i] == '}')
        return true;
      if (i >= s.size() || s[i] != ',')
        return false;
      ++i;
    }
    return false;
  }
};

} // namespace

void append_message_record(std::string& out, const nlohmann::json& m) {
  if (!m.is_object()) {
    out += m.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return;
  }
  auto dir = m.find("direction");
  bool inbound = dir != m.end() && is_default("direction", *dir);
  out += '{';
  bool first = true;
  for (auto& [key, v] : m.items()) {
    if (key == "id" || (inbound && is_default(key, v)))
      continue;
    if (!first)
      out += ',';
    first = false;
    append_json_string(out, key);
    out += ':';
    out += v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  out += '}';
}

std::string message_api(std::string_view id, std::string_view stored) {
  bool seen[std::size(kDefaults)] = {};
  bool has_id = false;
  top_level scan{stored};
  bool object = scan.keys([&](std::string_view key) {
    if (key == "id")
      has_id = true;
    for (size_t d = 0; d < std::size(kDefaults); ++d)
      if (key == kDefaults[d][0])
        seen[d] = true;
  });
  if (!object || has_id)
    return std::string(stored);
  std::string out;
  out.reserve(stored.size() + id.size() + 80);
  out += "{\"id\":";
  append_json_string(out, id);
  if (!seen[0]) // no direction: an inbound message, stored without its defaults
    for (size_t d = 0; d < std::size(kDefaults); ++d)
      if (!seen[d]) {
        out += ",\"";
        out += kDefaults[d][0];
        out += "\":\"";
        out += kDefaults[d][1];
        out += '"';
      }
  auto body = stored.substr(stored.find('{') + 1);
  auto rest = body.find_first_not_of(" \t\n\r");
  if (rest != std::string_view::npos && body[rest] != '}')
    out += ',';
  out += body;
  return out;
}

} // namespace inboxd
