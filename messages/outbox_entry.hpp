#pragma once
// One durable outbox entry, stored as JSON at {ws:<id>}:ob:<id> and listed in {ws:<id>}:outbox
// (scored by due time). Created by a conversation actor in the same transaction as its message;
// rescheduled by the workspace's outbound actor; removed in the transaction that records the
// final outcome on the message (so a message recorded as sent is never sent again).

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace inboxd {

struct outbox_entry {
  std::string id;               // the message id, or rr_<random> for a read receipt
  std::string kind = "message"; // "message" | "read"
  std::string conversation_id;
  nlohmann::json payload;       // the Cloud API request body
  int attempts = 0;             // failed attempts so far
  int64_t due_ms = 0;           // not before this time
};

void to_json(nlohmann::json& j, const outbox_entry& e);
void from_json(const nlohmann::json& j, outbox_entry& e);

} // namespace inboxd
