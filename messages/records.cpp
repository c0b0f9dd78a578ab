#include "messages/records.hpp"

#include "messages/utf8.hpp"

namespace inboxd {

namespace {

template <class T>
void get_opt(const nlohmann::json& j, const char* key, T& out) {
  if (auto i = j.find(key); i != j.end() && !i->is_null())
    i->get_to(out);
}

nlohmann::json null_if_empty(const std::string& s) {
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
}

nlohmann::json null_if_zero(int64_t v) {
  return v == 0 ? nlohmann::json(nullptr) : nlohmann::json(v);
}

} // namespace

void to_json(nlohmann::json& j, const workspace& w) {
  j = {{"id", w.id},
       {"name", w.name},
       {"slug", w.slug},
       {"phoneNumberId", w.phone_number_id},
       {"displayPhoneNumber", w.display_phone_number},
       {"defaultMode", w.default_mode},
       {"metaAppSecret", w.meta_app_secret},
       {"verifyToken", w.verify_token},
       {"kapsoWebhookSecret", w.kapso_webhook_secret},
       {"send",
        {{"baseUrl", w.send.base_url},
         {"apiKey", w.send.api_key},
         {"accessToken", w.send.access_token},
         {"graphVersion", w.send.graph_version}}},
       {"createdAt", w.created_at}};
  if (!w.bot_url.empty())
    j["bot"] = {{"url", w.bot_url}, {"secret", w.bot_secret}};
  if (w.retention_days > 0)
    j["retentionDays"] = w.retention_days;
}

void from_json(const nlohmann::json& j, workspace& w) {
  get_opt(j, "id", w.id);
  get_opt(j, "name", w.name);
  get_opt(j, "slug", w.slug);
  get_opt(j, "phoneNumberId", w.phone_number_id);
  get_opt(j, "displayPhoneNumber", w.display_phone_number);
  get_opt(j, "defaultMode", w.default_mode);
  get_opt(j, "metaAppSecret", w.meta_app_secret);
  get_opt(j, "verifyToken", w.verify_token);
  get_opt(j, "kapsoWebhookSecret", w.kapso_webhook_secret);
  if (auto s = j.find("send"); s != j.end() && s->is_object()) {
    get_opt(*s, "baseUrl", w.send.base_url);
    get_opt(*s, "apiKey", w.send.api_key);
    get_opt(*s, "accessToken", w.send.access_token);
    get_opt(*s, "graphVersion", w.send.graph_version);
  }
  if (auto b = j.find("bot"); b != j.end() && b->is_object()) {
    get_opt(*b, "url", w.bot_url);
    get_opt(*b, "secret", w.bot_secret);
  }
  get_opt(j, "retentionDays", w.retention_days);
  get_opt(j, "createdAt", w.created_at);
}

// Storage names (KEYS.md): one letter per field. Records written before 2026-12-03 use the
// API's names; from_json reads both, telling them apart by the always-present created time.
namespace {
template <class T>
void get_opt(const nlohmann::json& j, bool short_form, const char* short_key, const char* long_key,
             T& out) {
  get_opt(j, short_form ? short_key : long_key, out);
}
} // namespace

void to_json(nlohmann::json& j, const contact& c) {
  // Fields at their defaults are left out (from_json keeps the default for a missing key): a
  // workspace stores one record per contact. The id is the record's key (a hash field), and
  // updatedAt is left out while it equals createdAt.
  j = {{"a", c.created_at}};
  if (c.updated_at != c.created_at)
    j["u"] = c.updated_at;
  if (!c.phone.empty())
    j["p"] = c.phone;
  if (!c.custom_name.empty())
    j["c"] = c.custom_name;
  if (!c.profile_name.empty())
    j["n"] = c.profile_name;
  if (!c.tags.empty())
    j["t"] = c.tags;
  if (!c.wa_user_id.empty())
    j["w"] = c.wa_user_id;
  if (!c.username.empty())
    j["h"] = c.username;
  if (c.marketing_changed_at != 0)
    j["g"] = c.marketing_changed_at;
  if (c.marketing_opt_out_at != 0)
    j["o"] = c.marketing_opt_out_at;
}

void from_json(const nlohmann::json& j, contact& c) {
  bool s = j.contains("a");
  get_opt(j, "id", c.id);
  get_opt(j, s, "p", "phone", c.phone);
  get_opt(j, s, "c", "customName", c.custom_name);
  get_opt(j, s, "n", "profileName", c.profile_name);
  get_opt(j, s, "t", "tags", c.tags);
  get_opt(j, s, "a", "createdAt", c.created_at);
  c.updated_at = c.created_at;
  get_opt(j, s, "u", "updatedAt", c.updated_at);
  get_opt(j, "g", c.marketing_changed_at); // only in the storage form (2026-12-04 on)
  get_opt(j, "o", c.marketing_opt_out_at);
  get_opt(j, "w", c.wa_user_id); // only in the storage form (2026-12-04 on)
  get_opt(j, "h", c.username);
}

void to_json(nlohmann::json& j, const conversation& c) {
  // As for contacts, fields at their defaults are left out, and so is lastMessageAt while it
  // equals lastInboundAt (the last message is inbound).
  const conversation d;
  j = {{"c", c.contact_id}, {"a", c.created_at}};
  if (c.updated_at != c.created_at)
    j["u"] = c.updated_at;
  if (c.last_message_at != c.last_inbound_at)
    j["l"] = c.last_message_at;
  if (c.status != d.status)
    j["s"] = c.status;
  if (c.mode != d.mode)
    j["m"] = c.mode;
  if (!c.assigned_to.empty())
    j["g"] = c.assigned_to;
  if (c.unread_count != 0)
    j["n"] = c.unread_count;
  if (!c.tags.empty())
    j["t"] = c.tags;
  if (!c.last_message_preview.empty())
    j["p"] = c.last_message_preview;
  if (c.last_inbound_at != 0)
    j["i"] = c.last_inbound_at;
  if (c.seq != 0)
    j["q"] = c.seq;
}

void from_json(const nlohmann::json& j, conversation& c) {
  bool s = j.contains("a");
  get_opt(j, "id", c.id);
  get_opt(j, s, "c", "contactId", c.contact_id);
  get_opt(j, s, "s", "status", c.status);
  get_opt(j, s, "m", "mode", c.mode);
  get_opt(j, s, "g", "assignedTo", c.assigned_to);
  get_opt(j, s, "n", "unreadCount", c.unread_count);
  get_opt(j, s, "t", "tags", c.tags);
  get_opt(j, s, "p", "lastMessagePreview", c.last_message_preview);
  get_opt(j, s, "i", "lastInboundAt", c.last_inbound_at);
  c.last_message_at = c.last_inbound_at;
  get_opt(j, s, "l", "lastMessageAt", c.last_message_at);
  get_opt(j, s, "a", "createdAt", c.created_at);
  c.updated_at = c.created_at;
  get_opt(j, s, "u", "updatedAt", c.updated_at);
  get_opt(j, s, "q", "seq", c.seq);
}

conversation conversation_record(const nlohmann::json& j, std::string_view id) {
  auto c = j.get<conversation>();
  if (c.id.empty())
    c.id = id;
  return c;
}

contact contact_record(const nlohmann::json& j, std::string_view id) {
  auto c = j.get<contact>();
  if (c.id.empty())
    c.id = id;
  return c;
}

nlohmann::json workspace_api(const workspace& w) {
  return {{"id", w.id},
          {"name", w.name},
          {"slug", w.slug},
          {"phoneNumberId", w.phone_number_id},
          {"displayPhoneNumber", null_if_empty(w.display_phone_number)},
          {"defaultMode", w.default_mode},
          {"sendConfigured", w.send.configured()},
          {"bot", w.bot_url.empty() ? nlohmann::json(nullptr) : nlohmann::json{{"url", w.bot_url}}},
          {"retentionDays",
           w.retention_days > 0 ? nlohmann::json(w.retention_days) : nlohmann::json(nullptr)},
          {"createdAt", w.created_at}};
}

nlohmann::json contact_api(const contact& c) {
  return {{"id", c.id},
          {"phone", null_if_empty(c.phone)},
          {"waUserId", null_if_empty(c.wa_user_id)},
          {"username", null_if_empty(c.username)},
          {"name", null_if_empty(c.display_name())},
          {"profileName", null_if_empty(c.profile_name)},
          {"tags", c.tags},
          {"marketingOptOut", c.marketing_opt_out_at != 0},
          {"marketingOptOutAt",
           c.marketing_opt_out_at != 0 ? nlohmann::json(c.marketing_opt_out_at) : nlohmann::json()},
          {"createdAt", c.created_at},
          {"updatedAt", c.updated_at}};
}

nlohmann::json conversation_api(const conversation& cv, const contact& ct, int64_t now_ms) {
  bool can_reply = cv.last_inbound_at != 0 && now_ms < cv.last_inbound_at + kReplyWindowMs;
  return {{"id", cv.id},
          {"contact",
           {{"id", ct.id},
            {"phone", null_if_empty(ct.phone)},
            {"waUserId", null_if_empty(ct.wa_user_id)},
            {"username", null_if_empty(ct.username)},
            {"name", null_if_empty(ct.display_name())}}},
          {"status", cv.status},
          {"mode", cv.mode},
          {"assignedTo", null_if_empty(cv.assigned_to)},
          {"unreadCount", cv.unread_count},
          {"tags", cv.tags},
          {"lastMessageAt", null_if_zero(cv.last_message_at)},
          {"lastMessagePreview", null_if_empty(cv.last_message_preview)},
          {"lastInboundAt", null_if_zero(cv.last_inbound_at)},
          {"canReply", can_reply},
          {"createdAt", cv.created_at},
          {"updatedAt", cv.updated_at}};
}

namespace {

// Length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlongs, no surrogates, at most
// U+10FFFF), or 0 when it is not one.
size_t utf8_sequence(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  auto cont = [&](size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  unsigned char c = b(0);
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2))
      return 0;
    if ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) > 0x9F))
      return 0;
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3))
      return 0;
    if ((c == 0xF0 && b(1) < 0x90) || (c == 0xF4 && b(1) > 0x8F))
      return 0;
    return 4;
  }
  return 0;
}

} // namespace

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  auto start = out.size();
  out.reserve(start + s.size() + 2);
  out += '"';
  for (size_t i = 0; i < s.size();) {
    auto run = i; // printable ASCII other than quote and backslash: copied in one go
    while (run < s.size() && static_cast<unsigned char>(s[run]) >= 0x20 &&
           static_cast<unsigned char>(s[run]) < 0x80 && s[run] != '"' && s[run] != '\\')
      ++run;
    if (run > i) {
      out.append(s.data() + i, run - i);
      i = run;
      continue;
    }
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      auto n = utf8_sequence(s, i);
      if (n == 0) { // invalid UTF-8: nlohmann's replacement rules decide, as before
        out.resize(start);
        out += nlohmann::json(std::string(s))
                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        return;
      }
      out.append(s.data() + i, n);
      i += n;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

namespace {

void append_tags(std::string& out, const std::vector<std::string>& tags) {
  out += '[';
  for (size_t i = 0; i < tags.size(); ++i) {
    if (i)
      out += ',';
    append_json_string(out, tags[i]);
  }
  out += ']';
}

void append_string_or_null(std::string& out, const std::string& s) {
  if (s.empty())
    out += "null";
  else
    append_json_string(out, s);
}

void append_int_or_null(std::string& out, int64_t v) {
  if (v == 0)
    out += "null";
  else
    out += std::to_string(v);
}

} // namespace

void append_conversation_api(std::string& out, const conversation& cv, const contact& ct,
                             int64_t now_ms) {
  bool can_reply = cv.last_inbound_at != 0 && now_ms < cv.last_inbound_at + kReplyWindowMs;
  // Keys in nlohmann's (sorted) order.
  out += "{\"assignedTo\":";
  append_string_or_null(out, cv.assigned_to);
  out += can_reply ? ",\"canReply\":true" : ",\"canReply\":false";
  out += ",\"contact\":{\"id\":";
  append_json_string(out, ct.id);
  out += ",\"name\":";
  append_string_or_null(out, ct.display_name());
  out += ",\"phone\":";
  append_string_or_null(out, ct.phone);
  out += ",\"username\":";
  append_string_or_null(out, ct.username);
  out += ",\"waUserId\":";
  append_string_or_null(out, ct.wa_user_id);
  out += "},\"createdAt\":";
  out += std::to_string(cv.created_at);
  out += ",\"id\":";
  append_json_string(out, cv.id);
  out += ",\"lastInboundAt\":";
  append_int_or_null(out, cv.last_inbound_at);
  out += ",\"lastMessageAt\":";
  append_int_or_null(out, cv.last_message_at);
  out += ",\"lastMessagePreview\":";
  append_string_or_null(out, cv.last_message_preview);
  out += ",\"mode\":";
  append_json_string(out, cv.mode);
  out += ",\"status\":";
  append_json_string(out, cv.status);
  out += ",\"tags\":";
  append_tags(out, cv.tags);
  out += ",\"unreadCount\":";
  out += std::to_string(cv.unread_count);
  out += ",\"updatedAt\":";
  out += std::to_string(cv.updated_at);
  out += '}';
}

void append_conversation_record(std::string& out, const conversation& c) {
  // Keys in nlohmann's (sorted) order, defaults left out: the text is what dumping to_json(c)
  // gives.
  const conversation d;
  out += "{\"a\":";
  out += std::to_string(c.created_at);
  out += ",\"c\":";
  append_json_string(out, c.contact_id);
  auto field = [&](const char* key) {
    out += ",\"";
    out += key;
    out += "\":";
  };
  if (!c.assigned_to.empty()) {
    field("g");
    append_json_string(out, c.assigned_to);
  }
  if (c.last_inbound_at != 0) {
    field("i");
    out += std::to_string(c.last_inbound_at);
  }
  if (c.last_message_at != c.last_inbound_at) {
    field("l");
    out += std::to_string(c.last_message_at);
  }
  if (c.mode != d.mode) {
    field("m");
    append_json_string(out, c.mode);
  }
  if (c.unread_count != 0) {
    field("n");
    out += std::to_string(c.unread_count);
  }
  if (!c.last_message_preview.empty()) {
    field("p");
    append_json_string(out, c.last_message_preview);
  }
  if (c.seq != 0) {
    field("q");
    out += std::to_string(c.seq);
  }
  if (c.status != d.status) {
    field("s");
    append_json_string(out, c.status);
  }
  if (!c.tags.empty()) {
    field("t");
    append_tags(out, c.tags);
  }
  if (c.updated_at != c.created_at) {
    field("u");
    out += std::to_string(c.updated_at);
  }
  out += '}';
}

void append_contact_record(std::string& out, const contact& c) {
  out += "{\"a\":";
  out += std::to_string(c.created_at);
  if (!c.custom_name.empty()) {
    out += ",\"c\":";
    append_json_string(out, c.custom_name);
  }
  if (c.marketing_changed_at != 0) {
    out += ",\"g\":";
    out += std::to_string(c.marketing_changed_at);
  }
  if (!c.username.empty()) {
    out += ",\"h\":";
    append_json_string(out, c.username);
  }
  if (!c.profile_name.empty()) {
    out += ",\"n\":";
    append_json_string(out, c.profile_name);
  }
  if (c.marketing_opt_out_at != 0) {
    out += ",\"o\":";
    out += std::to_string(c.marketing_opt_out_at);
  }
  if (!c.phone.empty()) {
    out += ",\"p\":";
    append_json_string(out, c.phone);
  }
  if (!c.tags.empty()) {
    out += ",\"t\":";
    append_tags(out, c.tags);
  }
  if (c.updated_at != c.created_at) {
    out += ",\"u\":";
    out += std::to_string(c.updated_at);
  }
  if (!c.wa_user_id.empty()) {
    out += ",\"w\":";
    append_json_string(out, c.wa_user_id);
  }
  out += '}';
}

std::string message_preview(const nlohmann::json& m) {
  std::string text;
  if (auto t = m.find("text"); t != m.end() && t->is_string())
    text = t->get<std::string>();
  if (text.empty()) {
    std::string type = m.value("type", std::string("message"));
    text = "[" + type + "]";
  }
  truncate_utf8(text, 120);
  return text;
}

} // namespace inboxd
