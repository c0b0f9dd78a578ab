#pragma once
// The storage form of a message record. A message is stored under its id, in the API shape
// (API.md: Message) less what the store can put back: the id itself, and for an inbound message
// the fields at their inbound defaults (direction "inbound", origin "whatsapp", status
// "received", type "text"); its common top-level fields carry one-letter names (storage/KEYS.md).
// Most records are inbound text messages, and a store holds one per message: this keeps about
// half of each out of Redis.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace inboxd {

/// Appends the storage form of the message record `m` (an object in the API shape).
void append_message_record(std::string& out, const nlohmann::json& m);

/// The API form of the record `stored` under `id`: its id and the inbound defaults it left out
/// put back, its fields under their API names (the id and defaults first, then the fields in
/// stored order). Records written before 2026-12-03 name their fields as the API does; those
/// from before 2026-12-02 also carry their id and every default, and come back as stored; so
/// does text that is not a JSON object.
std::string message_api(std::string_view id, std::string_view stored);

} // namespace inboxd
