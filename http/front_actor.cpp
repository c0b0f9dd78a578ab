#include "http/front_actor.hpp"

#include <charconv>
#include <map>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/dropped.hpp"
#include "actors/registry.hpp"
#include "http/forwarder.hpp"
#include "http/hook_request.hpp"
#include "http/json_body.hpp"
#include "http/jwt.hpp"
#include "http/openapi_document.hpp"
#include "http/router.hpp"
#include "http/send_request.hpp"
#include "http/web_page.hpp"
#include "http/webhook_ingest.hpp"
#include "messages/actor_messages.hpp"
#include "messages/crypto.hpp"
#include "messages/ids.hpp"
#include "metrics/metrics.hpp"
#include "storage/store.hpp"
#include "whatsapp/media_api.hpp"
#include "whatsapp/webhook_decoder.hpp"

namespace inboxd {

namespace {

struct front_state {
  front_deps deps;
  static inline const char* name = "front";
};

using front = caf::stateful_actor<front_state>;

// Integer query parameter in [lo, hi]; absent -> def. False when present but invalid.
bool int_param(const http_request& req, const std::string& name, int64_t lo, int64_t hi,
               int64_t def, int64_t& out) {
  if (!req.has_param(name)) {
    out = def;
    return true;
  }
  auto v = req.param(name);
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  return ec == std::errc{} && p == v.data() + v.size() && out >= lo && out <= hi;
}

bool admin_ok(front* self, const http_request& req, const reply_handle& reply) {
  auto& token = self->state.deps.cfg.admin_token;
  if (token.empty()) {
    reply.error(api_error::forbidden, "the admin API is disabled (INBOXD_ADMIN_TOKEN is not set)");
    return false;
  }
  auto auth = req.header("authorization");
  if (auth.rfind("Bearer ", 0) != 0 || !constant_time_equal(auth.substr(7), token)) {
    reply.error(api_error::unauthorized, "missing or invalid admin token");
    return false;
  }
  return true;
}

// GET /metrics (Prometheus text 0.0.4): the process-wide registry (metrics/metrics.hpp), plus
// the live actors, which only the actor system knows.
http_response metrics_page(caf::actor_system& sys) {
  http_response res;
  res.content_type = "text/plain; version=0.0.4; charset=utf-8";
  res.body = metrics::registry::global().render();
  res.body +=
      "# HELP inboxd_live_actors Actors running now (conversations, workspaces, outboxes, "
      "HTTP fronts, directory).\n# TYPE inboxd_live_actors gauge\n";
  metrics::write_sample(res.body, "inboxd_live_actors", "",
                        static_cast<double>(sys.registry().running()));
  return res;
}

// GET /api/openapi.json: the embedded document, with a strong ETag (If-None-Match -> 304).
http_response openapi_page(const http_request& req) {
  http_response res;
  auto etag = openapi_document_etag();
  res.headers.emplace_back("ETag", std::string(etag));
  res.headers.emplace_back("Cache-Control", "no-cache");
  auto match = req.header("if-none-match");
  if (match == "*" || match.find(etag) != std::string::npos) {
    res.status = 304;
    res.content_type.clear();
    return res;
  }
  res.body = std::string(openapi_document());
  return res;
}

void verify_handshake(front* self, const http_exchange& ex) {
  auto& req = *ex.request;
  auto token = req.param("hub.verify_token");
  bool ok = req.param("hub.mode") == "subscribe" && !token.empty();
  if (ok) {
    auto& global = self->state.deps.cfg.meta_verify_token;
    bool match = !global.empty() && constant_time_equal(global, token);
    if (!match) {
      auto snap = self->state.deps.reg->get();
      for (auto& [id, e] : snap->by_id)
        if (!e->ws.verify_token.empty() && constant_time_equal(e->ws.verify_token, token))
          match = true;
    }
    ok = match;
  }
  if (!ok)
    return ex.reply.error(api_error::forbidden, "verification failed");
  auto challenge = req.param("hub.challenge");
  if (challenge.size() > 1024)
    return ex.reply.error(api_error::bad_request, "hub.challenge too long");
  ex.reply.send(http_response{200, challenge, "text/plain; charset=utf-8", {}});
}

// Scale-out: a workspace (or number) this node does not know may have been created on another
// node since the directory last read the workspaces (once a second). Unless that was done for
// this exchange already, the directory reads them again and hands the exchange back (synced),
// and true is returned: the caller stops here.
bool resync(front* self, const http_exchange& ex) {
  if (!self->state.deps.fwd || ex.synced)
    return false;
  self->send(*self->state.deps.directory, sync_atom::value, ex);
  return true;
}

// User token: a verified HS256 JWT names the user; X-Workspace-Id or ?workspace= (id or slug)
// names the workspace, whose actor checks membership on every request.
void inbox_as_user(front* self, const http_exchange& ex, inbox_call call,
                   const std::string& token) {
  auto& req = *ex.request;
  auto now_s = now_ms() / 1000;
  auto verified = verify_jwt_hs256(token, self->state.deps.cfg.jwt_secret, now_s);
  if (!verified.ok)
    return ex.reply.error(api_error::unauthorized, "invalid or expired token");
  auto ws = req.header("x-workspace-id");
  if (ws.empty())
    ws = req.param("workspace");
  if (ws.empty())
    return ex.reply.error(api_error::bad_request, "choose a workspace with X-Workspace-Id or ?workspace=");
  auto snap = self->state.deps.reg->get();
  auto entry = snap->find_id(ws);
  if (!entry)
    if (auto i = snap->by_slug.find(ws); i != snap->by_slug.end())
      entry = i->second.get();
  if (!entry && resync(self, ex))
    return;
  if (!entry)
    return ex.reply.error(api_error::forbidden, "not a member of this workspace");
  ex.reply.set_workspace(entry->ws.id);
  call.user_id = verified.claims.sub;
  call.forwarded = forwarder::is_hop(*ex.request);
  self->send(entry->actor, std::move(call));
}

// The workspace an API key names: ibx_<workspaceId>_<secret>, or ibx.<workspaceId>.<keyId>.<secret>
// (keys made before 2026-12-03). Empty when it is neither.
std::string key_workspace(const std::string& key) {
  if (key.rfind("ibx_", 0) == 0) {
    auto last = key.rfind('_');
    return last > 4 ? key.substr(4, last - 4) : std::string();
  }
  if (key.rfind("ibx.", 0) != 0)
    return {};
  auto end = key.find('.', 4);
  return end == std::string::npos ? std::string() : key.substr(4, end - 4);
}

// Inbox API: the API key names its workspace; that workspace's actor checks it.
void inbox(front* self, const http_exchange& ex, inbox_call call) {
  auto& req = *ex.request;
  call.reply = ex.reply;
  auto key = req.header("x-api-key");
  if (key.empty()) {
    auto auth = req.header("authorization");
    if (auth.size() > 7 && auth.compare(0, 7, "Bearer ") == 0)
      return inbox_as_user(self, ex, std::move(call), auth.substr(7));
    return ex.reply.error(api_error::unauthorized,
                          "missing credentials (Authorization: Bearer or X-API-Key)");
  }
  auto ws = key_workspace(key);
  if (ws.empty())
    return ex.reply.error(api_error::unauthorized, "invalid API key");
  auto snap = self->state.deps.reg->get();
  auto entry = snap->find_id(ws);
  if (!entry && resync(self, ex))
    return;
  if (!entry)
    return ex.reply.error(api_error::unauthorized, "invalid API key");
  ex.reply.set_workspace(entry->ws.id);
  call.api_key = std::move(key);
  call.forwarded = forwarder::is_hop(req);
  self->send(entry->actor, std::move(call));
}

bool list_params(const http_request& req, int64_t default_limit, inbox_call& call,
                 const reply_handle& reply) {
  if (!int_param(req, "limit", 1, 100, default_limit, call.limit)) {
    reply.error(api_error::bad_request, "limit must be an integer from 1 to 100");
    return false;
  }
  if (!int_param(req, "page", 1, 1000000, 1, call.page)) {
    reply.error(api_error::bad_request, "page must be a positive integer");
    return false;
  }
  call.q = req.param("q");
  if (call.q.size() > 200) {
    reply.error(api_error::bad_request, "q is too long");
    return false;
  }
  return true;
}

bool conversation_filters(const http_request& req, inbox_call& call, const reply_handle& reply) {
  auto bad = [&](const char* msg) {
    reply.error(api_error::bad_request, msg);
    return false;
  };
  call.status = req.has_param("status") ? req.param("status") : "open";
  if (call.status != "open" && call.status != "pending" && call.status != "closed" &&
      call.status != "all")
    return bad("status must be open, pending, closed or all");
  call.mode = req.param("mode");
  if (req.has_param("mode") && call.mode != "ai" && call.mode != "human")
    return bad("mode must be ai or human");
  call.assigned_to = req.param("assignedTo");
  if (req.has_param("assignedTo") && (call.assigned_to.empty() || call.assigned_to.size() > 128))
    return bad("assignedTo must be a user id, me or unassigned");
  if (req.has_param("active")) {
    auto a = req.param("active");
    if (a != "true" && a != "false")
      return bad("active must be true or false");
    call.active_only = a == "true";
  }
  if (req.has_param("tags")) {
    auto tags = req.param("tags");
    size_t start = 0;
    while (start <= tags.size()) {
      auto comma = tags.find(',', start);
      auto t = tags.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!t.empty())
        call.tags.push_back(t);
      if (comma == std::string::npos)
        break;
      start = comma + 1;
    }
    if (call.tags.size() > 20)
      return bad("at most 20 tags");
  }
  return true;
}

// The JSON object body of a write; answers 415/400 and returns false when it is not one.
bool object_body(const http_request& req, const reply_handle& reply, nlohmann::json& out) {
  if (!json_body_ok(req, reply))
    return false;
  std::string error;
  if (!parse_json_bounded(req.body, out, error)) {
    reply.error(api_error::bad_request, error);
    return false;
  }
  if (!out.is_object()) {
    reply.error(api_error::bad_request, "body must be a JSON object");
    return false;
  }
  return true;
}

// A required string field with one of `allowed` values: wrong type 400, other value 422.
bool enum_field(const nlohmann::json& body, const char* key,
                std::initializer_list<const char*> allowed, std::string& out,
                const reply_handle& reply) {
  auto i = body.find(key);
  if (i == body.end() || !i->is_string()) {
    reply.error(api_error::bad_request, std::string(key) + " must be a string");
    return false;
  }
  out = i->get<std::string>();
  for (auto a : allowed)
    if (out == a)
      return true;
  reply.error(api_error::unprocessable, std::string(key) + " has an unknown value");
  return false;
}

// A tags array: strings of 1 to 64 characters, at most 50, duplicates dropped.
bool tags_field(const nlohmann::json& value, std::vector<std::string>& out,
                const reply_handle& reply) {
  if (!value.is_array()) {
    reply.error(api_error::bad_request, "tags must be an array of strings");
    return false;
  }
  for (auto& t : value) {
    if (!t.is_string()) {
      reply.error(api_error::bad_request, "tags must be an array of strings");
      return false;
    }
    auto s = t.get<std::string>();
    if (s.empty() || s.size() > 64 || s.find(',') != std::string::npos) {
      reply.error(api_error::unprocessable, "a tag has 1 to 64 characters and no comma");
      return false;
    }
    if (std::find(out.begin(), out.end(), s) == out.end())
      out.push_back(std::move(s));
  }
  if (out.size() > 50) {
    reply.error(api_error::unprocessable, "at most 50 tags");
    return false;
  }
  return true;
}

// POST /api/media: the body is the file (spooled to disk by the server), Content-Type its type.
bool upload_call(const http_request& req, inbox_call& call, const reply_handle& reply) {
  if (req.header("x-api-key").empty() && req.header("authorization").empty()) {
    // Not spooled (http_server reads no upload without credentials): inbox() answers 401.
    return true;
  }
  if (!req.body_file) {
    reply.error(api_error::unprocessable,
                "media is disabled on this server (INBOXD_MEDIA_DIR is empty)");
    return false;
  }
  if (req.body_file->size == 0) {
    reply.error(api_error::bad_request, "the body must be the file to upload");
    return false;
  }
  call.value = media_type_of(req.header("content-type"));
  if (call.value.empty()) {
    reply.error(api_error::unsupported_media_type,
                "Content-Type must be the file's media type (such as image/jpeg)");
    return false;
  }
  return true;
}

// Builds the call of a write route from its body; false when it already answered.
bool write_call(const http_request& req, route which, inbox_call& call, const reply_handle& reply) {
  using op = inbox_call::op;
  nlohmann::json body;
  switch (which) {
    case route::conversation_read:
      call.what = op::mark_read;
      return true;
    case route::conversation_typing:
      call.what = op::typing;
      return true;
    case route::conversation_assign: {
      call.what = op::assign;
      if (!object_body(req, reply, body))
        return false;
      auto i = body.find("assignedTo");
      if (i == body.end() || !(i->is_null() || i->is_string())) {
        reply.error(api_error::bad_request, "assignedTo must be a user id or null");
        return false;
      }
      call.value_null = i->is_null();
      if (!call.value_null)
        call.value = i->get<std::string>();
      if (!call.value_null && (call.value.empty() || call.value.size() > 256)) {
        reply.error(api_error::unprocessable, "assignedTo must be a user id or null");
        return false;
      }
      return true;
    }
    case route::conversation_handover:
      call.what = op::handover;
      return object_body(req, reply, body) &&
             enum_field(body, "mode", {"human", "ai"}, call.value, reply);
    case route::conversation_status:
      call.what = op::set_status;
      return object_body(req, reply, body) &&
             enum_field(body, "status", {"open", "pending", "closed"}, call.value, reply);
    case route::conversation_tags: {
      call.what = op::set_tags;
      if (!object_body(req, reply, body))
        return false;
      if (!body.contains("tags")) {
        reply.error(api_error::bad_request, "tags is required");
        return false;
      }
      return tags_field(body["tags"], call.tags, reply);
    }
    case route::contact_patch: {
      call.what = op::patch_contact;
      if (!object_body(req, reply, body))
        return false;
      if (auto n = body.find("name"); n != body.end()) {
        if (!n->is_null() && !n->is_string()) {
          reply.error(api_error::bad_request, "name must be a string or null");
          return false;
        }
        call.has_name = true;
        call.name_null = n->is_null();
        if (!call.name_null)
          call.name = n->get<std::string>();
        if (call.name.size() > 200) {
          reply.error(api_error::unprocessable, "name has at most 200 characters");
          return false;
        }
      }
      if (auto t = body.find("tags"); t != body.end()) {
        call.has_tags = true;
        if (!tags_field(*t, call.tags, reply))
          return false;
      }
      return true;
    }
    default:
      reply.error(api_error::not_found, "no such route");
      return false;
  }
}

void handle(front* self, http_exchange& ex) {
  auto& req = *ex.request;
  auto& reply = ex.reply;
  auto m = match_route(req.method, req.path);
  reply.set_route(static_cast<int>(m.which));
  auto& deps = self->state.deps;
  auto directory = *deps.directory;
  using op = inbox_call::op;
  switch (m.which) {
    case route::not_found:
      return reply.error(api_error::not_found, "no such route");
    case route::method_not_allowed: {
      auto res = make_error(api_error::method_not_allowed, "method not allowed on this route");
      res.headers.emplace_back("Allow", m.allowed);
      return reply.send(std::move(res));
    }
    case route::healthz:
      return reply.json(200, {{"status", "ok"}});
    case route::metrics:
      return reply.send(metrics_page(self->system()));
    case route::openapi:
      return reply.send(openapi_page(req));
    case route::web_index:
      return reply.send(web_page(req, "index.html"));
    case route::web_file:
      return reply.send(web_page(req, m.params[0]));
    case route::readyz: {
      bool redis = deps.db->reachable();
      bool loaded = deps.reg->get()->loaded;
      if (redis && loaded)
        return reply.json(200, {{"status", "ready"}});
      return reply.send(
          make_error(api_error::unavailable, redis ? "loading workspaces" : "redis is not reachable"));
    }
    case route::wa_verify:
      return verify_handshake(self, ex);
    case route::wa_webhook:
    case route::kapso_webhook:
      if (!ingest_webhook(deps, ex, m.which == route::wa_webhook))
        resync(self, ex); // an unknown number (scale-out): once more after a fresh read
      return;
    default:
      break;
  }
  // Everything below needs the workspaces loaded.
  if (!deps.reg->get()->loaded)
    return reply.error(api_error::unavailable, "starting up; try again");
  // Admin routes.
  auto admin = [&](admin_call::op what, std::string ws_id = {}) {
    admin_call call{what, std::move(ws_id), {}, 25, reply};
    if (what == admin_call::op::create_workspace || what == admin_call::op::patch_workspace) {
      if (!json_body_ok(req, reply))
        return;
      call.body = req.body;
    }
    if (what == admin_call::op::list_dead_letters &&
        !int_param(req, "limit", 1, 100, 25, call.limit))
      return reply.error(api_error::bad_request, "limit must be an integer from 1 to 100");
    self->send(directory, std::move(call));
  };
  switch (m.which) {
    case route::admin_ws_create:
    case route::admin_ws_get:
    case route::admin_ws_patch:
    case route::admin_key_create:
    case route::admin_key_delete:
    case route::admin_dead_letters:
    case route::admin_replay:
    case route::admin_member_put:
    case route::admin_member_delete:
    case route::admin_members_list:
      if (!admin_ok(self, req, reply))
        return;
      break;
    default:
      break;
  }
  switch (m.which) {
    case route::admin_ws_create:
      return admin(admin_call::op::create_workspace);
    case route::admin_ws_get:
      return admin(admin_call::op::get_workspace, m.params[0]);
    case route::admin_ws_patch:
      return admin(admin_call::op::patch_workspace, m.params[0]);
    case route::admin_dead_letters:
      return admin(admin_call::op::list_dead_letters);
    case route::admin_replay:
      return admin(admin_call::op::replay_dead_letters);
    case route::admin_key_create:
    case route::admin_key_delete:
    case route::admin_member_put:
    case route::admin_member_delete:
    case route::admin_members_list: {
      auto entry = deps.reg->get()->find_id(m.params[0]);
      if (!entry && resync(self, ex))
        return;
      if (!entry)
        return reply.error(api_error::not_found, "no such workspace");
      reply.set_workspace(entry->ws.id);
      inbox_call call;
      switch (m.which) {
        case route::admin_key_create:
          call.what = op::create_api_key;
          break;
        case route::admin_key_delete:
          call.what = op::revoke_api_key;
          break;
        case route::admin_member_put:
          call.what = op::put_member;
          break;
        case route::admin_member_delete:
          call.what = op::delete_member;
          break;
        default:
          call.what = op::list_members;
          break;
      }
      if (m.params.size() > 1)
        call.id = m.params[1];
      if (call.id.size() > 256)
        return reply.error(api_error::unprocessable, "id too long");
      if (call.what == op::put_member) {
        nlohmann::json body;
        if (!object_body(req, reply, body) ||
            !enum_field(body, "role", {"owner", "admin", "agent"}, call.value, reply))
          return;
      }
      call.reply = reply;
      call.forwarded = forwarder::is_hop(req);
      self->send(entry->actor, std::move(call));
      return;
    }
    default:
      break;
  }
  // Inbox routes.
  inbox_call call;
  switch (m.which) {
    case route::contact_by_phone:
      call.what = op::contact_by_phone;
      call.phone = normalize_phone(req.param("phone"));
      if (call.phone.empty())
        return reply.error(api_error::bad_request, "phone must be a phone number");
      return inbox(self, ex, std::move(call));
    case route::contact_by_user_id:
      call.what = op::contact_by_user_id;
      call.value = req.param("userId");
      if (call.value.empty() || call.value.size() > 128)
        return reply.error(api_error::bad_request, "userId must be a business-scoped user id");
      return inbox(self, ex, std::move(call));
    case route::contacts_list:
      call.what = op::contacts_list;
      if (!list_params(req, 25, call, reply))
        return;
      return inbox(self, ex, std::move(call));
    case route::conversations_list:
      call.what = op::conversations_list;
      if (!list_params(req, 25, call, reply) || !conversation_filters(req, call, reply))
        return;
      return inbox(self, ex, std::move(call));
    case route::members_list:
      call.what = op::members;
      return inbox(self, ex, std::move(call));
    case route::conversation_get:
      call.what = op::conversation_get;
      call.id = m.params[0];
      return inbox(self, ex, std::move(call));
    case route::message_media:
      call.what = op::message_media;
      call.id = m.params[0];
      call.request = ex.request;
      return inbox(self, ex, std::move(call));
    case route::media_upload:
      call.what = op::upload_media;
      if (!upload_call(req, call, reply))
        return;
      call.request = ex.request;
      return inbox(self, ex, std::move(call));
    case route::messages_list:
      call.what = op::messages_list;
      call.id = m.params[0];
      if (!int_param(req, "limit", 1, 100, 50, call.limit))
        return reply.error(api_error::bad_request, "limit must be an integer from 1 to 100");
      if (req.has_param("before") && req.param("before") != "" &&
          !int_param(req, "before", 1, INT64_MAX, 0, call.before))
        return reply.error(api_error::bad_request, "before must be a cursor from nextBefore");
      return inbox(self, ex, std::move(call));
    case route::conversation_assign:
    case route::conversation_handover:
    case route::conversation_read:
    case route::conversation_typing:
    case route::conversation_status:
    case route::conversation_tags:
    case route::contact_patch:
      call.id = m.params[0];
      if (!write_call(req, m.which, call, reply))
        return;
      return inbox(self, ex, std::move(call));
    case route::events: {
      call.what = op::subscribe_events;
      call.value = req.header("last-event-id");
      if (call.value.empty())
        call.value = req.param("lastEventId");
      if (call.value.size() > 64)
        return reply.error(api_error::bad_request, "Last-Event-ID is too long");
      // Browsers' EventSource cannot set headers: ?access_token= carries the user token (or an
      // API key) instead.
      auto token = req.param("access_token");
      if (!token.empty() && req.header("x-api-key").empty() &&
          req.header("authorization").empty()) {
        auto with_token = std::make_shared<http_request>(req);
        if (token.rfind("ibx", 0) == 0) // an API key (a user token is a JWT: "eyJ...")
          with_token->headers.emplace_back("x-api-key", token);
        else
          with_token->headers.emplace_back("authorization", "Bearer " + token);
        return inbox(self, http_exchange{std::move(with_token), reply, ex.synced}, std::move(call));
      }
      return inbox(self, ex, std::move(call));
    }
    case route::message_send: {
      nlohmann::json body;
      if (!object_body(req, reply, body))
        return;
      send_request parsed;
      api_error code{};
      std::string message;
      if (!parse_send_request(body, parsed, code, message))
        return reply.error(code, message);
      call.what = op::send_message;
      call.id = std::move(parsed.conversation_id);
      call.draft = std::move(parsed.draft);
      call.client_message_id = std::move(parsed.client_message_id);
      call.reply_to = std::move(parsed.reply_to);
      return inbox(self, ex, std::move(call));
    }
    case route::hooks_create: {
      nlohmann::json body;
      if (!object_body(req, reply, body))
        return;
      api_error code{};
      std::string message;
      if (!parse_hook_request(body, self->state.deps.cfg.webhook_allow_private, call.draft, code,
                              message))
        return reply.error(code, message);
      call.what = op::hooks_create;
      return inbox(self, ex, std::move(call));
    }
    case route::hooks_list:
      call.what = op::hooks_list;
      return inbox(self, ex, std::move(call));
    case route::contact_delete:
      call.what = op::erase_contact;
      call.id = m.params[0];
      return inbox(self, ex, std::move(call));
    case route::hooks_delete:
      call.what = op::hooks_delete;
      call.id = m.params[0];
      return inbox(self, ex, std::move(call));
    case route::hook_deliveries:
      call.what = op::hook_deliveries;
      call.id = m.params[0];
      call.value = req.has_param("status") ? req.param("status") : "failed";
      if (call.value != "pending" && call.value != "succeeded" && call.value != "failed")
        return reply.error(api_error::bad_request, "status must be pending, succeeded or failed");
      if (!int_param(req, "limit", 1, 100, 25, call.limit))
        return reply.error(api_error::bad_request, "limit must be an integer from 1 to 100");
      return inbox(self, ex, std::move(call));
    case route::hook_redeliver:
      call.what = op::hook_redeliver;
      call.id = m.params[0];
      call.value = m.params[1];
      if (call.value.size() > 64)
        return reply.error(api_error::not_found, "no such delivery");
      return inbox(self, ex, std::move(call));
    default:
      return reply.error(api_error::not_found, "no such route");
  }
}

caf::behavior front_behavior(front* self, front_deps deps) {
  self->state.deps = std::move(deps);
  self->set_default_handler(log_and_drop);
  return {
      [self](http_exchange& ex) { handle(self, ex); },
  };
}

} // namespace

caf::actor spawn_front_actor(caf::actor_system& sys, front_deps deps) {
  return sys.spawn(front_behavior, std::move(deps));
}

} // namespace inboxd
