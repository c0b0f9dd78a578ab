// Kapso's v2 webhook events -> wa_events.
//
// whatsapp.message.received -> message (or reaction/edit/revoke, as for Meta), origin "history"
// when kapso.origin is history_sync;
// whatsapp.message.sent|delivered|read|failed -> one echo (origin "api", status = kapso.status)
// followed by one status event per message.kapso.statuses[] entry (a single synthesized status
// from kapso.status when that array is absent); whatsapp.conversation.created|ended ->
// contact_seen; any other event name -> nothing (not an error). Same all-or-nothing rules as the
// Meta decoder: a known event without phone_number_id, without both a usable contact phone and a
// business-scoped user id (conversation.business_scoped_user_id, v2 since 2026; username in
// conversation.username), or (message events) without message.id rejects the body.

#include <string>

#include "messages/ids.hpp"
#include "whatsapp/json_access.hpp"
#include "whatsapp/message_content.hpp"
#include "whatsapp/webhook_decoder.hpp"

namespace inboxd {

using nlohmann::json;
using namespace wa_json;

namespace {

constexpr std::string_view kMessagePrefix = "whatsapp.message.";

// Event name when the header and the body's "type" are both absent.
std::string infer_event(const json* msg, const json* conv) {
  if (msg) {
    const json* kapso = opt_object(*msg, "kapso");
    std::string direction = kapso ? opt_string(*kapso, "direction") : std::string();
    if (direction == "inbound")
      return "whatsapp.message.received";
    if (direction == "outbound") {
      std::string status = opt_string(*kapso, "status");
      return std::string(kMessagePrefix) + (status.empty() ? "sent" : status);
    }
  } else if (conv) {
    return "whatsapp.conversation.created";
  }
  fail("event", "cannot tell the event type (no X-Webhook-Event header)");
}

// Kapso's stored media link fills media.url when the Meta-shaped message has none.
void fill_media_url(const json& kapso, json& content) {
  auto it = content.find("media");
  if (it == content.end() || !it->is_object() || it->contains("url"))
    return;
  std::string url = opt_string(kapso, "media_url");
  if (url.empty())
    if (const json* data = opt_object(kapso, "media_data"))
      url = opt_string(*data, "url");
  if (!url.empty())
    (*it)["url"] = url;
}

void decode_event(const json& event, std::string name, decoded_webhook& out) {
  require_object(event, "event");
  const json* msg = opt_object(event, "message");
  const json* conv = opt_object(event, "conversation");
  if (name.empty())
    name = infer_event(msg, conv);

  bool received = name == "whatsapp.message.received";
  bool outbound = name == "whatsapp.message.sent" || name == "whatsapp.message.delivered" ||
                  name == "whatsapp.message.read" || name == "whatsapp.message.failed";
  bool conversation =
      name == "whatsapp.conversation.created" || name == "whatsapp.conversation.ended";
  if (!received && !outbound && !conversation)
    return; // an event we do not store

  wa_event base;
  base.phone_number_id = opt_id(event, "phone_number_id");
  if (base.phone_number_id.empty() && conv)
    base.phone_number_id = opt_id(*conv, "phone_number_id");
  if (base.phone_number_id.empty())
    fail(name, "missing phone_number_id");
  add_distinct(out.phone_number_ids, base.phone_number_id);
  if (conv) {
    base.contact_phone = normalize_phone(opt_string(*conv, "phone_number"));
    base.contact_user_id = opt_user_id(*conv, "business_scoped_user_id");
    base.contact_username = opt_username(*conv, "username");
    if (const json* ck = opt_object(*conv, "kapso"))
      base.profile_name = opt_string(*ck, "contact_name");
  }
  if (base.contact_phone.empty() && msg)
    base.contact_phone = normalize_phone(opt_id(*msg, received ? "from" : "to"));
  if (base.contact_user_id.empty() && msg)
    base.contact_user_id = opt_user_id(*msg, received ? "from_user_id" : "to_user_id");
  if (base.contact_phone.empty() && base.contact_user_id.empty())
    fail(name,
         "no usable contact phone or user id (conversation.phone_number, "
         "conversation.business_scoped_user_id)");

  if (conversation) {
    base.kind = wa_event_kind::contact_seen;
    base.content = json::object();
    out.events.push_back(std::move(base));
    return;
  }

  if (!msg)
    fail(name, "missing message");
  const json* kapso = opt_object(*msg, "kapso");
  wa_event ev = base;
  ev.wamid = require_string(*msg, "id", "message");
  ev.timestamp_ms = timestamp_ms(*msg, "timestamp");
  // kapso.origin: cloud_api, business_app (sent from the phone app) or history_sync (the business
  // app's past chats, imported: stored with origin "history", without live effects).
  std::string origin = kapso ? opt_string(*kapso, "origin") : std::string();
  bool history = origin == "history_sync";
  if (received) {
    ev.origin = history ? "history" : "whatsapp";
    classify_message(*msg, nullptr, wa_event_kind::message, ev);
    if (kapso)
      fill_media_url(*kapso, ev.content);
    if (history) {
      ev.new_phone.clear(); // a past number change changes nothing of the contact today
      ev.new_user_id.clear();
      ev.status = opt_string(*kapso, "status"); // "read": the business had read it
    }
    out.events.push_back(std::move(ev));
    return;
  }

  // Outbound: the message itself (so it exists even if it was sent outside inboxd), then statuses.
  std::string event_status = name.substr(kMessagePrefix.size());
  ev.origin = history ? "history" : origin == "business_app" ? "business_app" : "api";
  classify_message(*msg, nullptr, wa_event_kind::echo, ev);
  if (kapso)
    fill_media_url(*kapso, ev.content);
  ev.status = kapso ? opt_string(*kapso, "status") : std::string();
  if (ev.status.empty())
    ev.status = event_status;
  if (history) { // its last status is all there is to know: no status events of its own
    out.events.push_back(std::move(ev));
    return;
  }

  std::vector<wa_event> statuses;
  json last_error;
  const json* list = kapso ? opt_array(*kapso, "statuses") : nullptr;
  if (list) {
    for (const auto& st : *list) {
      require_object(st, "kapso.statuses[]");
      wa_event s = base;
      s.kind = wa_event_kind::status;
      s.profile_name.clear();
      s.target_wamid = opt_string(st, "id");
      if (s.target_wamid.empty())
        s.target_wamid = ev.wamid;
      s.status = require_string(st, "status", "kapso.statuses[]");
      if (std::string r = normalize_phone(opt_id(st, "recipient_id")); !r.empty())
        s.contact_phone = r;
      if (std::string u = opt_user_id(st, "recipient_user_id"); !u.empty())
        s.contact_user_id = u;
      s.timestamp_ms = timestamp_ms(st, "timestamp");
      s.content = json::object();
      if (json err = first_error(st); !err.is_null()) {
        last_error = err;
        s.content["error"] = std::move(err);
      }
      statuses.push_back(std::move(s));
    }
  } else {
    wa_event s = base;
    s.kind = wa_event_kind::status;
    s.profile_name.clear();
    s.target_wamid = ev.wamid;
    s.status = ev.status;
    s.timestamp_ms = ev.timestamp_ms;
    s.content = json::object();
    statuses.push_back(std::move(s));
  }
  if (ev.kind == wa_event_kind::echo && ev.status == "failed" && !last_error.is_null())
    ev.content["error"] = last_error;
  out.events.push_back(std::move(ev));
  for (auto& s : statuses)
    out.events.push_back(std::move(s));
}

void decode_kapso_into(const json& body, std::string_view event_header, decoded_webhook& out) {
  require_object(body, "body");
  std::string name(event_header);
  bool batch = opt_bool(body, "batch") ||
               (member(body, "data") && !member(body, "conversation") && !member(body, "message"));
  if (name.empty())
    name = opt_string(body, "type");
  if (!batch) {
    decode_event(body, name, out);
    return;
  }
  const json* data = opt_array(body, "data");
  if (!data)
    fail("batch", "missing data");
  for (const auto& event : *data)
    decode_event(event, name, out);
}

} // namespace

decode_result decode_kapso(const json& body, std::string_view event_header) {
  if (body.is_object() && body.contains("object"))
    return decode_meta(body); // Kapso forwarding Meta's raw payload
  decode_result r;
  try {
    decode_kapso_into(body, event_header, r.value);
    r.ok = true;
  } catch (const std::exception& e) {
    r.value = {};
    r.error = e.what();
  }
  return r;
}

} // namespace inboxd
