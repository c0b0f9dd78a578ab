#pragma once
// The WhatsApp Cloud API's media side as pure functions: the two-step download of an inbound
// media (the media id's lookup gives a URL valid ~5 minutes, fetched with the same credentials)
// and what each answer means for the download queue. No I/O; thread-safe.

#include <cstdint>
#include <string>

#include "messages/records.hpp"
#include "whatsapp/outbound_transport.hpp"

namespace inboxd {

/// A media id as Meta gives them (and as it may be put in a URL path): 1-128 of [A-Za-z0-9_.-].
bool valid_media_id(const std::string& id);

/// A download URL from a webhook (Kapso's media_url) or a lookup: http(s)://, at most 4 KiB,
/// no whitespace or control characters.
bool valid_media_url(const std::string& url);

/// GET {graphVersion}/{mediaId} with the workspace's credentials (whatsapp/cloud_api.hpp).
outbound_request media_lookup_request(const send_settings& send, const std::string& media_id,
                                      int64_t timeout_ms);

/// GET `url`, the body streamed to `file` (at most `max_bytes`). Credentials go only where they
/// belong: Meta's bearer token to https URLs of Meta's hosts (*.fbsbx.com, *.facebook.com,
/// *.whatsapp.net, *.fbcdn.net) or of the configured base URL's origin; Kapso's API key only to
/// its base URL's origin. Any other URL (Kapso's stored media links) is fetched without them.
outbound_request media_download_request(const send_settings& send, const std::string& url,
                                        const std::string& file, uint64_t max_bytes,
                                        int64_t timeout_ms);

/// The media type a Content-Type header names: its `type/subtype` before any parameters,
/// lowercased, both parts RFC 7230 tokens, at most 127 bytes; "" when it names none.
std::string media_type_of(const std::string& content_type);

/// POST {graphVersion}/{phoneNumberId}/media: a multipart/form-data upload of `file` (streamed
/// from disk) with fields messaging_product=whatsapp and type=`mime_type` (from media_type_of),
/// with the workspace's credentials. The boundary is random (32 hex digits).
outbound_request media_upload_request(const send_settings& send, const std::string& phone_number_id,
                                      const std::string& file, const std::string& mime_type,
                                      int64_t timeout_ms);

/// The upload's answer: the media id (`id` of a 2xx answer), or what went wrong.
struct upload_outcome {
  enum class kind : uint8_t { ok, retry, refused };
  kind what = kind::retry;
  std::string media_id; // ok
  std::string why;      // retry (transport failures, 5xx, throttling) / refused (other 4xx)
};
upload_outcome classify_media_upload(const outbound_response& res);

/// What an answer means.
struct media_step {
  enum class kind : uint8_t { ok, retry, failed };
  kind what = kind::retry;
  std::string url, mime_type; // lookup ok: where the bytes are, and their type ("" unknown)
  uint64_t size = 0;          // lookup: file_size as Meta announced it (0 unknown); download: bytes
  std::string sha256;         // download ok: lowercase hex of the bytes
  std::string why;            // retry/failed: for logs and the message's media.error
};

/// The lookup's answer: 2xx with a usable `url` -> ok; a `file_size` over `max_bytes` -> failed
/// (too large: never retried); anything else (errors, expired or unknown ids, throttling, token
/// errors, transport failures) -> retry: Meta keeps a media 7 days and the queue keeps trying
/// until then.
media_step classify_media_lookup(const outbound_response& res, uint64_t max_bytes);

/// The download's answer: 2xx -> ok (size and sha256 of the stored body); a body over the cap ->
/// failed; anything else (an expired URL's 4xx, 5xx, transport failures) -> retry (with a new
/// lookup).
media_step classify_media_download(const outbound_response& res);

} // namespace inboxd
