#include "actors/media_reads.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/continuation.hpp"
#include "messages/file_response.hpp"
#include "storage/media_files.hpp"
#include "storage/store.hpp"

namespace inboxd {

http_response media_answer(const nlohmann::json& record, const http_request& req,
                           const media_files& files, const std::string& workspace_id) {
  if (!record.is_object())
    return make_error(api_error::not_found, "no such message");
  auto m = record.find("media");
  if (m == record.end() || !m->is_object())
    return make_error(api_error::not_found, "this message has no media to download");
  // Media we sent (by link or by an uploaded media id) is never downloaded back: it has no
  // state, and saying "pending" would promise a file that never comes.
  if (!m->contains("state")) {
    auto d = record.find("direction");
    bool sent = d != record.end() && d->is_string() && *d == "outbound";
    return make_error(api_error::not_found,
                      sent ? "this message's media is not stored here (sent by link or media id)"
                           : "this message has no media to download");
  }
  auto state = m->value("state", std::string());
  if (state == "pending")
    return make_json(202, {{"state", "pending"}});
  if (state == "expired")
    return make_error(api_error::expired,
                      "the media expired at WhatsApp before it could be downloaded");
  if (state == "failed")
    return make_error(api_error::unprocessable,
                      "the media could not be downloaded: " + m->value("error", std::string()));
  auto sha = m->value("sha256", std::string());
  auto size = files.size_of(workspace_id, sha);
  if (state != "stored" || size < 0)
    return make_error(api_error::internal, "the media file is missing from the media store");
  auto type = m->value("mimeType", std::string());
  return file_response(req, files.path(workspace_id, sha), static_cast<uint64_t>(size),
                       type.empty() ? "application/octet-stream" : type, sha);
}

void serve_message_media(caf::local_actor* self, const std::shared_ptr<store>& db,
                         std::shared_ptr<const media_files> files, const std::string& workspace_id,
                         const std::string& message_id, std::shared_ptr<const http_request> req,
                         reply_handle reply) {
  if (!files)
    return reply.error(api_error::not_found, "media downloads are off on this server");
  db->load_messages(
      workspace_id, {message_id}, "",
      in_actor<message_lookup>(self, [files, workspace_id, message_id, req,
                                      reply](message_lookup& read) {
        if (!read.ok)
          return reply.error(api_error::unavailable, "storage unavailable; try again");
        auto found = read.records.find(message_id);
        auto record = found == read.records.end()
                          ? nlohmann::json()
                          : nlohmann::json::parse(found->second, nullptr, false);
        reply.send(media_answer(record, *req, *files, workspace_id));
      }));
}

} // namespace inboxd
