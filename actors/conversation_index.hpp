#pragma once
// The workspace's in-memory contacts and conversation summaries, with the queries of the list
// endpoints. Plain data structure owned by the workspace actor (no actor or I/O code here).

#include <cstdint>
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
  /// The response body as JSON text (rendered without a document: this is the hot read path).
  std::string list_conversations(const conversation_filter& f, int64_t now_ms) const;

  nlohmann::json render(const conversation& c, int64_t now_ms) const;

private:
  // One compact row per conversation, scanned linearly by list_conversations: the filters read
  // only this (status, mode, assignee and tags as small codes), so a page of a 10,000-conversation
  // workspace costs one pass over ~0.5 MB and a partial sort of the matches, not a walk through
  // the hash maps. Rows only grow (conversations are never removed from a workspace).
  struct row {
    int64_t activity = 0; // lastMessageAt, or createdAt before any message
    int64_t last_inbound_at = 0;
    uint64_t tag_bits = 0; // bit i: the tag interned as i (i < 64)
    uint64_t id_key = 0;   // orders like the id's bytes after the prefix (ties: whole ids)
    uint64_t text_bits = 0; // bigram filter of the contact's name and phone (see q below)
    const conversation* conv = nullptr;
    const contact* ct = nullptr; // null until the contact is known
    uint32_t assignee = 0;       // interned user id; 0 = unassigned
    uint8_t status = 0, mode = 0;
    bool stored = false;       // updated_at != 0: the conversation's first write committed
    bool more_tags = false;    // a tag interned at 64 or above (checked on conv->tags)
  };
  struct conv_entry {
    conversation conv;
    uint32_t slot = 0; // index into rows_
  };
  uint32_t intern_user(const std::string& id);
  void fill_row(row& r, const conversation& c);
  static void set_contact(row& r, const contact* ct);

  std::unordered_map<std::string, contact> contacts_;
  std::unordered_map<std::string, std::string> by_phone_;
  std::unordered_map<std::string, conv_entry> conversations_;
  std::unordered_map<std::string, const conv_entry*> by_contact_;
  std::vector<row> rows_;
  std::unordered_map<std::string, uint32_t> users_; // assignee id -> code (from 1)
  std::unordered_map<std::string, uint32_t> tags_;  // tag -> bit index
  struct hit {
    int64_t activity;
    uint64_t id_key;
    uint32_t slot;
  };
  mutable std::vector<hit> hits_; // scratch for list_conversations
};

} // namespace inboxd
