#pragma once
// The per-workspace event log behind GET /api/events: entries {id, type, data} kept by the store.
// Writers put events in the change set of the change they describe (so an event exists if and
// only if its change was stored); the workspace actor reads the log in order and fans it out.
// Pure helpers, unit-tested.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "storage/change_set.hpp"
#include "storage/store.hpp"

namespace inboxd {

/// The events a change set carries name records (see change_set::event).
change_set::event message_event(std::string type, std::string message_id);
change_set::event conversation_event(std::string type, const conversation& cv);

/// Composes `e.data` from the records a read returned for it: {"message": ..} or
/// {"conversation": <API shape at now_ms>}, plus "type" and "workspaceId" (nlohmann's key order,
/// as every document we send). False when the records it names are gone (deleted since): the
/// event is then skipped. Entries that hold their data already are left as they are.
bool compose_event(const std::string& workspace_id, stream_entry& e, int64_t now_ms);

/// The text of {key: <json>, "type": type, "workspaceId": ..} for a value already dumped
/// (`key` must sort before "type", as nlohmann orders keys), without building a document.
std::string event_text(const std::string& workspace_id, std::string_view type,
                       std::string_view key, std::string_view json);

/// One Server-Sent Events frame: "id: ..\nevent: ..\ndata: ..\n\n".
std::string sse_frame(const stream_entry& e);

/// A stream id as (milliseconds, sequence); accepts "ms-seq" and "ms" (= "ms-0").
using stream_id = std::pair<uint64_t, uint64_t>;
bool parse_stream_id(std::string_view s, stream_id& out);
std::string to_string(const stream_id& id);

} // namespace inboxd
