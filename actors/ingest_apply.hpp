#pragma once
// How a batch of one contact's webhook events changes its conversation: a pure function from
// (conversation, contact, events, what is stored about the messages they name) to the new
// conversation and contact and the change set that stores them. No Redis, no actors: the
// conversation actor sequences it (see conversation_actor.cpp) and tests call it directly.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "messages/records.hpp"
#include "messages/wa_event.hpp"
#include "storage/change_set.hpp"
#include "storage/store.hpp"

namespace inboxd {

/// What is known about the messages a batch creates or targets.
struct ingest_targets {
  std::map<std::string, nlohmann::json> records;       // message id -> record
  std::map<std::string, std::string> aliases;          // derived id -> our message id
  std::map<std::string, std::vector<wa_event>> parked; // message id -> parked events
  std::set<std::string> gone; // erased message ids: their events are dropped as duplicates
  /// True when nothing was read: every message is assumed new, unaliased, with nothing parked,
  /// and the change set carries those assumptions as preconditions (the store checks them).
  bool assumed = false;
};

/// Decodes a store read (records and parked events as JSON text; unreadable entries skipped).
ingest_targets decode_targets(const message_targets& read);

/// True when a batch may skip the read: only messages, echoes and contact sightings.
bool can_assume_targets(const std::vector<wa_event>& events);

/// The message ids (derived from wamids) a batch creates or targets, each once, in order.
std::vector<std::string> target_ids(const std::vector<wa_event>& events);

struct ingest_outcome {
  conversation conv;
  contact ct;
  change_set changes;
  size_t duplicates = 0; // messages already stored
  /// Nothing to store: every event named erased messages and the conversation is not stored
  /// (a redelivery after DELETE /api/contacts/{id} recreates nothing).
  bool nothing = false;
};

/// Applies `events` in order. `persisted`: the conversation record is already stored (its event
/// is conversation.updated, else conversation.created). Events without a timestamp get `now_ms`.
/// An echo (the business replied from the phone app) takes an `ai` conversation to `human`;
/// with `bot`, the message.created events of new inbound messages (not history) that arrive
/// while the conversation is `ai` are marked for the bot.
ingest_outcome apply_ingest(const std::string& workspace_id, const conversation& conv,
                            const contact& ct, bool persisted, std::vector<wa_event> events,
                            ingest_targets targets, int64_t now_ms, bool bot = false);

} // namespace inboxd
