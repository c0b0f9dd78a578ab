#pragma once
// Id generation and normalization shared by every layer.

#include <cstdint>
#include <string>
#include <string_view>

namespace inboxd {

/// A new random, URL-safe id: `prefix` + 20 lowercase base32 characters (100 bits).
std::string new_id(std::string_view prefix);

/// The stored message id of the WhatsApp message `wamid`: deterministic, so that a
/// redelivery of the same wamid maps to the same record (dedupe) and references
/// (reactions, replies, statuses) can be resolved without an index. "msg_" + 32 hex chars.
std::string message_id_for_wamid(std::string_view wamid);

/// Digits of a phone number ("+55 11 98765-4321" -> "5511987654321"); empty when the
/// input holds anything but digits, spaces, '+', '-', '(', ')', '.' or has no digit or
/// more than 20 digits.
std::string normalize_phone(std::string_view phone);

/// Milliseconds since the Unix epoch, now.
int64_t now_ms();

} // namespace inboxd
