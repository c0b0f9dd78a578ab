#pragma once
// GET /api/messages/{id}/media: the bytes of a message's media from the media store, by the
// state its record holds (API.md, "Media"): 200/206/304/416 for a stored file (Range, ETag:
// messages/file_response.hpp), 202 {state:"pending"} while its download is queued, 410 expired
// (Meta no longer has it and it was never stored), 422 failed (too large), 404 no such message
// or no media.

#include <memory>
#include <string>

#include <caf/fwd.hpp>
#include <nlohmann/json_fwd.hpp>

#include "messages/http_exchange.hpp"

namespace inboxd {

class store;
class media_files;

/// The answer for the message `record` (null: not found). Stats the stored file.
http_response media_answer(const nlohmann::json& record, const http_request& req,
                           const media_files& files, const std::string& workspace_id);

/// Reads the record of `message_id` and answers through `reply`; the answer is made on `self`'s
/// thread (which stats the file, a short blocking call).
void serve_message_media(caf::local_actor* self, const std::shared_ptr<store>& db,
                         std::shared_ptr<const media_files> files, const std::string& workspace_id,
                         const std::string& message_id, std::shared_ptr<const http_request> req,
                         reply_handle reply);

} // namespace inboxd
