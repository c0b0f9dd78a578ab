#pragma once
// POST /api/media (API.md "Media"): the spooled upload is passed on to the Cloud API
// (`POST /{phoneNumberId}/media`, streamed from its file) and answered 201 {mediaId}; the Cloud
// API's refusal is 422 with its reason, its absence (timeouts, 5xx, throttling) 503.

#include <cstdint>
#include <memory>
#include <string>

#include "messages/http_exchange.hpp"
#include "messages/records.hpp"

namespace inboxd {

class outbound_transport;

/// Sends `req`'s spooled body (its type `mime_type`) for the workspace's number and answers
/// through `reply` when the Cloud API has. The file lives until then (the request is held).
void upload_media(outbound_transport& transport, const send_settings& send,
                  const std::string& phone_number_id, std::shared_ptr<const http_request> req,
                  const std::string& mime_type, int64_t timeout_ms, reply_handle reply);

} // namespace inboxd
