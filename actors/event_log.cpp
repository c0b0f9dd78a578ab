#include "actors/event_log.hpp"

#include <charconv>

#include "messages/records.hpp"

namespace inboxd {

change_set::event message_event(std::string type, std::string message_id) {
  change_set::event e;
  e.type = std::move(type);
  e.message_id = std::move(message_id);
  return e;
}

change_set::event conversation_event(std::string type, const conversation& cv) {
  change_set::event e;
  e.type = std::move(type);
  e.conversation_id = cv.id;
  e.contact_id = cv.contact_id;
  return e;
}

bool compose_event(const std::string& workspace_id, stream_entry& e, int64_t now_ms) {
  if (!e.names_records)
    return !e.data.empty();
  if (!e.message_id.empty()) {
    if (e.message.empty())
      return false;
    e.data = event_text(workspace_id, e.type, "message", e.message);
    return true;
  }
  if (e.conversation.empty() || e.contact.empty())
    return false;
  auto cv_doc = nlohmann::json::parse(e.conversation, nullptr, false);
  auto ct_doc = nlohmann::json::parse(e.contact, nullptr, false);
  if (!cv_doc.is_object() || !ct_doc.is_object())
    return false;
  conversation cv;
  contact ct;
  try {
    cv = conversation_record(cv_doc, e.conversation_id);
    ct = contact_record(ct_doc, e.contact_id);
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  std::string api;
  append_conversation_api(api, cv, ct, now_ms);
  e.data = event_text(workspace_id, e.type, "conversation", api);
  return true;
}

std::string event_text(const std::string& workspace_id, std::string_view type,
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
  return data;
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
