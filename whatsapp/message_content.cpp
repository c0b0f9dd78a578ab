#include "whatsapp/message_content.hpp"

#include <string>

#include "messages/ids.hpp"
#include "whatsapp/json_access.hpp"

namespace inboxd::wa_json {

using nlohmann::json;

namespace {

bool is_media_type(const std::string& type) {
  return type == "image" || type == "video" || type == "audio" || type == "document" ||
         type == "sticker";
}

void put_if_not_empty(json& out, const char* key, const std::string& value) {
  if (!value.empty())
    out[key] = value;
}

json media(const json& m) {
  json out = {{"id", opt_id(m, "id")},
              {"mimeType", opt_string(m, "mime_type")},
              {"sha256", opt_string(m, "sha256")}};
  put_if_not_empty(out, "caption", opt_string(m, "caption"));
  put_if_not_empty(out, "filename", opt_string(m, "filename"));
  put_if_not_empty(out, "url", opt_string(m, "url"));
  if (member(m, "voice"))
    out["voice"] = opt_bool(m, "voice");
  if (member(m, "animated"))
    out["animated"] = opt_bool(m, "animated");
  return out;
}

json location(const json& l) {
  json out = json::object();
  for (const char* key : {"latitude", "longitude"}) {
    const json* v = member(l, key);
    if (!v)
      continue;
    if (!v->is_number())
      fail(key, "must be a number");
    out[key] = v->get<double>();
  }
  put_if_not_empty(out, "name", opt_string(l, "name"));
  put_if_not_empty(out, "address", opt_string(l, "address"));
  put_if_not_empty(out, "url", opt_string(l, "url"));
  return out;
}

// Returns the interactive object and sets `text` to the reply's title.
json interactive(const json& i, std::string& text) {
  std::string itype = opt_string(i, "type");
  const json* reply = itype.empty() ? nullptr : opt_object(i, itype);
  if (reply && (itype == "button_reply" || itype == "list_reply")) {
    json out = {
        {"type", itype}, {"id", opt_id(*reply, "id")}, {"title", opt_string(*reply, "title")}};
    put_if_not_empty(out, "description", opt_string(*reply, "description"));
    text = out["title"].get<std::string>();
    return out;
  }
  if (reply && itype == "nfm_reply") { // WhatsApp Flows: name, body, response_json (a JSON string)
    json out = {
        {"type", itype}, {"id", opt_string(*reply, "name")}, {"title", opt_string(*reply, "body")}};
    put_if_not_empty(out, "responseJson", opt_string(*reply, "response_json"));
    text = out["title"].get<std::string>();
    return out;
  }
  return {{"type", itype}, {"raw", i}};
}

json context(const json& ctx, json& content) {
  json out = json::object();
  put_if_not_empty(out, "from", opt_string(ctx, "from"));
  std::string id = opt_string(ctx, "id");
  if (!id.empty()) {
    out["id"] = id;
    content["replyTo"] = message_id_for_wamid(id);
  }
  if (opt_bool(ctx, "forwarded")) {
    out["forwarded"] = true;
    content["forwarded"] = true;
  }
  if (opt_bool(ctx, "frequently_forwarded")) {
    out["frequentlyForwarded"] = true;
    content["frequentlyForwarded"] = true;
  }
  return out;
}

} // namespace

json message_content(const json& msg, const json* fallback_errors) {
  require_object(msg, "message");
  std::string type = member(msg, "type") ? opt_string(msg, "type") : std::string();
  if (type.empty())
    type = "unsupported";
  std::string text;
  json c = json::object();
  c["type"] = type;

  if (type == "text") {
    if (const json* t = opt_object(msg, "text"))
      text = opt_string(*t, "body");
  } else if (is_media_type(type)) {
    if (const json* m = opt_object(msg, type)) {
      c["media"] = media(*m);
      text = opt_string(*m, "caption");
    }
  } else if (type == "location") {
    if (const json* l = opt_object(msg, "location"))
      c["location"] = location(*l);
  } else if (type == "contacts") {
    const json* a = opt_array(msg, "contacts");
    c["contacts"] = a ? *a : json::array();
  } else if (type == "interactive") {
    if (const json* i = opt_object(msg, "interactive"))
      c["interactive"] = interactive(*i, text);
  } else if (type == "button") {
    if (const json* b = opt_object(msg, "button")) {
      text = opt_string(*b, "text");
      c["button"] = {{"payload", opt_string(*b, "payload")}, {"text", text}};
    }
  } else if (type == "order") {
    if (const json* o = opt_object(msg, "order")) {
      c["order"] = *o;
      text = opt_string(*o, "text");
    }
  } else if (type == "system") {
    if (const json* s = opt_object(msg, "system")) {
      text = opt_string(*s, "body");
      json sys = {{"type", opt_string(*s, "type")}, {"body", text}};
      put_if_not_empty(sys, "waId", opt_string(*s, "wa_id"));
      c["system"] = sys;
    }
  } else if (type != "request_welcome") {
    // Unknown (or "unsupported") types: keep whatever sub-object carries the type's name.
    if (const json* raw = member(msg, type))
      c["raw"] = *raw;
  }
  c["text"] = text;

  if (const json* r = opt_object(msg, "referral"))
    c["referral"] = *r;
  if (const json* ctx = opt_object(msg, "context"))
    c["context"] = context(*ctx, c);
  json err = first_error(msg);
  if (err.is_null() && fallback_errors && fallback_errors->is_array() && !fallback_errors->empty())
    err = error_object(fallback_errors->front());
  if (!err.is_null())
    c["error"] = std::move(err);
  return c;
}

void classify_message(const json& msg, const json* fallback_errors, wa_event_kind plain_kind,
                      wa_event& ev) {
  require_object(msg, "message");
  std::string type = opt_string(msg, "type");
  if (type == "reaction") {
    const json* r = opt_object(msg, "reaction");
    if (!r)
      fail("reaction", "missing");
    ev.kind = wa_event_kind::reaction;
    ev.target_wamid = require_string(*r, "message_id", "reaction");
    ev.content = {{"emoji", opt_string(*r, "emoji")}};
  } else if (type == "edit") {
    const json* e = opt_object(msg, "edit");
    if (!e)
      fail("edit", "missing");
    ev.kind = wa_event_kind::edit;
    ev.target_wamid = require_string(*e, "original_message_id", "edit");
    const json* inner = opt_object(*e, "message");
    if (!inner)
      fail("edit.message", "missing");
    ev.content = message_content(*inner, nullptr);
  } else if (type == "revoke") {
    const json* r = opt_object(msg, "revoke");
    if (!r)
      fail("revoke", "missing");
    ev.kind = wa_event_kind::revoke;
    ev.target_wamid = require_string(*r, "original_message_id", "revoke");
    ev.content = json::object();
  } else {
    ev.kind = plain_kind;
    ev.content = message_content(msg, fallback_errors);
    if (type == "system") {
      const json* s = opt_object(msg, "system");
      std::string change = s ? opt_string(*s, "type") : std::string();
      if (change == "user_changed_number") {
        // A number change without a usable new number cannot be applied: reject the body.
        ev.new_phone = normalize_phone(opt_string(*s, "wa_id"));
        if (ev.new_phone.empty())
          fail("system.wa_id", "missing or not a phone number");
        ev.new_user_id = opt_user_id(*s, "user_id"); // a new number comes with a new BSUID
      } else if (change == "user_changed_user_id") {
        ev.new_user_id = opt_user_id(*s, "user_id");
        if (ev.new_user_id.empty())
          ev.new_user_id = opt_user_id(msg, "from_user_id");
        if (ev.new_user_id.empty())
          fail("system.user_id", "missing");
      }
      // The contact as known until now: by its previous BSUID when the change names it.
      if (s)
        if (auto previous = opt_user_id(*s, "previous_user_id"); !previous.empty())
          ev.contact_user_id = previous;
    }
  }
}

} // namespace inboxd::wa_json
