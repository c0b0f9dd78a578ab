#pragma once
// A decoded inbound text message ("oi") from `phone`, as the webhook decoder produces it.

#include <string>

#include "messages/wa_event.hpp"

namespace inboxd::test {

inline wa_event text_event(const std::string& phone, const std::string& wamid) {
  wa_event e;
  e.kind = wa_event_kind::message;
  e.contact_phone = phone;
  e.wamid = wamid;
  e.timestamp_ms = 1763647391000;
  e.content = {{"type", "text"}, {"text", "oi"}};
  return e;
}

} // namespace inboxd::test
