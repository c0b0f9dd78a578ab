#pragma once
// Validation of POST /api/webhooks bodies and the webhook routes' parameters (API.md "Bots and
// outgoing webhooks"): pure, unit-tested.

#include <string>

#include <nlohmann/json.hpp>

#include "messages/api_error.hpp"

namespace inboxd {

/// Reads `body` (a JSON object) into `out` = {url, events, description?}. On failure returns
/// false with `code` (bad_request for a wrong JSON type, unprocessable for an invalid value) and
/// a message. url: an absolute http(s) URL of at most 2,048 characters, whose host is not a
/// loopback, private, link-local or otherwise non-public address (or `localhost`) unless
/// `allow_private`; events: 1 to 4 distinct event types of the stream; description: at most 256
/// characters.
bool parse_hook_request(const nlohmann::json& body, bool allow_private, nlohmann::json& out,
                        api_error& code, std::string& message);

} // namespace inboxd
