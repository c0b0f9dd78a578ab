#include "actors/media_upload.hpp"

#include <spdlog/spdlog.h>

#include "config/log_format.hpp"
#include "metrics/metrics.hpp"
#include "whatsapp/media_api.hpp"

namespace inboxd {

namespace {

enum class upload_result : uint8_t { stored, refused, failed };

metrics::counter_family uploads(
    "inboxd_media_uploads_total",
    "Uploads passed on to the Cloud API (POST /api/media) by outcome: stored (a media id came "
    "back), refused (the Cloud API said no) and failed (no answer, 5xx or throttled).",
    metrics::label_values("outcome", {"stored", "refused", "failed"}));

} // namespace

void upload_media(outbound_transport& transport, const send_settings& send,
                  const std::string& phone_number_id, std::shared_ptr<const http_request> req,
                  const std::string& mime_type, int64_t timeout_ms, reply_handle reply) {
  auto out =
      media_upload_request(send, phone_number_id, req->body_file->path, mime_type, timeout_ms);
  transport.post(std::move(out), [req, reply, mime_type](outbound_response res) {
    auto outcome = classify_media_upload(res);
    switch (outcome.what) {
      case upload_outcome::kind::ok:
        uploads.inc(upload_result::stored);
        return reply.json(201, {{"mediaId", outcome.media_id}});
      case upload_outcome::kind::refused:
        uploads.inc(upload_result::refused);
        spdlog::info("media upload ({} bytes, {}) refused by the Cloud API: {}",
                     req->body_file->size, mime_type, loggable_reason(outcome.why));
        return reply.error(api_error::unprocessable,
                           "the Cloud API refused the upload: " + outcome.why);
      case upload_outcome::kind::retry:
        uploads.inc(upload_result::failed);
        spdlog::warn("media upload ({} bytes, {}) not taken by the Cloud API: {}",
                     req->body_file->size, mime_type, loggable_reason(outcome.why));
        return reply.error(api_error::unavailable, "the Cloud API did not take the upload (" +
                                                       outcome.why + "); try again");
    }
  });
}

} // namespace inboxd
