#pragma once
// Internal: decoding of one WhatsApp message object (Meta's format, also used inside Kapso's
// events) into the API's Message shape, and its classification into an event kind.

#include <nlohmann/json.hpp>

#include "messages/wa_event.hpp"

namespace inboxd::wa_json {

/// The message's content in the API's Message shape (camelCase): always "type" and "text", plus
/// media/location/contacts/interactive/button/order/system/referral/context/replyTo/forwarded/
/// frequentlyForwarded/error/raw as applicable. `fallback_errors` (may be null) is an errors array
/// used when the message carries none of its own (Meta puts them beside the message for
/// interactive_message_with_err). Throws decode_error on wrong types.
nlohmann::json message_content(const nlohmann::json& msg, const nlohmann::json* fallback_errors);

/// Sets kind/target_wamid/content/new_phone of `ev` from `msg`: reaction, edit and revoke become
/// their own kinds (targeting the original message), anything else keeps `plain_kind` (message or
/// echo) with the decoded content. Throws decode_error.
void classify_message(const nlohmann::json& msg, const nlohmann::json* fallback_errors,
                      wa_event_kind plain_kind, wa_event& ev);

} // namespace inboxd::wa_json
