#pragma once
// Validation of POST /api/messages/send bodies (API.md): pure, unit-tested.

#include <string>

#include <nlohmann/json.hpp>

#include "messages/api_error.hpp"

namespace inboxd {

struct send_request {
  std::string conversation_id;
  nlohmann::json draft; // the message to store: {type, text?, media?, template?}
  std::string client_message_id, reply_to;
};

/// Reads `body` (a JSON object). On failure returns false with `code` (bad_request for a
/// missing field or a wrong JSON type, unprocessable for an invalid value) and a message.
/// Text: at most 4,096 characters; image/video/audio/document/sticker by exactly one of an
/// http(s) `link` or a media `id` (from POST /api/media), caption on image/video/document,
/// filename on document; template {name, language (code string or {code}), components?}.
bool parse_send_request(const nlohmann::json& body, send_request& out, api_error& code,
                        std::string& message);

} // namespace inboxd
