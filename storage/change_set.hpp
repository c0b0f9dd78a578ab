#pragma once
// A change set: everything one actor step writes, committed atomically by the store (one Lua
// script call; see storage/store.hpp). Plain data: actors fill it in terms of records and ids,
// never keys or commands; storage/ turns it into the key layout of storage/KEYS.md.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "messages/records.hpp"

namespace inboxd {

struct change_set {
  std::string workspace_id;

  // Preconditions, checked in the same script call before anything is written. When one does
  // not hold, nothing of this change set is written and the commit reports it (conflicts).
  /// Messages this change set creates: refused when one is already stored (the dedupe mark).
  std::vector<std::string> new_messages;
  /// Messages assumed to have no alias (a wamid of a message we sent) and nothing parked for
  /// them: the optimistic ingest path checks these instead of reading first.
  std::vector<std::string> unlinked;

  // Writes, applied in this order.
  std::vector<std::pair<std::string, std::string>> messages; // message id -> record JSON
  std::string timeline_of;                                   // conversation id of `timeline`
  std::vector<std::pair<std::string, int64_t>> timeline;     // message id -> score
  std::vector<std::string> unpark;                           // drop what was parked for these
  std::vector<std::pair<std::string, std::vector<std::string>>> park; // target id -> events JSON
  std::optional<conversation> conv;                                   // the conversation record
  std::optional<contact> ct;                                          // the contact record

  struct event {
    std::string type;
    std::string data; // JSON text, "type" and "workspaceId" included
  };
  std::vector<event> events; // appended to the workspace's event log, in order
};

} // namespace inboxd
