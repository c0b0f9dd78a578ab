#pragma once
// Domain records owned by the actors and stored in Redis as JSON (camelCase), plus their
// API renderings (API.md: Workspace, Contact, Conversation).

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace inboxd {

struct send_settings {
  std::string base_url, api_key, access_token, graph_version = "v24.0";
  bool configured() const { return !base_url.empty(); }
};

struct workspace {
  std::string id, name, slug, phone_number_id, display_phone_number;
  std::string default_mode = "human";
  std::string meta_app_secret, verify_token, kapso_webhook_secret; // write-only
  send_settings send;
  // The bot (API.md "Bots and outgoing webhooks"): inbound messages of `ai` conversations are
  // delivered to bot_url, signed with bot_secret (write-only); none while bot_url is empty.
  std::string bot_url, bot_secret;
  // Messages older than this many days are deleted with their media (0: kept for ever).
  int retention_days = 0;
  int64_t created_at = 0;
};

struct contact {
  std::string id;
  // How WhatsApp names the contact: any of them may be empty (a contact who writes by username
  // has no phone), never all three. phone: the wa_id, digits only; wa_user_id: the
  // business-scoped user id (BSUID, "US.1349..."); username: the WhatsApp username.
  std::string phone, wa_user_id, username;
  std::string custom_name;  // set through PATCH; wins over profile_name
  std::string profile_name; // latest WhatsApp/Kapso profile name
  std::vector<std::string> tags;
  int64_t created_at = 0, updated_at = 0;
  // Marketing messages (user_preferences): opted out since marketing_opt_out_at (0 = not opted
  // out); marketing_changed_at is WhatsApp's time of the latest preference applied (older ones,
  // delivered late, are ignored).
  int64_t marketing_opt_out_at = 0, marketing_changed_at = 0;
  const std::string& display_name() const {
    return custom_name.empty() ? profile_name : custom_name;
  }
};

struct conversation {
  std::string id, contact_id;
  std::string status = "open"; // open|pending|closed
  std::string mode = "human";  // human|ai
  std::string assigned_to;     // "" = unassigned
  int64_t unread_count = 0;
  std::vector<std::string> tags;
  int64_t last_message_at = 0;
  std::string last_message_preview;
  int64_t last_inbound_at = 0;
  int64_t created_at = 0, updated_at = 0;
  uint64_t seq = 0; // arrival counter: breaks timestamp ties in the message timeline
};

inline constexpr int64_t kReplyWindowMs = 24LL * 3600 * 1000;

// Storage form (everything, secrets included). Contact and conversation records name their
// fields with one letter (storage/KEYS.md) and leave out their id (the key they are stored under
// names it), fields at their defaults, updatedAt while it equals createdAt and a conversation's
// lastMessageAt while it equals lastInboundAt; from_json restores all but the id, which
// conversation_record and contact_record take from the key. Records written before 2026-12-03
// carry the API's field names (and, before that, their id); from_json reads them too.
void to_json(nlohmann::json& j, const workspace& w);
void from_json(const nlohmann::json& j, workspace& w);
void to_json(nlohmann::json& j, const contact& c);
void from_json(const nlohmann::json& j, contact& c);
void to_json(nlohmann::json& j, const conversation& c);
void from_json(const nlohmann::json& j, conversation& c);
conversation conversation_record(const nlohmann::json& j, std::string_view id);
contact contact_record(const nlohmann::json& j, std::string_view id);

// API form (API.md shapes; never secrets).
nlohmann::json workspace_api(const workspace& w);
nlohmann::json contact_api(const contact& c);
nlohmann::json conversation_api(const conversation& cv, const contact& ct, int64_t now_ms);
/// Appends conversation_api(cv, ct, now_ms) as JSON text, byte for byte what dumping it gives
/// (same key order and escaping), without building the document: list pages are rendered on
/// the workspace actor, where this is the hot path.
void append_conversation_api(std::string& out, const conversation& cv, const contact& ct,
                             int64_t now_ms);
/// Appends `s` as a JSON string literal, byte for byte what nlohmann's dump gives (UTF-8 kept,
/// control characters escaped, invalid UTF-8 replaced).
void append_json_string(std::string& out, std::string_view s);
/// The storage forms, byte for byte what dumping to_json gives, without building the document
/// (every webhook writes a conversation and a contact).
void append_conversation_record(std::string& out, const conversation& c);
void append_contact_record(std::string& out, const contact& c);

/// The preview line of a message record (text, caption or "[type]"), at most 120 bytes,
/// cut on a UTF-8 boundary.
std::string message_preview(const nlohmann::json& message);

} // namespace inboxd
