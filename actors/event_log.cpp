#include "actors/event_log.hpp"

#include <charconv>

#include "messages/records.hpp"

namespace inboxd {

change_set::event make_event(const std::string& workspace_id, std::string type,
                             nlohmann::json body) {
  body["type"] = type;
  body["workspaceId"] = workspace_id;
  return {std::move(type), body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

change_set::event event_text(const std::string& workspace_id, std::string type,
                             std::string_view key, std::string_view json) {
  std::string data;
  data.reserve(json.size() + key.size() + type.size() + workspace_id.size() + 32);
  data += "{\"";
  data += key;
  data += "\":";
  data += json;
  data += ",\"type\":";
  append_json_string(data, type);
  data += ",\"workspaceId\":";
  append_json_string(data, workspace_id);
  data += '}';
  return {std::move(type), std::move(data)};
}

std::string sse_frame(const stream_entry& e) {
  std::string f;
  f.reserve(e.id.size() + e.type.size() + e.data.size() + 24);
  f += "id: ";
  f += e.id;
  f += "\nevent: ";
  f += e.type;
  f += "\ndata: ";
  f += e.data; // one line: JSON dumps escape newlines
  f += "\n\n";
  return f;
}

bool parse_stream_id(std::string_view s, stream_id& out) {
  auto dash = s.find('-');
  auto ms = s.substr(0, dash);
  auto seq = dash == std::string_view::npos ? std::string_view("0") : s.substr(dash + 1);
  if (ms.empty() || seq.empty() || ms.size() > 20 || seq.size() > 20)
    return false;
  auto [p1, e1] = std::from_chars(ms.data(), ms.data() + ms.size(), out.first);
  auto [p2, e2] = std::from_chars(seq.data(), seq.data() + seq.size(), out.second);
  return e1 == std::errc{} && e2 == std::errc{} && p1 == ms.data() + ms.size() &&
         p2 == seq.data() + seq.size();
}

std::string to_string(const stream_id& id) {
  return std::to_string(id.first) + "-" + std::to_string(id.second);
}

} // namespace inboxd
