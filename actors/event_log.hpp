#pragma once
// The per-workspace event log behind GET /api/events: a Redis Stream {ws:<id>}:events whose
// entries are {type, data}. Writers append in the same MULTI/EXEC as the change an event
// describes (so an event exists if and only if its change was stored); the workspace actor reads
// it in order and fans it out. Pure helpers, unit-tested.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "storage/change_set.hpp"
#include "storage/redis_client.hpp"

namespace inboxd {

/// An event of the workspace's event log: `body` plus "type" and "workspaceId", as JSON text.
change_set::event make_event(const std::string& workspace_id, std::string type,
                             nlohmann::json body);

/// The same text as make_event(workspace_id, type, {{key, <json>}}) for a body of one key whose
/// value is already JSON text (`key` must sort before "type", as nlohmann orders keys), without
/// building a document: the ingest hot path.
change_set::event event_text(const std::string& workspace_id, std::string type,
                             std::string_view key, std::string_view json);

/// XADD {ws}:events MAXLEN ~ retain * type <type> data <json>, where the JSON is
/// make_event(workspace_id, type, body). Approximate trimming keeps at least `retain` entries.
redis_command event_append(const std::string& workspace_id, int64_t retain, std::string_view type,
                           nlohmann::json body);

struct stream_entry {
  std::string id, type, data;
};

/// The entries of an XRANGE/XREVRANGE reply; false when the reply has another shape.
bool parse_stream_entries(const redis_value& reply, std::vector<stream_entry>& out);

/// One Server-Sent Events frame: "id: ..\nevent: ..\ndata: ..\n\n".
std::string sse_frame(const stream_entry& e);

/// A stream id as (milliseconds, sequence); accepts "ms-seq" and "ms" (= "ms-0").
using stream_id = std::pair<uint64_t, uint64_t>;
bool parse_stream_id(std::string_view s, stream_id& out);
std::string to_string(const stream_id& id);

} // namespace inboxd
