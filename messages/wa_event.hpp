#pragma once
// One normalized item of WhatsApp traffic, decoded from a Meta or Kapso webhook
// (whatsapp/ produces these, actors consume them). Plain data, no I/O.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace inboxd {

enum class wa_event_kind : uint8_t {
  message,      // an inbound message from the contact (any type but reaction/edit/revoke)
  echo,         // an outbound message: smb_message_echoes (business app) or Kapso outbound
  status,       // a delivery status for a message we sent (target_wamid = the message)
  reaction,     // contact reacted to target_wamid; content = {"emoji": "..."} ("" removes)
  edit,         // target_wamid edited; content = the new message fields (type, text, media, ...)
  revoke,       // target_wamid deleted
  contact_seen, // no message: only makes sure contact + conversation exist (Kapso conversation
                // events)
  preference,   // the contact's marketing preference (user_preferences): content = {"category":
                // "marketing_messages", "value": "stop"|"resume"|"signup"}; also contact_seen
  address_book, // the business app's address book (smb_app_state_sync): content = {"name": the
                // name the business gave the contact, "" when it removed the contact}
};

/// Returns "message", "echo", ... (for logs and the parked-event encoding).
const char* to_string(wa_event_kind kind);

struct wa_event {
  wa_event_kind kind = wa_event_kind::message;
  std::string phone_number_id; // the business number's id: picks the workspace
  // Who the customer is: any of these three may be empty, not all (the workspace finds the
  // contact by user id, else phone, else username, and links the others to it).
  std::string contact_phone;    // the customer's wa_id, digits only
  std::string contact_user_id;  // the customer's business-scoped user id (BSUID)
  std::string contact_username; // the customer's WhatsApp username
  std::string profile_name;    // the customer's WhatsApp profile name, empty if unknown
  std::string wamid;           // this item's own WhatsApp id (message/echo/reaction/edit/revoke)
  std::string target_wamid;    // status/reaction/edit/revoke: the message it applies to
  int64_t timestamp_ms = 0;    // WhatsApp's timestamp of the item, in milliseconds
  // echo: "business_app" or "api"; message: "whatsapp"; either (and their reactions, edits and
  // revokes): "history" when imported from the business app's past chats (no live effects)
  std::string origin;
  std::string status; // status: sent|delivered|read|played|failed; echo: its status; history
                      // message: its last status (read/played: the business read it)
  std::string new_phone;       // message of type system/user_changed_number: the contact's new wa_id
  std::string new_user_id;     // system/user_changed_number|user_changed_user_id: the new BSUID
  // message/echo/edit: the message's content in the API's Message shape, without the fields the
  // store assigns (id, conversationId, direction, status, createdAt). Keys used: type, text,
  // media, location, contacts, interactive, order, system, referral, context, replyTo, error,
  // forwarded, frequentlyForwarded. status: {"error": {code, title, message?}} when failed.
  // reaction: {"emoji": "..."}.
  nlohmann::json content;
};

} // namespace inboxd
