#pragma once
// The Redis key layout (documented in storage/KEYS.md). Every key of a workspace carries the
// hash tag {ws:<id>} so a Redis Cluster places a workspace on one slot.

#include <string>
#include <string_view>

#include "storage/change_set.hpp"

namespace inboxd::keys {

// Deployment-wide (owned by the directory actor), under one hash tag: on a Redis Cluster they
// share a slot, so a workspace save (record, slug and number, checked and written together) is
// one script call there too.
inline constexpr const char* workspaces = "{inboxd}:ws";      // HASH workspace id -> JSON
inline constexpr const char* ws_by_slug = "{inboxd}:ws:slug"; // HASH slug -> id
inline constexpr const char* ws_by_pid = "{inboxd}:ws:pid";   // HASH phone_number_id -> id
inline constexpr const char* dead_letters = "{inboxd}:deadletters"; // ZSET id by receivedAt
inline std::string dead_letter(std::string_view id) {
  return "{inboxd}:deadletter:" + std::string(id);
}

inline std::string tag(std::string_view ws) { return "{ws:" + std::string(ws) + "}"; }

// The layout before 2026-12-03 (one node only): moved to the keys above when the directory
// loads (storage/redis_registry_store.cpp, migrate_legacy).
namespace legacy {
inline constexpr const char* workspaces = "inboxd:workspaces"; // SET of workspace ids
inline constexpr const char* ws_by_slug = "inboxd:ws:slug";
inline constexpr const char* ws_by_pid = "inboxd:ws:pid";
inline constexpr const char* dead_letters = "inboxd:deadletters";
inline std::string dead_letter(std::string_view id) {
  return "inboxd:deadletter:" + std::string(id);
}
inline std::string ws_meta(std::string_view ws) { return tag(ws) + ":meta"; } // workspace JSON
} // namespace legacy
inline std::string api_keys(std::string_view ws) { return tag(ws) + ":apikeys"; }
inline std::string members(std::string_view ws) { return tag(ws) + ":members"; }
inline std::string contacts(std::string_view ws) { return tag(ws) + ":contacts"; }
inline std::string phones(std::string_view ws) { return tag(ws) + ":phones"; }
inline std::string conversations(std::string_view ws) { return tag(ws) + ":convs"; }
inline std::string message(std::string_view ws, std::string_view msg) {
  return tag(ws) + ":m:" + std::string(msg);
}
inline std::string timeline(std::string_view ws, std::string_view conv) {
  return tag(ws) + ":tl:" + std::string(conv);
}
inline std::string parked(std::string_view ws, std::string_view msg) {
  return tag(ws) + ":park:" + std::string(msg);
}
/// Outbound: message id -> our own message id, for a wamid the Cloud API gave to a message we
/// sent (statuses and echoes name the wamid; `alias(ws, message_id_for_wamid(wamid))`).
inline std::string alias(std::string_view ws, std::string_view derived) {
  return tag(ws) + ":alias:" + std::string(derived);
}
/// The mark an erased message leaves (DELETE /api/contacts/{id}): STRING "1" for 8 days, so that
/// Meta's redeliveries of it are duplicates and recreate nothing.
inline std::string gone(std::string_view ws, std::string_view msg) {
  return tag(ws) + ":gone:" + std::string(msg);
}
/// HASH sha256 -> how many of the workspace's messages hold that stored media file.
inline std::string media_refs(std::string_view ws) {
  return tag(ws) + ":mref";
}
/// SET of sha256 whose last message went: their files are removed from the media store.
inline std::string media_garbage(std::string_view ws) {
  return tag(ws) + ":mgc";
}
/// clientMessageId -> message id (idempotency of sends; expires after 48 h).
inline std::string client_message(std::string_view ws, std::string_view cmid) {
  return tag(ws) + ":cmid:" + std::string(cmid);
}
/// ZSET of a job queue's entry ids scored by when they are due (ms): `outbox` (sends and read
/// receipts) or `media` (media downloads).
inline std::string queue(std::string_view ws, job_queue q) {
  return tag(ws) + (q == job_queue::media ? ":media" : ":outbox");
}
/// One entry of a job queue (JSON): `ob:<id>` in the outbox, `md:<id>` in media downloads.
inline std::string queue_entry(std::string_view ws, job_queue q, std::string_view id) {
  return tag(ws) + ":" + queue_code(q) + ":" + std::string(id);
}
/// STREAM of the workspace's events ({type, m} or {type, c, k}: the records they name; older
/// entries {type, data}), trimmed to about INBOXD_EVENTS_RETAIN.
inline std::string events(std::string_view ws) { return tag(ws) + ":events"; }
/// Outgoing webhooks: HASH id -> webhook JSON (`wh`); HASH id -> " <event codes> " read by the
/// commit script (`whsub`); per webhook its delivery queue (`wq:<id>`, ZSET of deliveries by
/// due time), delivery log (`wl:<id>`, HASH event id -> log JSON), attempted pending ones
/// (`wr:<id>`, ZSET event id by event time), succeeded (`wok:<id>`) and failed (`wf:<id>`)
/// (ZSETs of event ids by when they ended).
inline std::string hooks(std::string_view ws) {
  return tag(ws) + ":wh";
}
inline std::string hook_subscriptions(std::string_view ws) {
  return tag(ws) + ":whsub";
}
inline std::string hook_key(std::string_view ws, std::string_view kind, std::string_view id) {
  return tag(ws) + ":" + std::string(kind) + ":" + std::string(id);
}
/// STRING "<epoch>|<node>|<url>" with a TTL: the node holding the workspace's lease (scale-out).
inline std::string owner(std::string_view ws) {
  return tag(ws) + ":owner";
}
/// STRING: the fencing epoch of the workspace's latest lease; it only grows (INCR).
inline std::string epoch(std::string_view ws) {
  return tag(ws) + ":epoch";
}

} // namespace inboxd::keys
