#include "actors/workspace_input.hpp"

#include "messages/http_url.hpp"

namespace inboxd {

namespace {

bool printable_token(const std::string& s, size_t max) {
  if (s.empty() || s.size() > max)
    return false;
  for (unsigned char c : s)
    if (c <= ' ' || c == 0x7f)
      return false;
  return true;
}

bool valid_slug(const std::string& s) {
  if (s.empty() || s.size() > 64)
    return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  return true;
}

} // namespace

bool apply_workspace_input(const nlohmann::json& body, bool creating, workspace& ws,
                           input_error& err, bool allow_private) {
  auto fail = [&](api_error code, std::string msg) {
    err = {code, std::move(msg)};
    return false;
  };
  if (!body.is_object())
    return fail(api_error::bad_request, "body must be a JSON object");
  // Strings: wrong type -> 400; then value checks -> 422.
  auto str = [&](const char* key, std::string& out, bool& present) -> bool {
    present = false;
    auto i = body.find(key);
    if (i == body.end() || i->is_null())
      return true;
    if (!i->is_string())
      return fail(api_error::bad_request, std::string(key) + " must be a string");
    out = i->get<std::string>();
    present = true;
    return true;
  };
  bool has = false;
  std::string name = ws.name, slug = ws.slug, pid = ws.phone_number_id;
  if (!str("name", name, has)) return false;
  if ((creating || has) && (name.empty() || name.size() > 200))
    return fail(api_error::unprocessable, "name must be 1 to 200 characters");
  if (!str("slug", slug, has)) return false;
  if ((creating || has) && !valid_slug(slug))
    return fail(api_error::unprocessable, "slug must be 1 to 64 characters of a-z, 0-9, '-' or '_'");
  if (!str("phoneNumberId", pid, has)) return false;
  if ((creating || has) && !printable_token(pid, 64))
    return fail(api_error::unprocessable, "phoneNumberId must be 1 to 64 printable characters");
  ws.name = name;
  ws.slug = slug;
  ws.phone_number_id = pid;
  if (!str("displayPhoneNumber", ws.display_phone_number, has)) return false;
  if (!str("metaAppSecret", ws.meta_app_secret, has)) return false;
  if (!str("verifyToken", ws.verify_token, has)) return false;
  if (!str("kapsoWebhookSecret", ws.kapso_webhook_secret, has)) return false;
  std::string mode = ws.default_mode;
  if (!str("defaultMode", mode, has)) return false;
  if (mode != "human" && mode != "ai")
    return fail(api_error::unprocessable, "defaultMode must be human or ai");
  ws.default_mode = mode;
  if (auto s = body.find("send"); s != body.end() && !s->is_null()) {
    if (!s->is_object())
      return fail(api_error::bad_request, "send must be an object");
    send_settings out;
    for (auto [key, field] : {std::pair{"baseUrl", &out.base_url}, {"apiKey", &out.api_key},
                              {"accessToken", &out.access_token},
                              {"graphVersion", &out.graph_version}}) {
      auto i = s->find(key);
      if (i == s->end() || i->is_null())
        continue;
      if (!i->is_string())
        return fail(api_error::bad_request, std::string("send.") + key + " must be a string");
      *field = i->get<std::string>();
    }
    if (out.base_url.rfind("https://", 0) != 0 && out.base_url.rfind("http://", 0) != 0)
      return fail(api_error::unprocessable, "send.baseUrl must be an http(s) URL");
    if (out.api_key.empty() == out.access_token.empty())
      return fail(api_error::unprocessable, "send needs exactly one of apiKey or accessToken");
    ws.send = out;
  }
  if (auto r = body.find("retentionDays"); r != body.end()) {
    if (r->is_null()) {
      ws.retention_days = 0;
    } else if (!r->is_number_integer()) {
      return fail(api_error::bad_request, "retentionDays must be an integer or null");
    } else if (auto days = r->get<int64_t>(); days < 1 || days > 36500) {
      return fail(api_error::unprocessable, "retentionDays must be 1 to 36,500 (or null: keep)");
    } else {
      ws.retention_days = static_cast<int>(days);
    }
  }
  if (auto b = body.find("bot"); b != body.end()) {
    if (b->is_null()) {
      ws.bot_url.clear();
      ws.bot_secret.clear();
      return true;
    }
    if (!b->is_object())
      return fail(api_error::bad_request, "bot must be an object {url, secret} or null");
    auto url = b->find("url");
    auto secret = b->find("secret");
    if (url == b->end() || !url->is_string() || secret == b->end() || !secret->is_string())
      return fail(api_error::bad_request, "bot.url and bot.secret must be strings");
    auto u = url->get<std::string>();
    if (u.size() > 2048 || !valid_target_url(u, allow_private))
      return fail(api_error::unprocessable,
                  "bot.url must be an absolute http(s) URL of a public address (at most 2,048 "
                  "characters)");
    auto sec = secret->get<std::string>();
    if (sec.size() < 16 || !printable_token(sec, 256))
      return fail(api_error::unprocessable, "bot.secret must be 16 to 256 printable characters");
    ws.bot_url = std::move(u);
    ws.bot_secret = std::move(sec);
  }
  return true;
}

} // namespace inboxd
