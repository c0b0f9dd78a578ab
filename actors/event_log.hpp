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

/// An event of the workspace's event log: `body` plus "type" and "workspaceId", as JSON text.
change_set::event make_event(const std::string& workspace_id, std::string type,
                             nlohmann::json body);

/// The same text as make_event(workspace_id, type, {{key, <json>}}) for a body of one key whose
/// value is already JSON text (`key` must sort before "type", as nlohmann orders keys), without
/// building a document: the ingest hot path.
change_set::event event_text(const std::string& workspace_id, std::string type,
                             std::string_view key, std::string_view json);

/// One Server-Sent Events frame: "id: ..\nevent: ..\ndata: ..\n\n".
std::string sse_frame(const stream_entry& e);

/// A stream id as (milliseconds, sequence); accepts "ms-seq" and "ms" (= "ms-0").
using stream_id = std::pair<uint64_t, uint64_t>;
bool parse_stream_id(std::string_view s, stream_id& out);
std::string to_string(const stream_id& id);

} // namespace inboxd
