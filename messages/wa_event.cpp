#include "messages/wa_event.hpp"

namespace inboxd {

const char* to_string(wa_event_kind kind) {
  switch (kind) {
    case wa_event_kind::message: return "message";
    case wa_event_kind::echo: return "echo";
    case wa_event_kind::status: return "status";
    case wa_event_kind::reaction: return "reaction";
    case wa_event_kind::edit: return "edit";
    case wa_event_kind::revoke: return "revoke";
    case wa_event_kind::contact_seen: return "contact_seen";
    case wa_event_kind::preference: return "preference";
    case wa_event_kind::address_book: return "address_book";
  }
  return "unknown";
}

} // namespace inboxd
