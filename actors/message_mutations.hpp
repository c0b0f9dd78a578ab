#pragma once
// How events change stored message records (pure functions, unit-tested):
// building a record from a message/echo event, and applying status, reaction, edit and revoke.

#include <string>

#include <nlohmann/json.hpp>

#include "messages/wa_event.hpp"

namespace inboxd {

/// The stored record (API Message shape) of a message or echo event.
nlohmann::json make_message_record(const wa_event& e, const std::string& conversation_id,
                                   int64_t now_ms);

/// Applies a status, reaction, edit or revoke event to `message`. Statuses only move forward
/// (sent < delivered < read < played); failed is recorded with its error and wins only over
/// queued/sent. Returns true when the record changed.
bool apply_mutation(nlohmann::json& message, const wa_event& e, int64_t now_ms);

/// A history message stored as type media_placeholder (Meta imports media messages without
/// their media) takes the content of the message `e` that describes it, with the same wamid
/// (what a later history webhook brings). Returns true when `message` was such a placeholder.
bool fill_placeholder(nlohmann::json& message, const wa_event& e);

/// Records a media download's end on the message: media.state (stored | failed | expired), and
/// for stored its sha256, size and (when the message named none) mimeType; failed keeps `error`.
/// False when the message has no media, or its media is no longer pending (nothing changes).
bool apply_media_result(nlohmann::json& message, const std::string& state,
                        const std::string& sha256, uint64_t size, const std::string& mime_type,
                        const std::string& error);

/// Encoding of an event parked until its target message arrives.
nlohmann::json park_encode(const wa_event& e);
bool park_decode(const nlohmann::json& j, wa_event& out);

} // namespace inboxd
