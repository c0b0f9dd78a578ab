#pragma once
// The workspace's in-memory contacts and conversation summaries, with the queries of the list
// endpoints. Plain data structure owned by the workspace actor (no actor or I/O code here).

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "messages/records.hpp"

namespace inboxd {

struct conversation_filter {
  std::string status = "open"; // open|pending|closed|all
  std::string assigned_to;     // "" any, "unassigned", or a user id
  std::string mode;            // "" any, ai, human
  std::vector<std::string> tags;
  bool active_only = false;
  std::string q;
  std::string me; // the caller's user id ("assignedTo=me" resolved by the caller)
  int64_t page = 1, limit = 25;
};

class conversation_index {
public:
  /// Adds or replaces a contact and/or conversation (keeps the activity order current).
  void put_contact(const contact& c);
  void put_conversation(const conversation& c);
  void remove_phone(const std::string& phone) { by_phone_.erase(phone); }

  const contact* contact_by_phone(const std::string& phone) const;
  const contact* contact_by_id(const std::string& id) const;
  const conversation* conversation_by_id(const std::string& id) const;
  const conversation* conversation_of_contact(const std::string& contact_id) const;
  size_t conversation_count() const { return conversations_.size(); }

  /// GET /api/contacts: q matches name or phone (case-insensitive), ordered by newest update.
  nlohmann::json list_contacts(const std::string& q, int64_t page, int64_t limit) const;

  /// GET /api/conversations: newest activity first; counts apply every filter but assignedTo.
  nlohmann::json list_conversations(const conversation_filter& f, int64_t now_ms) const;

  nlohmann::json render(const conversation& c, int64_t now_ms) const;

private:
  using activity_key = std::pair<int64_t, std::string>; // (lastMessageAt or createdAt, id)
  static activity_key activity_of(const conversation& c) {
    return {c.last_message_at ? c.last_message_at : c.created_at, c.id};
  }
  std::unordered_map<std::string, contact> contacts_;
  std::unordered_map<std::string, std::string> by_phone_;
  std::unordered_map<std::string, conversation> conversations_;
  std::unordered_map<std::string, std::string> by_contact_;
  std::set<activity_key, std::greater<>> activity_;
};

} // namespace inboxd
