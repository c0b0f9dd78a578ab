// Meta's Cloud API webhook format -> wa_events.
//
// The customer is named by whichever of these the payload has (API.md, "Identity without phone
// numbers"): the phone (`from`, `to`, `recipient_id`, `wa_id`, contacts[].wa_id), the
// business-scoped user id (`from_user_id`, `to_user_id`, `recipient_user_id`, `user_id`,
// contacts[].user_id) and the username (contacts[].profile.username); a system message's
// system.previous_user_id names the contact as known before the change.
//
// Missing ids: decoding is all-or-nothing, so an item that cannot be stored or routed rejects the
// whole body (400) instead of being skipped silently: a message/echo without "id", or with
// neither a usable contact phone nor a user id; a malformed user id or username; a status
// without "id" or "status"; a reaction/edit/revoke without the id of its target; a marketing
// preference without a usable wa_id or user_id, or with a value other than stop/resume/signup; a
// history thread whose id is neither a phone nor a user id; an address book contact without a
// usable phone_number; a "messages", "smb_message_echoes", "user_preferences", "history" or
// "smb_app_state_sync" change without metadata.phone_number_id. A status of a group message (or
// whose recipient_id is not a phone number) is kept with no contact: it is acknowledged, not
// stored. A missing timestamp decodes as 0 (the consumer may substitute the receive time).

#include <string>

#include "messages/ids.hpp"
#include "messages/utf8.hpp"
#include "whatsapp/json_access.hpp"
#include "whatsapp/message_content.hpp"
#include "whatsapp/webhook_decoder.hpp"

namespace inboxd {

using nlohmann::json;
using namespace wa_json;

namespace {

std::string profile_name_of(const json& contact) {
  if (const json* profile = opt_object(contact, "profile"))
    return opt_string(*profile, "name");
  return {};
}

// contacts[] entry of the customer whose wa_id is `phone` or whose user_id is `user_id`;
// nullptr when none matches (or there are none).
const json* contact_entry(const json* contacts, const std::string& phone,
                          const std::string& user_id) {
  if (!contacts)
    return nullptr;
  for (const auto& c : *contacts) {
    require_object(c, "contacts[]");
    if ((!phone.empty() && normalize_phone(opt_id(c, "wa_id")) == phone) ||
        (!user_id.empty() && opt_user_id(c, "user_id") == user_id))
      return &c;
  }
  return nullptr;
}

// Fills the customer's phone, BSUID and username that the item itself lacks from its contacts[]
// entry, and the profile name. An item naming the customer itself takes them only from the entry
// that matches it (another entry's are another customer's); one naming nobody (placeholders such
// as "<WHATSAPP_USER_PHONE_NUMBER>") takes contacts[0]'s. The profile name falls back to
// contacts[0]'s. An item with neither a phone nor a BSUID is rejected (`what` names it).
void fill_contact(const json* contacts, wa_event& ev, const std::string& what) {
  const json* first =
      contacts && !contacts->empty() ? &require_object(contacts->front(), "contacts[]") : nullptr;
  bool named = !ev.contact_phone.empty() || !ev.contact_user_id.empty();
  const json* c = named ? contact_entry(contacts, ev.contact_phone, ev.contact_user_id) : first;
  if (c) {
    if (ev.contact_phone.empty())
      ev.contact_phone = normalize_phone(opt_id(*c, "wa_id"));
    if (ev.contact_user_id.empty())
      ev.contact_user_id = opt_user_id(*c, "user_id");
    if (const json* profile = opt_object(*c, "profile"))
      ev.contact_username = opt_username(*profile, "username");
  }
  if (c || first)
    ev.profile_name = profile_name_of(c ? *c : *first);
  if (ev.contact_phone.empty() && ev.contact_user_id.empty())
    fail(what, "no usable contact phone or user id");
}

std::string metadata_phone_number_id(const json& value) {
  if (const json* metadata = opt_object(value, "metadata"))
    return opt_id(*metadata, "phone_number_id");
  return {};
}

void decode_inbound(const json& msg, const json& value, const std::string& pnid,
                    std::vector<wa_event>& out) {
  require_object(msg, "messages[]");
  wa_event ev;
  ev.phone_number_id = pnid;
  ev.wamid = require_string(msg, "id", "message");
  ev.contact_phone = normalize_phone(opt_id(msg, "from")); // empty for a username-only contact
  ev.contact_user_id = opt_user_id(msg, "from_user_id");
  fill_contact(opt_array(value, "contacts"), ev, "message " + ev.wamid);
  ev.timestamp_ms = timestamp_ms(msg, "timestamp");
  ev.origin = "whatsapp";
  classify_message(msg, opt_array(value, "errors"), wa_event_kind::message, ev);
  out.push_back(std::move(ev));
}

void decode_status(const json& st, const std::string& pnid, std::vector<wa_event>& out) {
  require_object(st, "statuses[]");
  wa_event ev;
  ev.kind = wa_event_kind::status;
  ev.phone_number_id = pnid;
  ev.target_wamid = require_string(st, "id", "status");
  ev.status = require_string(st, "status", "status");
  // Both empty for group statuses (recipient_type "group": the inbox keeps 1:1 conversations).
  if (opt_string(st, "recipient_type") != "group") {
    ev.contact_phone = normalize_phone(opt_id(st, "recipient_id"));
    ev.contact_user_id = opt_user_id(st, "recipient_user_id");
  }
  ev.timestamp_ms = timestamp_ms(st, "timestamp");
  ev.content = json::object();
  if (json err = first_error(st); !err.is_null())
    ev.content["error"] = std::move(err);
  out.push_back(std::move(ev));
}

void decode_echo(const json& msg, const json& value, const std::string& pnid,
                 std::vector<wa_event>& out) {
  require_object(msg, "message_echoes[]");
  wa_event ev;
  ev.phone_number_id = pnid;
  ev.wamid = require_string(msg, "id", "message echo");
  // contacts[0] names the customer when present: Meta's edit and revoke echoes name the
  // business in `to` (and `to` may be a placeholder); else `to` and `to_user_id` do.
  const json* contacts = opt_array(value, "contacts");
  if (!contacts || contacts->empty()) {
    ev.contact_phone = normalize_phone(opt_id(msg, "to"));
    ev.contact_user_id = opt_user_id(msg, "to_user_id");
  }
  fill_contact(contacts, ev, "message echo " + ev.wamid);
  ev.timestamp_ms = timestamp_ms(msg, "timestamp");
  ev.origin = "business_app";
  classify_message(msg, nullptr, wa_event_kind::echo, ev);
  if (ev.kind == wa_event_kind::echo)
    ev.status = "sent";
  out.push_back(std::move(ev));
}

// user_preferences[]: {wa_id, category, value, detail, timestamp} (Meta's user_preferences webhook
// reference). Only the marketing category is kept; other categories are acknowledged.
void decode_preference(const json& pref, const std::string& pnid, std::vector<wa_event>& out) {
  require_object(pref, "user_preferences[]");
  wa_event ev;
  ev.kind = wa_event_kind::preference;
  ev.phone_number_id = pnid;
  ev.contact_phone = normalize_phone(opt_id(pref, "wa_id"));
  ev.contact_user_id = opt_user_id(pref, "user_id");
  if (ev.contact_phone.empty() && ev.contact_user_id.empty())
    fail("user_preferences[]", "no usable wa_id or user_id");
  auto category = require_string(pref, "category", "user_preferences[]");
  auto value = require_string(pref, "value", "user_preferences[]");
  if (category != "marketing_messages")
    return; // another kind of preference: nothing the inbox keeps
  if (value != "stop" && value != "resume" && value != "signup")
    fail("user_preferences[]", "value must be stop, resume or signup");
  ev.timestamp_ms = timestamp_ms(pref, "timestamp");
  ev.content = {{"category", category}, {"value", value}};
  out.push_back(std::move(ev));
}

// A name the business gave a contact has at most this many bytes, as through PATCH; a longer
// one from its address book is cut (at a character boundary) rather than the body refused.
constexpr size_t kMaxContactName = 200;

// history_context.status (DELIVERED, ERROR, PENDING, PLAYED, READ, SENT) as a message status;
// "" when absent or unknown.
std::string history_status(const json& msg) {
  const json* ctx = opt_object(msg, "history_context");
  std::string s = ctx ? opt_string(*ctx, "status") : std::string();
  for (auto& c : s)
    c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (s == "error")
    return "failed";
  if (s == "pending")
    return "queued";
  if (s == "sent" || s == "delivered" || s == "read" || s == "played")
    return s;
  return {};
}

// One message of the business app's past chats. The business sent it when it names a recipient
// (`to`) or comes from the business number; else the contact did. The customer is the thread's
// (`thread_phone`/`thread_user_id`), or without a thread (the follow-up that describes a
// media_placeholder's media) the message's other party.
void decode_history_message(const json& msg, const std::string& pnid,
                            const std::string& business_phone, const std::string& thread_phone,
                            const std::string& thread_user_id, std::vector<wa_event>& out) {
  require_object(msg, "history messages[]");
  wa_event ev;
  ev.phone_number_id = pnid;
  ev.wamid = require_string(msg, "id", "history message");
  std::string from = normalize_phone(opt_id(msg, "from"));
  bool outbound = member(msg, "to") || (!business_phone.empty() && from == business_phone);
  classify_message(msg, nullptr, outbound ? wa_event_kind::echo : wa_event_kind::message, ev);
  // The thread names the customer; a system message in it changes nothing of the contact today.
  ev.new_phone.clear();
  ev.new_user_id.clear();
  ev.contact_phone = thread_phone;
  ev.contact_user_id = thread_user_id;
  if (thread_phone.empty() && thread_user_id.empty()) {
    ev.contact_phone = outbound ? normalize_phone(opt_id(msg, "to")) : from;
    ev.contact_user_id = opt_user_id(msg, outbound ? "to_user_id" : "from_user_id");
  }
  if (ev.contact_phone.empty() && ev.contact_user_id.empty())
    fail("history message " + ev.wamid, "no usable contact phone or user id");
  ev.timestamp_ms = timestamp_ms(msg, "timestamp");
  ev.origin = "history";
  ev.status = history_status(msg);
  if (ev.kind == wa_event_kind::echo && ev.status.empty())
    ev.status = "sent";
  out.push_back(std::move(ev));
}

// history[] (Meta's history webhook reference): a business app's chats from before its
// onboarding to Cloud API, in phases (0: day 0-1, 1: day 1-90, 2: day 90-180) and chunks, each
// {metadata:{phase, chunk_order, progress}, threads:[{id: the customer, messages:[...]}]}; an
// entry with errors[] (the business declined to share its history) has nothing to store. Media
// messages come as type media_placeholder, described later by a "history" change with
// messages[] (no threads), which decodes to the same wamid with the media.
void decode_history(const json& value, const std::string& pnid, std::vector<wa_event>& out) {
  const json* metadata = opt_object(value, "metadata");
  std::string business_phone =
      metadata ? normalize_phone(opt_id(*metadata, "display_phone_number")) : std::string();
  const json* history = opt_array(value, "history");
  const json* messages = opt_array(value, "messages");
  if (!history && !messages)
    fail("value", "has no history or messages");
  if (messages)
    for (const auto& msg : *messages)
      decode_history_message(msg, pnid, business_phone, {}, {}, out);
  if (!history)
    return;
  for (const auto& chunk : *history) {
    require_object(chunk, "history[]");
    const json* threads = opt_array(chunk, "threads");
    if (!threads)
      continue; // errors[] only (sharing declined), or an empty chunk
    for (const auto& thread : *threads) {
      require_object(thread, "history[].threads[]");
      std::string id = opt_id(thread, "id");
      std::string phone = normalize_phone(id);
      std::string user_id = phone.empty() ? opt_user_id(thread, "id") : std::string();
      if (phone.empty() && user_id.empty())
        fail("history[].threads[]", "id is not a phone number or user id");
      if (const json* msgs = opt_array(thread, "messages"))
        for (const auto& msg : *msgs)
          decode_history_message(msg, pnid, business_phone, phone, user_id, out);
    }
  }
}

// state_sync[] (Meta's smb_app_state_sync webhook reference): {type: "contact", contact:
// {full_name, first_name, phone_number}, action: "add" (added or edited) | "remove", metadata:
// {timestamp}}. Other types and actions are acknowledged, not kept; a contact item without a
// usable phone_number rejects the body.
void decode_state_sync(const json& value, const std::string& pnid, std::vector<wa_event>& out) {
  const json* items = opt_array(value, "state_sync");
  if (!items)
    fail("value", "missing state_sync");
  for (const auto& item : *items) {
    require_object(item, "state_sync[]");
    if (opt_string(item, "type") != "contact")
      continue;
    const json* c = opt_object(item, "contact");
    if (!c)
      fail("state_sync[]", "missing contact");
    wa_event ev;
    ev.kind = wa_event_kind::address_book;
    ev.phone_number_id = pnid;
    ev.contact_phone = normalize_phone(opt_id(*c, "phone_number"));
    if (ev.contact_phone.empty())
      fail("state_sync[].contact", "no usable phone_number");
    std::string action = opt_string(item, "action");
    std::string name = opt_string(*c, "full_name");
    if (name.empty())
      name = opt_string(*c, "first_name");
    if (action == "remove")
      name.clear();
    else if (action != "add" || name.empty())
      continue; // an action we do not know, or a contact added without a name
    truncate_utf8(name, kMaxContactName);
    if (const json* meta = opt_object(item, "metadata"))
      ev.timestamp_ms = timestamp_ms(*meta, "timestamp");
    ev.content = {{"name", std::move(name)}};
    out.push_back(std::move(ev));
  }
}

void decode_change(const json& change, decoded_webhook& out) {
  require_object(change, "changes[]");
  std::string field = require_string(change, "field", "change");
  const json* value = opt_object(change, "value");
  std::string pnid = value ? metadata_phone_number_id(*value) : std::string();
  add_distinct(out.phone_number_ids, pnid);
  if (field != "messages" && field != "smb_message_echoes" && field != "user_preferences" &&
      field != "history" && field != "smb_app_state_sync")
    return; // account updates, templates, ...: nothing to store, not an error
  if (!value)
    fail("change " + field, "missing value");
  if (pnid.empty())
    fail("change " + field, "missing metadata.phone_number_id");

  if (field == "history") {
    decode_history(*value, pnid, out.events);
  } else if (field == "smb_app_state_sync") {
    decode_state_sync(*value, pnid, out.events);
  } else if (field == "user_preferences") {
    const json* prefs = opt_array(*value, "user_preferences");
    if (!prefs)
      fail("value", "missing user_preferences");
    for (const auto& pref : *prefs)
      decode_preference(pref, pnid, out.events);
  } else if (field == "messages") {
    const json* messages = opt_array(*value, "messages");
    const json* statuses = opt_array(*value, "statuses");
    const json* errors = opt_array(*value, "errors");
    if (!messages && !statuses && !errors)
      fail("value", "has no messages, statuses or errors");
    if (messages)
      for (const auto& msg : *messages)
        decode_inbound(msg, *value, pnid, out.events);
    if (statuses)
      for (const auto& st : *statuses)
        decode_status(st, pnid, out.events);
  } else {
    const json* echoes = opt_array(*value, "message_echoes");
    if (!echoes)
      fail("value", "missing message_echoes");
    for (const auto& msg : *echoes)
      decode_echo(msg, *value, pnid, out.events);
  }
}

// Throws decode_error (or nlohmann's exceptions) on malformed input.
void decode_meta_into(const json& body, decoded_webhook& out) {
  require_object(body, "body");
  if (opt_string(body, "object") != "whatsapp_business_account")
    fail("object", "must be \"whatsapp_business_account\"");
  const json* entries = opt_array(body, "entry");
  if (!entries)
    fail("entry", "missing");
  for (const auto& entry : *entries) {
    require_object(entry, "entry[]");
    const json* changes = opt_array(entry, "changes");
    if (!changes)
      fail("entry[].changes", "missing");
    for (const auto& change : *changes)
      decode_change(change, out);
  }
}

} // namespace

decode_result decode_meta(const json& body) {
  decode_result r;
  try {
    decode_meta_into(body, r.value);
    r.ok = true;
  } catch (const std::exception& e) { // decode_error, nlohmann's exceptions, bad_alloc
    r.value = {};
    r.error = e.what();
  }
  return r;
}

} // namespace inboxd
