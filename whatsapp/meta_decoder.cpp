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
// "messages", "smb_message_echoes" or "user_preferences" change without
// metadata.phone_number_id. A status of a group message (or whose recipient_id is not a phone
// number) is kept with no contact: it is acknowledged, not stored. A missing timestamp decodes as
// 0 (the consumer may substitute the receive time).

#include <string>

#include "messages/ids.hpp"
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

void decode_change(const json& change, decoded_webhook& out) {
  require_object(change, "changes[]");
  std::string field = require_string(change, "field", "change");
  const json* value = opt_object(change, "value");
  std::string pnid = value ? metadata_phone_number_id(*value) : std::string();
  add_distinct(out.phone_number_ids, pnid);
  if (field != "messages" && field != "smb_message_echoes" && field != "user_preferences")
    return; // account updates, templates, ...: nothing to store, not an error
  if (!value)
    fail("change " + field, "missing value");
  if (pnid.empty())
    fail("change " + field, "missing metadata.phone_number_id");

  if (field == "user_preferences") {
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
