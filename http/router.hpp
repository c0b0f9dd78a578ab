#pragma once
// The routing table: method + path -> route and path parameters. Pure, unit-tested.

#include <string>
#include <string_view>
#include <vector>

namespace inboxd {

enum class route {
  not_found,
  method_not_allowed,
  healthz,
  metrics,
  readyz,
  wa_verify,
  wa_webhook,
  kapso_webhook,
  admin_ws_create,
  admin_ws_get,
  admin_ws_patch,
  admin_key_create,
  admin_key_delete,
  admin_dead_letters,
  admin_replay,
  contact_by_phone,
  contact_by_user_id,
  contacts_list,
  conversations_list,
  members_list,
  conversation_get,
  messages_list,
  admin_member_put,
  admin_member_delete,
  admin_members_list,
  contact_patch,
  contact_delete,
  conversation_assign,
  conversation_handover,
  conversation_read,
  conversation_typing,
  conversation_status,
  conversation_tags,
  message_send,
  events,
  message_media,
  media_upload,
  hooks_create,
  hooks_list,
  hooks_delete,
  hook_deliveries,
  hook_redeliver,
  openapi,
  web_index,
  web_file,
};

struct route_match {
  route which = route::not_found;
  std::vector<std::string> params; // the {} segments, in order
  std::string allowed;             // for method_not_allowed: the Allow header
};

route_match match_route(std::string_view method, std::string_view path);

/// The route's name (its enumerator), as GET /metrics labels requests with; null for a value
/// that is not a route.
const char* route_name(route r);

} // namespace inboxd
