#include "actors/message_mutations.hpp"

#include "messages/ids.hpp"

namespace inboxd {

namespace {

int status_rank(const std::string& s) {
  if (s == "sent") return 1;
  if (s == "delivered") return 2;
  if (s == "read") return 3;
  if (s == "played") return 4;
  return 0; // queued, received, unknown
}

// Content keys an edit replaces.
constexpr const char* content_keys[] = {"type", "text", "media", "location", "contacts",
                                        "interactive", "button", "order", "system", "raw"};

} // namespace

nlohmann::json make_message_record(const wa_event& e, const std::string& conversation_id,
                                   int64_t now_ms) {
  nlohmann::json m = e.content.is_object() ? e.content : nlohmann::json::object();
  bool inbound = e.kind == wa_event_kind::message;
  m["id"] = message_id_for_wamid(e.wamid);
  m["conversationId"] = conversation_id;
  m["waMessageId"] = e.wamid;
  m["direction"] = inbound ? "inbound" : "outbound";
  bool history = e.origin == "history";
  m["origin"] = history   ? "history"
                : inbound ? "whatsapp"
                          : (e.origin.empty() ? "business_app" : e.origin);
  if (!m.contains("type"))
    m["type"] = "unknown";
  if (inbound) // an imported message the business app had read is read
    m["status"] = history && (e.status == "read" || e.status == "played") ? "read" : "received";
  else
    m["status"] = e.status.empty() ? "sent" : e.status;
  m["timestamp"] = e.timestamp_ms;
  m["createdAt"] = now_ms;
  return m;
}

bool apply_mutation(nlohmann::json& m, const wa_event& e, int64_t now_ms) {
  (void) now_ms;
  switch (e.kind) {
    case wa_event_kind::status: {
      std::string cur = m.value("status", std::string());
      if (e.status == "failed") {
        if (e.content.is_object() && e.content.contains("error"))
          m["error"] = e.content["error"];
        if (status_rank(cur) <= 1 && cur != "failed") {
          m["status"] = "failed";
        }
        return true;
      }
      if (cur == "failed" || status_rank(e.status) <= status_rank(cur))
        return false;
      m["status"] = e.status;
      return true;
    }
    case wa_event_kind::reaction: {
      std::string emoji;
      if (e.content.is_object())
        emoji = e.content.value("emoji", std::string());
      // A reaction echoed from the business app is the business's own, not the contact's.
      auto from = e.origin == "business_app" ? std::string("business")
                  : e.contact_phone.empty()  ? e.contact_user_id
                                             : e.contact_phone;
      auto reactions = m.value("reactions", nlohmann::json::array());
      nlohmann::json kept = nlohmann::json::array();
      for (auto& r : reactions)
        if (!r.is_object() || r.value("from", std::string()) != from)
          kept.push_back(r);
      if (!emoji.empty())
        kept.push_back({{"emoji", emoji}, {"from", from}, {"timestamp", e.timestamp_ms}});
      m["reactions"] = std::move(kept);
      return true;
    }
    case wa_event_kind::edit: {
      for (auto k : content_keys)
        if (k != std::string("type"))
          m.erase(k);
      if (e.content.is_object())
        for (auto k : content_keys)
          if (auto i = e.content.find(k); i != e.content.end())
            m[k] = *i;
      m["editedAt"] = e.timestamp_ms;
      return true;
    }
    case wa_event_kind::revoke: {
      m.erase("text");
      m.erase("media");
      m["deletedAt"] = e.timestamp_ms;
      return true;
    }
    default:
      return false;
  }
}

bool fill_placeholder(nlohmann::json& m, const wa_event& e) {
  if (m.value("type", std::string()) != "media_placeholder" || !e.content.is_object() ||
      e.content.value("type", std::string()) == "media_placeholder" ||
      (e.kind != wa_event_kind::message && e.kind != wa_event_kind::echo))
    return false;
  for (auto k : content_keys)
    m.erase(k);
  for (auto k : content_keys)
    if (auto i = e.content.find(k); i != e.content.end())
      m[k] = *i;
  return true;
}

nlohmann::json park_encode(const wa_event& e) {
  nlohmann::json j = {{"kind", to_string(e.kind)}, {"contactPhone", e.contact_phone},
                      {"origin", e.origin},        {"wamid", e.wamid},
                      {"target", e.target_wamid},  {"ts", e.timestamp_ms},
                      {"status", e.status},        {"content", e.content}};
  if (!e.contact_user_id.empty())
    j["contactUserId"] = e.contact_user_id;
  return j;
}

bool park_decode(const nlohmann::json& j, wa_event& out) {
  if (!j.is_object())
    return false;
  auto kind = j.value("kind", std::string());
  if (kind == "status") out.kind = wa_event_kind::status;
  else if (kind == "reaction") out.kind = wa_event_kind::reaction;
  else if (kind == "edit") out.kind = wa_event_kind::edit;
  else if (kind == "revoke") out.kind = wa_event_kind::revoke;
  else return false;
  out.contact_phone = j.value("contactPhone", std::string());
  out.contact_user_id = j.value("contactUserId", std::string());
  out.origin = j.value("origin", std::string());
  out.wamid = j.value("wamid", std::string());
  out.target_wamid = j.value("target", std::string());
  out.timestamp_ms = j.value("ts", int64_t{0});
  out.status = j.value("status", std::string());
  if (auto c = j.find("content"); c != j.end())
    out.content = *c;
  return true;
}

bool apply_media_result(nlohmann::json& message, const std::string& state,
                        const std::string& sha256, uint64_t size, const std::string& mime_type,
                        const std::string& error) {
  if (!message.is_object())
    return false;
  auto m = message.find("media");
  if (m == message.end() || !m->is_object() || m->value("state", std::string()) != "pending")
    return false;
  (*m)["state"] = state;
  if (state == "stored") {
    (*m)["sha256"] = sha256;
    (*m)["size"] = size;
    if (m->value("mimeType", std::string()).empty() && !mime_type.empty())
      (*m)["mimeType"] = mime_type;
  } else if (!error.empty()) {
    (*m)["error"] = error.substr(0, 500);
  }
  return true;
}

} // namespace inboxd
