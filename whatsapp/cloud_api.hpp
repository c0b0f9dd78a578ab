#pragma once
// The WhatsApp Cloud API's send side as pure functions: the wire request for a message or a read
// receipt (Meta's Graph API, or Kapso's Meta-compatible proxy), and what an answer means for the
// outbox (sent with a wamid, retry later, or failed for good). No I/O; thread-safe.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "messages/records.hpp"
#include "whatsapp/outbound_transport.hpp"

namespace inboxd {

/// A request to `{graphVersion}/{path}` of the Graph API with the workspace's credentials:
/// Meta (accessToken set) {baseUrl}/{graphVersion}/{path} with `Authorization: Bearer`; Kapso
/// (apiKey set) {baseUrl}/meta/whatsapp/{graphVersion}/{path} with `X-API-Key`. No body.
outbound_request graph_request(const send_settings& send, std::string method,
                               const std::string& path, int64_t timeout_ms);

/// Reads the error object of a Cloud API answer ({"error":{"code","message","error_user_title",
/// "error_data":{"details"}}}; Kapso's proxy answers in the same shape, or {"error":"text"}):
/// `code` -1 when it names none, `title` "" when it says nothing (cut to 500 bytes).
void read_cloud_api_error(const nlohmann::json& body, int64_t& code, std::string& title);

/// The wire request: Meta (accessToken set) POST {baseUrl}/{graphVersion}/{pid}/messages with
/// `Authorization: Bearer`; Kapso (apiKey set) POST
/// {baseUrl}/meta/whatsapp/{graphVersion}/{pid}/messages with `X-API-Key`. `payload` is the JSON
/// body (see message_payload / read_receipt_payload).
outbound_request cloud_api_request(const send_settings& send, const std::string& phone_number_id,
                                   const nlohmann::json& payload, int64_t timeout_ms);

/// The body of a message send. `message` is the stored record (API Message shape: type, text,
/// media, template); `to` the contact's phone (digits), or for a contact without a phone its
/// business-scoped user id (anything but digits: sent as `recipient`); `reply_to_wamid` may be
/// empty; `callback_data` goes to biz_opaque_callback_data (comes back on status webhooks).
/// Media types (image, video, audio, document, sticker) go by the stored media's `id` (an
/// uploaded media id) when it has one, else by its `link`; `caption` only on image, video and
/// document, `filename` only on document (others are left out).
nlohmann::json message_payload(const nlohmann::json& message, const std::string& to,
                               const std::string& reply_to_wamid, const std::string& callback_data);

/// The body that marks `wamid` (an inbound message) as read; with `typing` it also shows the
/// contact the typing indicator (`typing_indicator: {type: "text"}`).
nlohmann::json read_receipt_payload(const std::string& wamid, bool typing = false);

struct send_outcome {
  enum class kind : uint8_t { sent, retry, failed };
  kind what = kind::failed;
  std::string wamid; // sent
  int64_t code = 0;  // retry/failed: the Cloud API's error code, or -1 when it gave none
  std::string title; // retry/failed: what went wrong, for people
};

/// Classifies an answer of the Cloud API (or the lack of one) by its documented error codes:
/// - 2xx with messages[0].id (or, for a read receipt, {"success":true}) -> sent;
/// - throttling (codes 4, 80007, 130429, 131048, 131056; HTTP 429; Kapso's HTTP 409), HTTP 5xx,
///   timeouts, resets and connection errors -> retry;
/// - everything else -> failed: 131047, 131049, 131050, 368, 130497, 131031, token errors (0, 190),
///   other 4xx validation errors, a refused TLS certificate, and a 2xx that cannot be read (the
///   message may have gone out: sending it again could duplicate it).
send_outcome classify_send_response(const outbound_response& res, bool read_receipt);

} // namespace inboxd
