#pragma once
// The workspace's in-memory contacts and conversation summaries, with the queries of the list
// endpoints. Plain data structure owned by the workspace actor (no actor or I/O code here).
//
// Every conversation of a workspace stays here while its actor is passivated, so the layout is
// compact: records live in slot-indexed deques (no node per record), lookups are slot tables over
// the stored ids and phones (4 bytes a cell), and status, mode and assignee are small codes.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/packed_string.hpp"
#include "actors/slot_table.hpp"
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
  conversation_index() { users_.code(""); } // assignee code 0: unassigned

  /// Adds or replaces a contact and/or conversation (keeps the activity order current).
  /// keep_names: leave the contact's phone, user id and username as the index has them (a
  /// conversation actor reporting a stored change: link and rename decide those, in order).
  void put_contact(const contact& c, bool keep_names = false);
  void put_conversation(const conversation& c);

  /// Forgets a contact and its conversation (erased): no lookup finds them and no list shows
  /// them; their slots stay, empty, until the workspace is loaded again.
  void erase(const std::string& conversation_id, const std::string& contact_id);

  /// How a webhook names a customer (any may be empty).
  struct identity {
    std::string phone, user_id, username;
  };
  /// The contact of a webhook's customer: found by user id, else phone, else username (unless
  /// that contact has a phone or user id and `who` names another: usernames move). It takes
  /// every name of `who` that no other contact holds (a changed number or user id replaces the
  /// old one; a username moves from whoever had it); a phone or user id another contact holds is
  /// cleared from `who`, which then lists the names the event may set on this contact.
  /// nullopt (and `who` unchanged) when no contact has any of the names.
  struct contact_ids {
    std::string contact_id, conversation_id; // "" when it has no conversation
  };
  std::optional<contact_ids> link(identity& who);
  /// user_changed_number / user_changed_user_id: the contact's new phone or user id (non-empty
  /// ones only), taken over from any other contact.
  void rename(const std::string& contact_id, const std::string& phone, const std::string& user_id);

  /// Pointers stay valid until the next put of the same contact.
  std::optional<contact> contact_by_phone(const std::string& phone) const;
  /// The contact id of `phone` and the id of its (latest) conversation, without building either
  /// record.
  std::optional<contact_ids> ids_by_phone(const std::string& phone) const;
  std::optional<contact> contact_by_user_id(const std::string& user_id) const;
  std::optional<contact> contact_by_id(const std::string& id) const;
  /// Conversations are stored in parts: these assemble a copy.
  std::optional<conversation> conversation_by_id(const std::string& id) const;
  std::optional<conversation> conversation_of_contact(const std::string& contact_id) const;
  size_t conversation_count() const { return rows_.size(); }
  /// Up to `n` ids of stored conversations from slot `from` on (the retention sweep's walk);
  /// `from` moves past them, and back to 0 at the end.
  std::vector<std::string> stored_conversations(uint32_t& from, size_t n) const;

  /// GET /api/contacts: q matches name or phone (case-insensitive), ordered by newest update.
  nlohmann::json list_contacts(const std::string& q, int64_t page, int64_t limit) const;

  /// GET /api/conversations: newest activity first; counts apply every filter but assignedTo.
  /// The response body as JSON text (rendered without a document: this is the hot read path).
  std::string list_conversations(const conversation_filter& f, int64_t now_ms) const;

  nlohmann::json render(const conversation& c, int64_t now_ms) const;

private:
  static constexpr uint32_t kNone = slot_table::kNone;

  // Interned strings (statuses, modes, assignees): code <-> name, codes from 0 in order of
  // first sight.
  class name_pool {
  public:
    name_pool() = default;
    name_pool(const name_pool&) = delete; // the map views the deque's strings
    name_pool& operator=(const name_pool&) = delete;
    uint32_t code(const std::string& name);
    int64_t find(const std::string& name) const; // -1: never seen
    const std::string& name(uint32_t code) const { return names_[code]; }

  private:
    std::deque<std::string> names_; // deque: the map's views stay valid
    std::unordered_map<std::string_view, uint32_t> codes_;
  };

  // What list_conversations scans, one per conversation, contiguous: the filters read only
  // this, so a page of a 10,000-conversation workspace is one pass over ~0.5 MB and a partial
  // sort of the matches. Rows only grow (an erased conversation's row stays, empty and unstored).
  struct row {
    int64_t activity = 0; // lastMessageAt, or createdAt before any message
    int64_t last_inbound_at = 0;
    uint64_t tag_bits = 0;  // bit i: the tag interned as i (i < 64)
    uint64_t id_key = 0;    // orders like the id's bytes after the prefix (ties: whole ids)
    uint64_t text_bits = 0; // bigram filter of the contact's name and phone (see q)
    uint32_t contact = 0;   // slot in contacts_
    uint32_t assignee = 0;  // users_ code (0 = unassigned)
    uint16_t status = 0, mode = 0; // statuses_ / modes_ codes (validated values: a few)
    bool stored = false;    // updated_at != 0: the conversation's first write committed
    bool more_tags = false; // a tag interned at 64 or above (checked on the tag list)
  };
  // The rest of a conversation, read only to answer (same slot as its row).
  // Strings as packed_string: the index holds every conversation of its workspace, and
  // std::string members made it ~620 bytes per conversation (measured with jemalloc's
  // stats.allocated at 10,000 conversations).
  struct conv_rest {
    packed_string id;
    int64_t unread_count = 0, last_message_at = 0, created_at = 0, updated_at = 0;
    uint64_t seq = 0;
    packed_string last_message_preview;
    packed_list tags;
  };
  struct contact_slot {
    packed_string id, phone, user_id, username, custom_name, profile_name;
    packed_list tags;
    int64_t created_at = 0, updated_at = 0;
    int64_t marketing_opt_out_at = 0, marketing_changed_at = 0;
    uint32_t conv = kNone; // its (latest) conversation's slot
    bool known = false;    // false: only named by a conversation so far
    std::string_view display_name() const {
      return custom_name.empty() ? profile_name.view() : custom_name.view();
    }
    contact to_contact() const;
  };

  uint32_t contact_slot_of(const std::string& id); // adds an unknown placeholder if needed
  void set_names(uint32_t s, std::string_view phone, std::string_view user_id,
                 std::string_view username);
  contact_ids ids_of(uint32_t s) const;
  void set_text(row& r) const;
  conversation assemble(uint32_t slot) const;

  std::deque<contact_slot> contacts_;
  std::deque<conv_rest> rest_;
  std::vector<row> rows_;
  // Contact slots by id, phone, user id and username, conversation slots by id.
  slot_table by_contact_id_, by_phone_, by_user_id_, by_username_, by_conv_id_;
  auto contact_id_of() const {
    return [this](uint32_t s) { return contacts_[s].id.view(); };
  }
  auto phone_of() const {
    return [this](uint32_t s) { return contacts_[s].phone.view(); };
  }
  auto user_id_of() const {
    return [this](uint32_t s) { return contacts_[s].user_id.view(); };
  }
  auto username_of() const {
    return [this](uint32_t s) { return contacts_[s].username.view(); };
  }
  auto conv_id_of() const {
    return [this](uint32_t s) { return rest_[s].id.view(); };
  }
  name_pool statuses_, modes_, users_;
  std::unordered_map<std::string, uint32_t> tags_; // tag -> bit index
  struct hit {
    int64_t activity;
    uint64_t id_key;
    uint32_t slot;
  };
  mutable std::vector<hit> hits_; // scratch for list_conversations
};

} // namespace inboxd
