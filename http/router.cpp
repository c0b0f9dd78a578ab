#include "http/router.hpp"

#include <array>

namespace inboxd {

namespace {

struct entry {
  const char* method;
  const char* pattern; // "{}" matches one non-empty segment
  route which;
};

const entry table[] = {
    {"GET", "/healthz", route::healthz},
    {"GET", "/readyz", route::readyz},
    {"GET", "/metrics", route::metrics},
    {"GET", "/api/openapi.json", route::openapi},
    {"GET", "/", route::web_index},
    {"GET", "/app/{}", route::web_file},
    {"GET", "/api/webhook/whatsapp", route::wa_verify},
    {"POST", "/api/webhook/whatsapp", route::wa_webhook},
    {"POST", "/api/webhook/kapso", route::kapso_webhook},
    // Per-number callback URLs (scale-out: the balancer places them by number).
    {"GET", "/api/webhook/whatsapp/{}", route::wa_verify},
    {"POST", "/api/webhook/whatsapp/{}", route::wa_webhook},
    {"POST", "/api/admin/workspaces", route::admin_ws_create},
    {"GET", "/api/admin/workspaces/{}", route::admin_ws_get},
    {"PATCH", "/api/admin/workspaces/{}", route::admin_ws_patch},
    {"POST", "/api/admin/workspaces/{}/api-keys", route::admin_key_create},
    {"DELETE", "/api/admin/workspaces/{}/api-keys/{}", route::admin_key_delete},
    {"GET", "/api/admin/dead-letters", route::admin_dead_letters},
    {"POST", "/api/admin/dead-letters/replay", route::admin_replay},
    {"GET", "/api/contacts/by-phone", route::contact_by_phone},
    {"GET", "/api/contacts/by-user-id", route::contact_by_user_id},
    {"GET", "/api/contacts", route::contacts_list},
    {"GET", "/api/conversations", route::conversations_list},
    {"GET", "/api/members", route::members_list},
    {"GET", "/api/conversations/{}", route::conversation_get},
    {"GET", "/api/conversations/{}/messages", route::messages_list},
    {"PUT", "/api/admin/workspaces/{}/members/{}", route::admin_member_put},
    {"DELETE", "/api/admin/workspaces/{}/members/{}", route::admin_member_delete},
    {"GET", "/api/admin/workspaces/{}/members", route::admin_members_list},
    {"PATCH", "/api/contacts/{}", route::contact_patch},
    {"DELETE", "/api/contacts/{}", route::contact_delete},
    {"POST", "/api/conversations/{}/assign", route::conversation_assign},
    {"POST", "/api/conversations/{}/handover", route::conversation_handover},
    {"POST", "/api/conversations/{}/read", route::conversation_read},
    {"POST", "/api/conversations/{}/typing", route::conversation_typing},
    {"POST", "/api/conversations/{}/status", route::conversation_status},
    {"PUT", "/api/conversations/{}/tags", route::conversation_tags},
    {"POST", "/api/messages/send", route::message_send},
    {"GET", "/api/messages/{}/media", route::message_media},
    {"POST", "/api/media", route::media_upload},
    {"GET", "/api/events", route::events},
    {"POST", "/api/webhooks", route::hooks_create},
    {"GET", "/api/webhooks", route::hooks_list},
    {"DELETE", "/api/webhooks/{}", route::hooks_delete},
    {"GET", "/api/webhooks/{}/deliveries", route::hook_deliveries},
    {"POST", "/api/webhooks/{}/deliveries/{}/redeliver", route::hook_redeliver},
};

// A path's segments, without allocating: no route has more than kMaxSegments, so a longer
// path (`n` past the end) matches nothing.
constexpr size_t kMaxSegments = 8;
struct segments {
  std::array<std::string_view, kMaxSegments> at;
  size_t n = 0;
};

segments split(std::string_view path) {
  segments out;
  if (path.empty() || path[0] != '/')
    return out;
  path.remove_prefix(1);
  while (true) {
    auto slash = path.find('/');
    if (out.n == kMaxSegments) {
      out.n = kMaxSegments + 1;
      return out;
    }
    out.at[out.n++] = path.substr(0, slash);
    if (slash == std::string_view::npos)
      break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

// The table's patterns, split once.
const auto& split_patterns() {
  static const auto split_table = [] {
    std::array<segments, std::size(table)> out;
    for (size_t i = 0; i < std::size(table); ++i)
      out[i] = split(table[i].pattern);
    return out;
  }();
  return split_table;
}

bool matches(const segments& pat, const segments& segs, std::vector<std::string>& params) {
  if (pat.n != segs.n)
    return false;
  for (size_t i = 0; i < pat.n; ++i)
    if (pat.at[i] == "{}" ? segs.at[i].empty() : pat.at[i] != segs.at[i])
      return false;
  params.clear();
  for (size_t i = 0; i < pat.n; ++i)
    if (pat.at[i] == "{}")
      params.emplace_back(segs.at[i]);
  return true;
}

} // namespace

route_match match_route(std::string_view method, std::string_view path) {
  route_match out;
  auto segs = split(path);
  if (segs.n == 0 || segs.n > kMaxSegments)
    return out;
  std::vector<std::string> params;
  auto& patterns = split_patterns();
  for (size_t i = 0; i < std::size(table); ++i) {
    auto& e = table[i];
    if (!matches(patterns[i], segs, params))
      continue;
    if (method == e.method) {
      out.which = e.which;
      out.params = std::move(params);
      out.allowed.clear();
      return out;
    }
    out.which = route::method_not_allowed;
    if (!out.allowed.empty())
      out.allowed += ", ";
    out.allowed += e.method;
  }
  return out;
}

const char* route_name(route r) {
  switch (r) {
    case route::not_found:
      return "not_found";
    case route::method_not_allowed:
      return "method_not_allowed";
    case route::healthz:
      return "healthz";
    case route::metrics:
      return "metrics";
    case route::readyz:
      return "readyz";
    case route::wa_verify:
      return "wa_verify";
    case route::wa_webhook:
      return "wa_webhook";
    case route::kapso_webhook:
      return "kapso_webhook";
    case route::admin_ws_create:
      return "admin_ws_create";
    case route::admin_ws_get:
      return "admin_ws_get";
    case route::admin_ws_patch:
      return "admin_ws_patch";
    case route::admin_key_create:
      return "admin_key_create";
    case route::admin_key_delete:
      return "admin_key_delete";
    case route::admin_dead_letters:
      return "admin_dead_letters";
    case route::admin_replay:
      return "admin_replay";
    case route::contact_by_phone:
      return "contact_by_phone";
    case route::contact_by_user_id:
      return "contact_by_user_id";
    case route::contacts_list:
      return "contacts_list";
    case route::conversations_list:
      return "conversations_list";
    case route::members_list:
      return "members_list";
    case route::conversation_get:
      return "conversation_get";
    case route::messages_list:
      return "messages_list";
    case route::admin_member_put:
      return "admin_member_put";
    case route::admin_member_delete:
      return "admin_member_delete";
    case route::admin_members_list:
      return "admin_members_list";
    case route::contact_patch:
      return "contact_patch";
    case route::contact_delete:
      return "contact_delete";
    case route::conversation_assign:
      return "conversation_assign";
    case route::conversation_handover:
      return "conversation_handover";
    case route::conversation_read:
      return "conversation_read";
    case route::conversation_typing:
      return "conversation_typing";
    case route::conversation_status:
      return "conversation_status";
    case route::conversation_tags:
      return "conversation_tags";
    case route::message_send:
      return "message_send";
    case route::events:
      return "events";
    case route::message_media:
      return "message_media";
    case route::media_upload:
      return "media_upload";
    case route::hooks_create:
      return "hooks_create";
    case route::hooks_list:
      return "hooks_list";
    case route::hooks_delete:
      return "hooks_delete";
    case route::hook_deliveries:
      return "hook_deliveries";
    case route::hook_redeliver:
      return "hook_redeliver";
    case route::openapi:
      return "openapi";
    case route::web_index:
      return "web_index";
    case route::web_file:
      return "web_file";
  }
  return nullptr;
}

} // namespace inboxd
