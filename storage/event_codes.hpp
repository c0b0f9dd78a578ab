#pragma once
// Event types as the event log stores them (storage/KEYS.md): a two-letter code per type of the
// stream (`mc` message.created, `mu` message.updated, `cc` conversation.created, `cu`
// conversation.updated). The commit script fans events out to outgoing webhooks by these codes.

#include <string>
#include <string_view>

namespace inboxd {

/// The code of an event type; a type without one is returned as is.
std::string_view event_code(std::string_view type);

/// The type a stored code names; anything else (entries written before the codes) as is.
std::string event_type(std::string_view stored);

} // namespace inboxd
