#include "messages/message_record.hpp"

#include <utility>
#include <vector>

#include "messages/records.hpp"

namespace inboxd {

namespace {

constexpr std::string_view kDefaults[][2] = {
    {"direction", "inbound"}, {"origin", "whatsapp"}, {"status", "received"}, {"type", "text"}};

// Storage names of the common top-level fields; the others keep their API names.
constexpr std::string_view kNames[][2] = {
    {"a", "createdAt"}, {"b", "sentBy"},   {"c", "conversationId"}, {"d", "direction"},
    {"e", "editedAt"},  {"n", "reactions"}, {"o", "origin"},        {"r", "replyTo"},
    {"s", "status"},    {"t", "timestamp"}, {"w", "waMessageId"},   {"x", "text"},
    {"y", "type"},      {"z", "deletedAt"}};

std::string_view stored_name(std::string_view api) {
  for (auto& n : kNames)
    if (api == n[1])
      return n[0];
  return api;
}

std::string_view api_name(std::string_view stored) {
  if (stored.size() == 1)
    for (auto& n : kNames)
      if (stored == n[0])
        return n[1];
  return stored;
}

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
  // Calls member(name, value text) for each top-level member; false when the text is not an
  // object.
  template <class F>
  bool members(F&& member) {
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
      auto key = s.substr(start + 1, i - start - 2);
      ws();
      if (i >= s.size() || s[i] != ':')
        return false;
      ++i;
      ws();
      auto from = i;
      if (!value())
        return false;
      auto to = i;
      while (to > from && (s[to - 1] == ' ' || s[to - 1] == '\t' || s[to - 1] == '\n' ||
                           s[to - 1] == '\r'))
        --to;
      member(key, s.substr(from, to - from));
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
    append_json_string(out, stored_name(key));
    out += ':';
    out += v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  out += '}';
}

std::string message_api(std::string_view id, std::string_view stored) {
  bool seen[std::size(kDefaults)] = {};
  bool has_id = false;
  std::vector<std::pair<std::string_view, std::string_view>> fields;
  top_level scan{stored};
  bool object = scan.members([&](std::string_view key, std::string_view value) {
    auto name = api_name(key);
    if (name == "id")
      has_id = true;
    for (size_t d = 0; d < std::size(kDefaults); ++d)
      if (name == kDefaults[d][0])
        seen[d] = true;
    fields.emplace_back(name, value);
  });
  if (!object || has_id)
    return std::string(stored);
  std::string out;
  out.reserve(stored.size() + id.size() + 160);
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
  for (auto& [name, value] : fields) {
    out += ",\"";
    out += name; // an API name, or the key's text as stored (escapes kept)
    out += "\":";
    out += value;
  }
  out += '}';
  return out;
}

} // namespace inboxd
