#pragma once
// The media actor of one workspace: downloads the media of its messages into the media store
// (storage/media_files.hpp), from its durable queue in Redis ({ws:<id>}:media, written by the
// conversation actors together with the messages).
//
// On start it loads the whole queue (a restart resumes it), then takes new jobs as
// media_enqueued. At most `concurrency` downloads run at once. Each starts with its claim (the
// job's due time moves past the download's timeouts, committed under the lease epoch, so a node
// that lost the workspace downloads nothing and a node taking over leaves a claimed job alone
// until the claim runs out), then the two steps of whatsapp/media_api.hpp: the media id's
// lookup (skipped when the webhook gave a URL: Kapso's media_url), and the download, streamed
// to a temporary file and moved into place under its SHA-256. By the answer:
//  - stored, failed (too large) or expired (Meta keeps media 7 days from the message's time: a
//    job still not stored then gives up): the state goes to the workspace actor as media_result
//    and the job is forgotten once the conversation actor answers media_recorded{ok} (the
//    message record and the queue change in one commit there);
//  - anything else is retried with exponential backoff and jitter (stored, so a restart keeps
//    it), for as long as Meta keeps the media: a failing Cloud API never loses a download.
// Handles: media_enqueued, media_recorded, workspace_changed (new credentials), internal ticks.

#include <cstdint>
#include <memory>

#include <caf/fwd.hpp>

#include "messages/records.hpp"

namespace inboxd {

class store;
class outbound_transport;
class media_files;

struct media_options {
  std::shared_ptr<outbound_transport> transport; // null: no downloads in this process
  std::shared_ptr<const media_files> files;      // null: no downloads in this process
  uint64_t max_bytes = 100ull << 20;             // INBOXD_MEDIA_MAX_BYTES
  int concurrency = 4;                           // downloads at once per workspace
  int64_t lookup_timeout_ms = 10000;
  int64_t download_timeout_ms = 300000;
  int64_t retry_base_ms = 2000;
  int64_t retry_max_ms = 3600000;
};

caf::actor spawn_media_actor(caf::local_actor* parent, std::shared_ptr<store> db,
                             caf::actor workspace_actor, workspace ws, media_options opts,
                             uint64_t epoch);

} // namespace inboxd
