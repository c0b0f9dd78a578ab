#include "actors/media_actor.hpp"

#include <map>
#include <random>
#include <set>
#include <tuple>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/continuation.hpp"
#include "actors/dropped.hpp"
#include "config/log_format.hpp"
#include "messages/actor_messages.hpp"
#include "messages/ids.hpp"
#include "metrics/metrics.hpp"
#include "storage/media_files.hpp"
#include "storage/store.hpp"
#include "whatsapp/media_api.hpp"

namespace inboxd {

namespace {

/// The transport's answer to one step of a job (from the transport's thread).
struct media_done {
  std::string id;
  bool download = false; // false: the lookup
  outbound_response response;
};

} // namespace
} // namespace inboxd

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(inboxd::media_done)

namespace inboxd {

namespace {

// A claim lasts this much longer than the job's own timeouts (see start).
constexpr int64_t kClaimMarginMs = 5000;

enum class media_outcome : uint8_t { stored, failed, expired, retried };

metrics::counter_family media_downloads(
    "inboxd_media_downloads_total",
    "Media download attempts by outcome: stored, failed (too large), expired (not stored within "
    "Meta's 7 days) and retried (the Cloud API or the download failed; tried again later).",
    metrics::label_values("outcome", {"stored", "failed", "expired", "retried"}));

struct job {
  outbox_entry entry;
  bool in_flight = false;
  std::string temp;                    // the download's temporary file while it runs
  std::optional<media_result> outcome; // handed to the conversation actor, not yet confirmed
};

struct media_state {
  workspace ws;
  media_options opts;
  uint64_t epoch = 0;
  std::shared_ptr<store> db;
  caf::actor workspace_actor;
  std::map<std::string, job> jobs;
  std::set<std::tuple<int64_t, std::string>> due; // (due_ms, id) of idle jobs
  int in_flight = 0;
  int64_t tick_at = INT64_MAX;
  std::mt19937_64 rng{std::random_device{}()};
  static inline const char* name = "media";
};

using md_actor = caf::stateful_actor<media_state>;

void pump(md_actor* self);

std::string payload_str(const outbox_entry& e, const char* key) {
  auto i = e.payload.find(key);
  return i != e.payload.end() && i->is_string() ? i->get<std::string>() : std::string();
}

int64_t expires_at(const outbox_entry& e) {
  return e.payload.value("expiresAt", int64_t{0});
}

void schedule_tick(md_actor* self, int64_t at) {
  auto& st = self->state;
  auto now = now_ms();
  if (at >= st.tick_at && st.tick_at > now)
    return;
  st.tick_at = at;
  self->delayed_send(self, std::chrono::milliseconds(std::max<int64_t>(at - now, 1)),
                     tick_atom::value);
}

void add(md_actor* self, outbox_entry e) {
  auto& st = self->state;
  if (e.id.empty() || st.jobs.count(e.id))
    return;
  st.due.emplace(e.due_ms, e.id);
  auto id = e.id;
  st.jobs[id].entry = std::move(e);
}

void commit(md_actor* self, change_set cs, std::function<void(commit_result&)> done) {
  auto& st = self->state;
  cs.workspace_id = st.ws.id;
  st.db->commit(std::move(cs), st.epoch,
                in_actor<commit_result>(self, [self, done = std::move(done)](commit_result& r) {
                  if (r.status == commit_status::stale_epoch)
                    self->send(self->state.workspace_actor, fenced_atom::value, self->state.epoch);
                  done(r);
                }));
}

// Hands the job's final state to its conversation actor (through the workspace actor).
void record(md_actor* self, job& j) {
  auto r = *j.outcome;
  r.media = caf::actor_cast<caf::actor>(self);
  self->send(self->state.workspace_actor, std::move(r));
}

void finish(md_actor* self, job& j, media_outcome how, media_step step) {
  auto& st = self->state;
  j.in_flight = false;
  --st.in_flight;
  media_downloads.inc(static_cast<size_t>(how));
  media_result r;
  r.conversation_id = j.entry.conversation_id;
  r.message_id = j.entry.id;
  r.state = how == media_outcome::stored   ? "stored"
            : how == media_outcome::failed ? "failed"
                                           : "expired";
  r.sha256 = step.sha256;
  r.size = step.size;
  r.mime_type = step.mime_type;
  r.error = step.why;
  if (how != media_outcome::stored)
    spdlog::info("media {}: {} {}: {}", st.ws.id, j.entry.id, r.state, loggable_reason(step.why));
  j.outcome = std::move(r);
  record(self, j);
}

int64_t backoff_ms(md_actor* self, int attempts) {
  auto& o = self->state.opts;
  int64_t d = o.retry_base_ms;
  for (int i = 1; i < attempts && d < o.retry_max_ms; ++i)
    d *= 2;
  d = std::min(d, o.retry_max_ms);
  std::uniform_int_distribution<int64_t> half(0, d / 2); // "equal jitter", as the outbox
  return d - d / 2 + half(self->state.rng);
}

// Tries again later; stored, so a restart keeps the schedule (best effort: a lost reschedule
// only makes the next try earlier). A job past Meta's 7 days is expired instead.
void retry(md_actor* self, job& j, const std::string& why) {
  auto& st = self->state;
  if (now_ms() >= expires_at(j.entry)) {
    media_step s;
    s.why = why;
    return finish(self, j, media_outcome::expired, std::move(s));
  }
  media_downloads.inc(static_cast<size_t>(media_outcome::retried));
  j.in_flight = false;
  --st.in_flight;
  ++j.entry.attempts;
  j.entry.due_ms = std::min(now_ms() + backoff_ms(self, j.entry.attempts), expires_at(j.entry));
  spdlog::debug("media {}: {} retry {} in {} ms: {}", st.ws.id, j.entry.id, j.entry.attempts,
                j.entry.due_ms - now_ms(), loggable_reason(why));
  change_set cs;
  cs.media.reschedule.push_back(j.entry);
  commit(self, std::move(cs), [self](commit_result& r) {
    if (!r.ok())
      spdlog::warn("media {}: retry schedule not stored ({}): {}", self->state.ws.id,
                   to_string(r.status), r.error);
  });
  st.due.emplace(j.entry.due_ms, j.entry.id);
}

void send_step(md_actor* self, job& j, outbound_request req, bool download) {
  auto handle = caf::actor_cast<caf::actor>(self);
  self->state.opts.transport->post(
      std::move(req), [handle, id = j.entry.id, download](outbound_response res) {
        caf::anon_send(handle, media_done{id, download, std::move(res)});
      });
}

void download(md_actor* self, job& j, const std::string& url) {
  auto& st = self->state;
  j.temp = st.opts.files->temp_path(j.entry.id);
  send_step(self, j,
            media_download_request(st.ws.send, url, j.temp, st.opts.max_bytes,
                                   st.opts.download_timeout_ms),
            true);
}

// The job's first step, once its claim is stored: the URL the webhook gave (Kapso's media_url,
// or Meta's own), tried first; else, and on retries (a URL expires in minutes), a fresh lookup
// of the media id.
void begin(md_actor* self, job& j) {
  auto& st = self->state;
  auto url = payload_str(j.entry, "url");
  auto media_id = payload_str(j.entry, "mediaId");
  if (!url.empty() && (j.entry.attempts == 0 || !valid_media_id(media_id)))
    return download(self, j, url);
  if (!st.ws.send.configured())
    return retry(self, j, "the workspace has no Cloud API credentials to fetch media with");
  send_step(self, j, media_lookup_request(st.ws.send, media_id, st.opts.lookup_timeout_ms), false);
}

// A job starts with its claim (see the header), committed under the lease's epoch.
void start(md_actor* self, job& j) {
  auto& st = self->state;
  j.in_flight = true;
  ++st.in_flight;
  change_set cs;
  cs.media.reschedule.push_back(j.entry);
  cs.media.reschedule.back().due_ms =
      now_ms() + st.opts.lookup_timeout_ms + st.opts.download_timeout_ms + kClaimMarginMs;
  commit(self, std::move(cs), [self, id = j.entry.id](commit_result& r) {
    auto& st = self->state;
    auto found = st.jobs.find(id);
    if (found == st.jobs.end())
      return;
    auto& j = found->second;
    if (r.ok())
      return begin(self, j);
    if (r.status == commit_status::stale_epoch)
      return; // another node's now; this actor is about to be dropped
    spdlog::warn("media {}: {} not claimed ({}): {}", st.ws.id, id, to_string(r.status), r.error);
    j.in_flight = false;
    --st.in_flight;
    j.entry.due_ms = now_ms() + st.opts.retry_base_ms; // not an attempt: nothing went out
    st.due.emplace(j.entry.due_ms, j.entry.id);
    pump(self);
  });
}

void pump(md_actor* self) {
  auto& st = self->state;
  if (!st.opts.transport || !st.opts.files)
    return; // downloads are off in this process: the queue waits in Redis
  auto now = now_ms();
  while (!st.due.empty() && st.in_flight < st.opts.concurrency) {
    auto [due_ms, id] = *st.due.begin();
    if (due_ms > now) {
      schedule_tick(self, due_ms);
      return;
    }
    st.due.erase(st.due.begin());
    auto found = st.jobs.find(id);
    if (found == st.jobs.end() || found->second.in_flight || found->second.outcome)
      continue;
    auto& j = found->second;
    if (now >= expires_at(j.entry)) {
      j.in_flight = true;
      ++st.in_flight;
      media_step s;
      s.why = "not stored within the 7 days Meta keeps media";
      finish(self, j, media_outcome::expired, std::move(s));
      continue;
    }
    start(self, j);
  }
}

void on_done(md_actor* self, media_done& d) {
  auto& st = self->state;
  auto found = st.jobs.find(d.id);
  if (found == st.jobs.end() || !found->second.in_flight)
    return;
  auto& j = found->second;
  using k = media_step::kind;
  if (!d.download) {
    auto s = classify_media_lookup(d.response, st.opts.max_bytes);
    if (s.what == k::ok) {
      if (payload_str(j.entry, "mimeType").empty() && !s.mime_type.empty())
        j.entry.payload["mimeType"] = s.mime_type;
      return download(self, j, s.url);
    }
    if (s.what == k::failed)
      finish(self, j, media_outcome::failed, std::move(s));
    else
      retry(self, j, s.why);
    return pump(self);
  }
  auto s = classify_media_download(d.response);
  auto temp = std::move(j.temp);
  j.temp.clear();
  if (s.what == k::ok) {
    if (auto e = st.opts.files->keep(temp, st.ws.id, s.sha256); !e.empty()) {
      retry(self, j, "media store: " + e);
      return pump(self);
    }
    // The type the webhook or the lookup named wins over the download's Content-Type.
    if (auto named = payload_str(j.entry, "mimeType"); !named.empty())
      s.mime_type = named;
    finish(self, j, media_outcome::stored, std::move(s));
  } else {
    st.opts.files->discard(temp); // an error page, or what a failed download left
    if (s.what == k::failed)
      finish(self, j, media_outcome::failed, std::move(s));
    else
      retry(self, j, s.why);
  }
  pump(self);
}

// Another garbage pass in 5 s (after one that left files behind or could not read Redis).
void collect_later(md_actor* self) {
  self->delayed_send(self, std::chrono::seconds(5), media_gc_atom::value,
                     std::vector<std::string>{});
}

// Removes the files of `g` (no message holds them any more) but one kept by a download whose
// outcome is not yet recorded; those, and files that could not be removed, wait for a later pass.
void remove_garbage(md_actor* self, const media_garbage_read& g) {
  auto& st = self->state;
  std::set<std::string> recording;
  for (auto& [id, j] : st.jobs)
    if (j.outcome && j.outcome->state == "stored")
      recording.insert(j.outcome->sha256);
  std::vector<std::string> removed;
  bool again = false;
  for (auto& sha : g.hashes) {
    if (recording.count(sha)) {
      again = true;
    } else if (auto e = st.opts.files->remove(st.ws.id, sha); !e.empty()) {
      spdlog::warn("media {}: {}", st.ws.id, e);
      again = true;
    } else {
      removed.push_back(sha);
    }
  }
  if (again)
    collect_later(self);
  st.db->media_collected(st.ws.id, std::move(removed), [](bool) {});
}

// Removes the workspace's files no message holds any more (after an erasure, and once at start
// so that one cut short by a crash is finished): the store names them, adding `also` and
// dropping those a message holds again.
void collect(md_actor* self, std::vector<std::string> also) {
  auto& st = self->state;
  if (!st.opts.files)
    return; // media is off in this process: the garbage waits in Redis
  st.db->media_garbage(st.ws.id, std::move(also),
                       in_actor<media_garbage_read>(self, [self](media_garbage_read& g) {
                         if (g.ok)
                           return remove_garbage(self, g);
                         spdlog::warn("media {}: garbage not read: {}", self->state.ws.id, g.error);
                         collect_later(self);
                       }));
}

caf::behavior running(md_actor* self) {
  return {
      [self](media_enqueued& e) {
        for (auto& entry : e.entries)
          add(self, std::move(entry));
        pump(self);
      },
      [self](media_done& d) { on_done(self, d); },
      [self](media_recorded& r) {
        auto& st = self->state;
        auto found = st.jobs.find(r.message_id);
        if (found == st.jobs.end())
          return;
        if (r.ok) {
          st.jobs.erase(found);
          return pump(self);
        }
        // Storage refused: hand the outcome over again shortly.
        self->delayed_send(self, std::chrono::seconds(1), retry_atom::value, r.message_id);
      },
      [self](retry_atom, const std::string& id) {
        auto found = self->state.jobs.find(id);
        if (found != self->state.jobs.end() && found->second.outcome)
          record(self, found->second);
      },
      [self](tick_atom) {
        self->state.tick_at = INT64_MAX;
        pump(self);
      },
      [self](media_gc_atom, std::vector<std::string>& also) { collect(self, std::move(also)); },
      [self](forget_atom, const std::vector<std::string>& ids) {
        for (auto& id : ids)
          if (auto i = self->state.jobs.find(id);
              i != self->state.jobs.end() && !i->second.in_flight && !i->second.outcome)
            self->state.jobs.erase(i);
      },
      [self](workspace_changed& w) {
        self->state.ws = std::move(w.ws);
        pump(self);
      },
      [](continuation& c) { c.run(); },
  };
}

void load(md_actor* self) {
  auto ws = self->state.ws.id;
  self->state.db->load_queue(
      ws, job_queue::media, in_actor<queue_read>(self, [self, ws](queue_read& r) {
        if (!r.ok) {
          spdlog::warn("media {}: load failed ({}), retrying", ws, r.error);
          self->delayed_send(self, std::chrono::milliseconds(500), retry_atom::value);
          return;
        }
        for (auto& text : r.entries) {
          auto j = nlohmann::json::parse(text, nullptr, false);
          try {
            add(self, j.get<outbox_entry>());
          } catch (const nlohmann::json::exception& ex) {
            spdlog::error("media {}: unreadable media job skipped: {}", ws, ex.what());
          }
        }
        if (!self->state.jobs.empty())
          spdlog::info("media {}: resumed {} media downloads", ws, self->state.jobs.size());
        self->set_default_handler(log_and_drop);
        self->become(running(self));
        pump(self);
        collect(self, {});
      }));
}

caf::behavior media_behavior(md_actor* self, std::shared_ptr<store> db, caf::actor workspace_actor,
                             workspace ws, media_options opts, uint64_t epoch) {
  auto& st = self->state;
  st.epoch = epoch;
  st.ws = std::move(ws);
  st.opts = std::move(opts);
  st.db = std::move(db);
  st.workspace_actor = std::move(workspace_actor);
  // Until the queue is loaded, everything but the load's answer waits in the mailbox.
  self->set_default_handler(caf::skip);
  load(self);
  return {
      [](continuation& c) { c.run(); },
      [self](retry_atom) { load(self); },
  };
}

} // namespace

caf::actor spawn_media_actor(caf::local_actor* parent, std::shared_ptr<store> db,
                             caf::actor workspace_actor, workspace ws, media_options opts,
                             uint64_t epoch) {
  return parent->spawn(media_behavior, std::move(db), std::move(workspace_actor), std::move(ws),
                       std::move(opts), epoch);
}

} // namespace inboxd
