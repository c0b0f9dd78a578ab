#pragma once
// Every type that crosses an actor boundary, and the atoms. These are local-only messages
// (they carry reply handles and shared pointers), whitelisted with CAF_ALLOW_UNSAFE_MESSAGE_TYPE;
// scale-out (remote actors) will need inspect() for the ones that travel.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/actor.hpp>
#include <caf/atom.hpp>

#include "messages/http_exchange.hpp"
#include "messages/ingest_ack.hpp"
#include "messages/outbox_entry.hpp"
#include "messages/records.hpp"
#include "messages/wa_event.hpp"

namespace inboxd {

/// Webhook items of one workspace (from the front to the workspace actor), or of one contact
/// (from the workspace actor to the conversation actor). Each event completes `ack` once.
struct ingest_batch {
  std::vector<wa_event> events;
  ingest_ack_ptr ack;
  /// Set by the front on a scale-out node: the workspace is served by the node at `owner_url`;
  /// sends it this batch's part of the webhook body and completes the events with its answer.
  /// Unset (or on the way to a conversation actor): the events fail when the workspace moved.
  std::function<void(const std::string& owner_url)> moved;
  /// Scale-out: "<node> <url>" of the peer that forwarded this batch (a valid hop signature);
  /// "" when it came straight from Meta or Kapso.
  std::string via;
  /// Kapso: the delivery, as 16 bytes of HMAC-SHA256(X-Idempotency-Key, body); "" without a key.
  /// A workspace acknowledges a delivery it stored lately without processing it again.
  std::string delivery;
  /// Set by the workspace actor when it has a bot: inbound messages of `ai` conversations go to
  /// it (their message.created events are marked for the bot).
  bool bot = false;
};

/// A well-signed payload for a phone_number_id no workspace owns (front -> directory).
struct dead_letter {
  std::string phone_number_id;
  std::string source; // "meta" | "kapso"
  std::string event_header;
  std::string body;
  ingest_ack_ptr ack;
};

/// An authenticated-by-the-owner API call. The front parsed and validated the request; the
/// workspace actor checks the credential (it owns the keys) and answers through `reply`.
struct inbox_call {
  enum class op : uint8_t {
    contact_by_phone,   // arg: phone (normalized)
    contact_by_user_id, // arg: value (a business-scoped user id)
    contacts_list,      // args: q, page, limit
    conversations_list, // filters below
    conversation_get,   // arg: id
    messages_list,      // args: id, before (0 = newest), limit
    create_api_key,     // admin (already authorized by the front)
    revoke_api_key,     // admin: arg id = key id
    put_member,         // admin: id = user id, value = role
    delete_member,      // admin: id = user id
    list_members,       // admin
    members,            // any member or API key: who conversations can be assigned to
    assign,             // id = conversation, value = assignee ("" with value_null = unassign)
    handover,           // id = conversation, value = human|ai
    mark_read,          // id = conversation
    typing,             // id = conversation: mark_read, and the typing indicator on WhatsApp
    set_status,         // id = conversation, value = open|pending|closed
    set_tags,           // id = conversation, tags
    patch_contact,      // id = contact, name (name_null clears it) if has_name, tags if has_tags
    erase_contact,      // id = contact: the contact, its conversation and all they hold go
    expire_messages,    // id = conversation, before = cutoff (ms): retention (no reply)
    send_message,       // id = conversation, draft, client_message_id, reply_to
    subscribe_events,   // value = Last-Event-ID ("" = from now on)
    message_media,      // id = message id; request (its Range and conditional headers)
    upload_media,       // request (its spooled body), value = the media's MIME type
    // Outgoing webhooks (owner/admin; handled by the hook actor):
    hooks_create,    // draft = {url, events, description?} (validated by the front)
    hooks_list,      //
    hooks_delete,    // id = webhook id
    hook_deliveries, // id = webhook id, value = pending|succeeded|failed, limit
    hook_redeliver,  // id = webhook id, value = delivery (event) id
  };
  op what;
  std::string api_key; // X-API-Key as sent (empty for admin ops and user tokens)
  std::string user_id; // verified JWT `sub` (empty for API keys and admin ops)
  std::string id;      // conversation id / contact id / key id / user id
  std::string value;
  bool value_null = false;
  std::string name;
  bool has_name = false, name_null = false, has_tags = false;
  /// Scale-out: the request came from a peer (a hop header): the workspace actor asks Redis who
  /// holds the lease instead of trusting what it last learned (the peer may have handed it here).
  bool forwarded = false;
  // Set by the workspace actor once authorized, for the conversation actor's role checks.
  std::string principal, role;
  std::string phone;
  std::string q;
  int64_t page = 1, limit = 25;
  int64_t before = 0;
  // conversations_list filters ("" = any)
  std::string status = "open", assigned_to, mode;
  std::vector<std::string> tags;
  bool active_only = false;
  // send_message: the validated message (type, text, media, template), its idempotency key and
  // the message it answers; send_enabled is set by the workspace actor (also for mark_read receipts).
  nlohmann::json draft;
  std::string client_message_id, reply_to;
  bool send_enabled = false;
  std::shared_ptr<const http_request> request; // message_media, upload_media
  reply_handle reply;
};

/// Admin calls handled by the directory. `body` is the parsed JSON body (validated shape).
struct admin_call {
  enum class op : uint8_t { create_workspace, get_workspace, patch_workspace, list_dead_letters,
                            replay_dead_letters,
                            finish_replay /* internal: body = JSON array of replayed ids */ };
  op what;
  std::string workspace_id;
  std::string body; // JSON text
  int64_t limit = 25;
  reply_handle reply;
  bool synced = false; // see http_exchange::synced
};

/// Conversation actor -> workspace actor after each stored change. The contact's phone, user id
/// and username are not taken from it: the workspace actor decides those when it routes (see
/// ingest in workspace_actor.cpp), so a late change cannot undo a newer link.
struct conversation_changed {
  conversation conv;
  contact ct;
};

/// Conversation actor -> workspace actor: the conversation and its contact are erased (stored);
/// the actor has stopped. `media`: whether stored media files may have lost their last message.
struct conversation_erased {
  std::string conversation_id, contact_id;
  bool media = false;
  std::vector<std::string> jobs; // ids of the outbox entries and media jobs it removed
};

/// Conversation actor -> workspace actor: idle after handling `handled` messages.
struct conversation_idle {
  std::string conversation_id;
  uint64_t handled;
};

/// Directory -> workspace actor: the workspace's settings changed.
struct workspace_changed {
  workspace ws;
};

/// Conversation actor -> outbound actor: an entry was stored; send it.
struct outbox_enqueued {
  outbox_entry entry;
};

/// Outbound actor -> workspace actor -> conversation actor: the final outcome of a message send,
/// to be recorded on the message (which also takes the entry out of the outbox).
struct send_result {
  std::string conversation_id, entry_id;
  bool sent = false;     // true: wamid set; false: failed with code/title
  std::string wamid;
  int64_t code = 0;
  std::string title;
  caf::actor outbound;   // told send_recorded once it is stored
};

/// Conversation actor -> outbound actor: the result of entry_id is stored (ok) or not (retry).
struct send_recorded {
  std::string entry_id;
  bool ok = false;
};

/// Conversation actor -> media actor: media download jobs were stored; work them.
struct media_enqueued {
  std::vector<outbox_entry> entries;
};

/// Media actor -> workspace actor -> conversation actor: the final state of a message's media,
/// to be recorded on the message (which also takes the job out of the media queue).
struct media_result {
  std::string conversation_id, message_id;
  std::string state;             // stored | failed | expired
  std::string sha256, mime_type; // stored
  uint64_t size = 0;             // stored
  std::string error;             // failed: why
  caf::actor media;              // told media_recorded once it is stored
};

/// Conversation actor -> media actor: the result for message_id is stored (ok) or not (retry).
struct media_recorded {
  std::string message_id;
  bool ok = false;
};

using stop_atom = caf::atom_constant<caf::atom("stop")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
/// Workspace actor -> itself: time to look for idle conversation actors.
using sweep_atom = caf::atom_constant<caf::atom("sweep")>;
/// Workspace actor -> conversation actor: nothing was sent to you for the idle time; answer
/// conversation_idle if you have nothing in progress either.
using idle_check_atom = caf::atom_constant<caf::atom("idlecheck")>;
/// Conversation actor -> workspace actor: a commit was refused for a stale lease epoch (another
/// node owns the workspace now).
using fenced_atom = caf::atom_constant<caf::atom("fenced")>;
/// Workspace actor -> itself: time to renew the lease held under the epoch it carries.
using lease_atom = caf::atom_constant<caf::atom("lease")>;
/// Directory -> itself (scale-out): time to read the workspaces other nodes created or changed.
using refresh_atom = caf::atom_constant<caf::atom("refresh")>;
/// Front actor -> directory (scale-out), with an http_exchange naming a workspace this node does
/// not know: read the workspaces again, then hand the exchange back (synced).
using sync_atom = caf::atom_constant<caf::atom("sync")>;
/// Conversation actor -> workspace actor: events were appended to the event log.
using events_atom = caf::atom_constant<caf::atom("events")>;
/// Workspace actor -> media actor: remove media files no message holds (with SHA-256 hashes of
/// files to check beyond the workspace's garbage set).
using media_gc_atom = caf::atom_constant<caf::atom("mediagc")>;
/// Workspace actor -> outbound and media actors: these entries left the queue (erased); an
/// idle one is forgotten, one in flight ends as usual.
using forget_atom = caf::atom_constant<caf::atom("forget")>;
/// Workspace actor -> itself: the next step of the retention sweep (retentionDays).
using retention_atom = caf::atom_constant<caf::atom("retention")>;

} // namespace inboxd

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(inboxd::http_exchange)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(inboxd::ingest_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(inboxd::dead_letter)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(inboxd::inbox_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(inboxd::admin_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(inboxd::conversation_changed)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(inboxd::conversation_erased)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(inboxd::conversation_idle)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(inboxd::workspace_changed)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(inboxd::outbox_enqueued)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(inboxd::send_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(inboxd::send_recorded)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(inboxd::media_enqueued)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(inboxd::media_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(inboxd::media_recorded)
