// Meta's Cloud API webhook format -> wa_events.
//
// Missing ids: decoding is all-or-nothing, so an item that cannot be stored or routed rejects the
// whole body (400) instead of being skipped silently: a message/echo without "id", or without a
// usable contact phone (neither `from`/`to` nor contacts[0].wa_id is a phone number); a status
// without "id" or "status"; a reaction/edit/revoke without the id of its target; a marketing
// preference without a usable wa_id, or with a value other than stop/resume/signup; a "messages",
// "smb_message_echoes" or "user_preferences" change without metadata.phone_number_id. A status
// whose recipient_id is not a phone number (group statuses) is kept with an empty contact_phone: it
// is applied by wamid. A missing timestamp decodes as 0 (the consumer may substitute the receive
// time).

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

// The profile name of the contact whose wa_id is `phone`, else contacts[0]'s.
std::string profile_name_for(const json* contacts, const std::string& phone) {
  if (!contacts || contacts->empty())
    return {};
  for (const auto& c : *contacts) {
    require_object(c, "contacts[]");
    if (normalize_phone(opt_id(c, "wa_id")) == phone)
      return profile_name_of(c);
  }
  return profile_name_of(require_object(contacts->front(), "contacts[]"));
}

std::string first_contact_phone(const json* contacts) {
  if (!contacts || contacts->empty())
    return {};
  return normalize_phone(opt_id(require_object(contacts->front(), "contacts[]"), "wa_id"));
}

std::string metadata_phone_number_id(const json& value) {
  if (const json* metadata = opt_object(value, "metadata"))
    return opt_id(*metadata, "phone_number_id");
  return {};
}

void decode_inbound(const json& msg, const json& value, const std::string& pnid,
                    std::vector<wa_event>& out) {
  require_object(msg, "messages[]");
  const json* contacts = opt_array(value, "contacts");
  wa_event ev;
  ev.phone_number_id = pnid;
  ev.wamid = require_string(msg, "id", "message");
  ev.contact_phone = normalize_phone(opt_id(msg, "from"));
  if (ev.contact_phone.empty())
    ev.contact_phone =
        first_contact_phone(contacts); // placeholders such as "<WHATSAPP_USER_PHONE_NUMBER>"
  if (ev.contact_phone.empty())
    fail("message " + ev.wamid, "no usable contact phone");
  ev.profile_name = profile_name_for(contacts, ev.contact_phone);
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
  ev.contact_phone = normalize_phone(opt_id(st, "recipient_id")); // empty for group statuses
  ev.timestamp_ms = timestamp_ms(st, "timestamp");
  ev.content = json::object();
  if (json err = first_error(st); !err.is_null())
    ev.content["error"] = std::move(err);
  out.push_back(std::move(ev));
}

void decode_echo(const json& msg, const json& value, const std::string& pnid,
                 std::vector<wa_event>& out) {
  require_object(msg, "message_echoes[]");
  const json* contacts = opt_array(value, "contacts");
  wa_event ev;
  ev.phone_number_id = pnid;
  ev.wamid = require_string(msg, "id", "message echo");
  ev.contact_phone = first_contact_phone(contacts);
  if (ev.contact_phone.empty())
    ev.contact_phone = normalize_phone(opt_id(msg, "to"));
  if (ev.contact_phone.empty())
    fail("message echo " + ev.wamid, "no usable contact phone");
  ev.profile_name = profile_name_for(contacts, ev.contact_phone);
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
  if (ev.contact_phone.empty())
    fail("user_preferences[]", "no usable wa_id");
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
