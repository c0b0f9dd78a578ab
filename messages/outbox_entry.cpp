#include "messages/outbox_entry.hpp"

namespace inboxd {

void to_json(nlohmann::json& j, const outbox_entry& e) {
  j = {{"id", e.id},           {"kind", e.kind},         {"conversationId", e.conversation_id},
       {"payload", e.payload}, {"attempts", e.attempts}, {"dueAt", e.due_ms}};
}

void from_json(const nlohmann::json& j, outbox_entry& e) {
  e.id = j.value("id", std::string());
  e.kind = j.value("kind", std::string("message"));
  e.conversation_id = j.value("conversationId", std::string());
  e.payload = j.value("payload", nlohmann::json::object());
  e.attempts = j.value("attempts", 0);
  e.due_ms = j.value("dueAt", int64_t{0});
}

} // namespace inboxd
