#include "actors/conversation_actor.hpp"

#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/continuation.hpp"
#include "actors/dropped.hpp"
#include "actors/event_log.hpp"
#include "actors/ingest_apply.hpp"
#include "actors/message_mutations.hpp"
#include "messages/actor_messages.hpp"
#include "messages/ids.hpp"
#include "metrics/webhook_items.hpp"
#include "storage/store.hpp"
#include "whatsapp/cloud_api.hpp"

namespace inboxd {

namespace {

// A queued unit of work: webhook events (batched together), or one agent action (a call).
struct pending_item {
  wa_event event;
  ingest_ack_ptr ack;
  std::shared_ptr<inbox_call> call;    // set: an agent action instead of an event
  std::shared_ptr<send_result> result; // set: a send outcome to record instead of an event
  std::shared_ptr<media_result> media; // set: a media download's end to record instead
  bool bot = false;                    // an event of a batch for a workspace with a bot
  bool is_event() const { return !call && !result && !media; }
};

struct conversation_state {
  conversation_seed seed;
  std::shared_ptr<store> db;
  caf::actor workspace;
  std::deque<pending_item> queue;
  bool busy = false;
  uint64_t handled = 0; // messages from the workspace actor handled (passivation handshake)
  int reads = 0;        // message-page reads in flight
  bool stopping = false;
  bool suspect = false; // a commit's outcome is unknown: reload the records before going on
  // A suspect actor is not idle: passivating it would leave its stale summary in the workspace.
  bool idle() const { return !busy && queue.empty() && reads == 0 && !suspect; }
  static inline const char* name = "conversation";
};

using conv_actor = caf::stateful_actor<conversation_state>;

// Commits `cs` under the workspace's lease epoch (0 on a single node, where the epoch key is
// absent) and runs `done` in the actor. A refused epoch means another node owns the workspace
// now: the workspace actor is told (it drops its actors) before `done` fails the work.
template <class F>
void commit(conv_actor* self, change_set cs, F done) {
  auto& st = self->state;
  st.db->commit(
      std::move(cs), st.seed.epoch,
      in_actor<commit_result>(self, [self, done = std::move(done)](commit_result& r) mutable {
        if (r.status == commit_status::stale_epoch)
          self->send(self->state.workspace, fenced_atom::value, self->state.seed.epoch);
        done(r);
      }));
}

double timeline_score(int64_t ts_ms, uint64_t seq) {
  return static_cast<double>(ts_ms) * 1000.0 + static_cast<double>(seq % 1000);
}

void process_next(conv_actor* self);
void apply_action(conv_actor* self, std::shared_ptr<inbox_call> call);
void record_send_result(conv_actor* self, std::shared_ptr<send_result> res);
void record_media_result(conv_actor* self, std::shared_ptr<media_result> res);

// The string at `key`, or "" when absent or not a string (stored records are ours, but old
// records may lack a field or hold null).
std::string str_field(const nlohmann::json& j, const char* key) {
  if (!j.is_object())
    return {};
  auto i = j.find(key);
  return i != j.end() && i->is_string() ? i->get<std::string>() : std::string();
}

// Ends the current unit of work and starts the next one.
void done_with_item(conv_actor* self) {
  self->state.busy = false;
  process_next(self);
}

// --- Webhook events: decode -> apply (pure, actors/ingest_apply) -> one commit --------------

void commit_ingest(conv_actor* self, std::vector<pending_item> work, ingest_outcome out,
                   bool assumed);

// Fails a batch's items (the sender retries the webhook) and goes on with the next item.
void fail_batch(conv_actor* self, std::vector<pending_item>& work, const std::string& why) {
  spdlog::warn("conversation {}: storage failed: {}", self->state.seed.conv.id, why);
  for (auto& w : work)
    w.ack->complete(false);
  done_with_item(self);
}

// Whether the workspace had a bot when these events came (the newest one says).
bool for_bot(const std::vector<pending_item>& work) {
  return !work.empty() && work.back().bot;
}

std::vector<wa_event> events_of(const std::vector<pending_item>& work) {
  std::vector<wa_event> events;
  events.reserve(work.size());
  for (auto& w : work)
    events.push_back(w.event);
  return events;
}

// Reads what the batch's events name (records, aliases, parked events), then applies and commits.
void read_and_ingest(conv_actor* self, std::vector<pending_item> work,
                     std::vector<wa_event> events) {
  auto& st = self->state;
  auto ids = target_ids(events);
  st.db->load_targets(
      st.seed.workspace_id, std::move(ids),
      in_actor<message_targets>(self, [self, work = std::move(work),
                                       events = std::move(events)](message_targets& read) mutable {
        if (!read.ok)
          return fail_batch(self, work, read.error);
        auto& st = self->state;
        auto out = apply_ingest(st.seed.workspace_id, st.seed.conv, st.seed.ct, st.seed.persisted,
                                std::move(events), decode_targets(read), now_ms(), for_bot(work));
        commit_ingest(self, std::move(work), std::move(out), false);
      }));
}

// A batch of only new messages (the common case) is applied without reading first: the change
// set then assumes its messages are new and unlinked, and the store checks that in the commit.
// Anything else, or a commit refused on those assumptions, takes the read path.
void ingest_events(conv_actor* self, std::vector<pending_item> work) {
  auto& st = self->state;
  auto events = events_of(work);
  if (!can_assume_targets(events))
    return read_and_ingest(self, std::move(work), std::move(events));
  ingest_targets assumed;
  assumed.assumed = true;
  auto out = apply_ingest(st.seed.workspace_id, st.seed.conv, st.seed.ct, st.seed.persisted,
                          std::move(events), std::move(assumed), now_ms(), for_bot(work));
  commit_ingest(self, std::move(work), std::move(out), true);
}

void commit_ingest(conv_actor* self, std::vector<pending_item> work, ingest_outcome out,
                   bool assumed) {
  if (out.nothing) { // only redeliveries of erased messages: nothing of them comes back
    metrics::webhook_items.inc(metrics::webhook_outcome::duplicate, out.duplicates);
    for (auto& w : work)
      w.ack->complete(true);
    return done_with_item(self);
  }
  auto changes = std::move(out.changes);
  auto media = changes.media.add; // downloads to start once stored
  commit(self, std::move(changes),
         [self, work = std::move(work), out = std::move(out), assumed,
          media = std::move(media)](commit_result& r) mutable {
           auto& st = self->state;
           switch (r.status) {
             case commit_status::applied:
               // Memory changes only now that the change is stored.
               st.seed.conv = out.conv;
               st.seed.ct = out.ct;
               st.seed.persisted = true;
               // Tell the workspace first: a read after the ack must see the change.
               self->send(st.workspace, conversation_changed{out.conv, out.ct});
               if (!media.empty() && st.seed.media)
                 self->send(st.seed.media, media_enqueued{std::move(media)});
               metrics::webhook_items.inc(metrics::webhook_outcome::stored,
                                          work.size() - out.duplicates);
               metrics::webhook_items.inc(metrics::webhook_outcome::duplicate, out.duplicates);
               for (auto& w : work)
                 w.ack->complete(true);
               return done_with_item(self);
             case commit_status::conflict:
               // A duplicate, an echo of our own send, or something parked: read first.
               if (assumed) {
                 auto events = events_of(work); // before `work` is moved from
                 return read_and_ingest(self, std::move(work), std::move(events));
               }
               return fail_batch(self, work, "commit conflict after reading (another writer?)");
             case commit_status::unknown:
               st.suspect = true; // reload the records before the next change
               return fail_batch(self, work, "outcome unknown: " + r.error);
             default:
               return fail_batch(self, work, std::string(to_string(r.status)) + ": " + r.error);
           }
         });
}

// Fails the unit of work at the front of the queue, if any (storage could not be read).
void fail_front(conv_actor* self, const std::string& why) {
  auto& st = self->state;
  if (st.queue.empty()) {
    // A reload asked for by the idle sweep: nothing waits for it.
  } else if (st.queue.front().call) {
    auto call = std::move(st.queue.front().call);
    st.queue.pop_front();
    call->reply.error(api_error::unavailable, "storage unavailable; try again");
  } else if (st.queue.front().result) {
    auto res = std::move(st.queue.front().result);
    st.queue.pop_front();
    if (res->outbound)
      self->send(res->outbound, send_recorded{res->entry_id, false});
  } else if (st.queue.front().media) {
    auto res = std::move(st.queue.front().media);
    st.queue.pop_front();
    if (res->media)
      self->send(res->media, media_recorded{res->message_id, false});
  } else {
    std::vector<pending_item> work;
    while (!st.queue.empty() && st.queue.front().is_event()) {
      work.push_back(std::move(st.queue.front()));
      st.queue.pop_front();
    }
    for (auto& w : work)
      w.ack->complete(false);
  }
  spdlog::warn("conversation {}: {}", st.seed.conv.id, why);
  done_with_item(self);
}

// After a commit whose outcome is unknown: the stored records are the truth. The store runs
// this read after that commit's reply, so it sees whether the commit landed.
void reload(conv_actor* self) {
  auto& st = self->state;
  st.db->load_conversation(
      st.seed.workspace_id, st.seed.conv.id, st.seed.ct.id,
      in_actor<conversation_records>(self, [self](conversation_records& rec) {
        auto& st = self->state;
        if (!rec.ok)
          return fail_front(self, "reload failed: " + rec.error);
        if (rec.conv) {
          st.seed.conv = *rec.conv;
          st.seed.persisted = true;
        }
        if (rec.ct)
          st.seed.ct = *rec.ct;
        st.suspect = false;
        self->send(st.workspace, conversation_changed{st.seed.conv, st.seed.ct});
        st.busy = false;
        process_next(self);
      }));
}

// A failed action: memory stays as it was; after an unknown outcome the records are reloaded
// before the next change.
void action_failed(conv_actor* self, const commit_result& r, const reply_handle& reply) {
  auto& st = self->state;
  if (r.status == commit_status::unknown)
    st.suspect = true;
  spdlog::warn("conversation {}: action not stored ({}): {}", st.seed.conv.id,
               to_string(r.status), r.error);
  if (r.status == commit_status::overloaded)
    reply.error(api_error::unavailable, "too many changes queued for this workspace; try again");
  else
    reply.error(api_error::unavailable, "storage unavailable; try again");
}

// Commits the conversation and contact records (plus what `cs` holds already) with a
// conversation.updated event, then tells the workspace and answers with the conversation.
void commit_action(conv_actor* self, std::shared_ptr<inbox_call> call, conversation cv, contact ct,
                   change_set cs = {}, std::optional<outbox_entry> enqueue = std::nullopt) {
  auto& st = self->state;
  auto& ws = st.seed.workspace_id;
  auto now = now_ms();
  cv.updated_at = now;
  cs.workspace_id = ws;
  cs.conv = cv;
  cs.ct = ct;
  if (enqueue)
    cs.outbox.add.push_back(*enqueue);
  cs.events.push_back(conversation_event("conversation.updated", cv));
  commit(self, std::move(cs), [self, call, cv, ct, enqueue](commit_result& r) {
    auto& st = self->state;
    if (!r.ok()) {
      action_failed(self, r, call->reply);
      return done_with_item(self);
    }
    st.seed.conv = cv;
    st.seed.ct = ct;
    st.seed.persisted = true;
    self->send(st.workspace, conversation_changed{cv, ct});
    if (enqueue && st.seed.outbound)
      self->send(st.seed.outbound, outbox_enqueued{*enqueue});
    if (call->what == inbox_call::op::patch_contact)
      call->reply.json(200, contact_api(ct));
    else
      call->reply.json(call->what == inbox_call::op::typing ? 202 : 200,
                       conversation_api(cv, ct, now_ms()));
    done_with_item(self);
  });
}

// Marks the conversation read: unreadCount 0 and its recent inbound messages `read`. For `typing`
// WhatsApp is also shown the typing indicator (until the reply or 25 s), which needs an inbound
// message to answer.
void mark_read(conv_actor* self, std::shared_ptr<inbox_call> call) {
  auto& st = self->state;
  auto window = std::min<int64_t>(st.seed.conv.unread_count + 20, 500);
  st.db->load_timeline(
      st.seed.workspace_id, st.seed.conv.id, 0, window,
      in_actor<timeline_page>(self, [self, call](timeline_page& page) {
        auto& st = self->state;
        if (!page.ok) {
          call->reply.error(api_error::unavailable, "storage unavailable; try again");
          return done_with_item(self);
        }
        change_set cs;
        std::string latest_wamid; // of the newest inbound message (the page is newest first)
        for (auto& e : page.entries) {
          if (!e.record)
            continue;
          auto m = nlohmann::json::parse(*e.record, nullptr, false);
          if (!m.is_object() || str_field(m, "direction") != "inbound")
            continue;
          if (latest_wamid.empty())
            latest_wamid = str_field(m, "waMessageId");
          if (str_field(m, "status") == "received") {
            m["status"] = "read";
            cs.messages.emplace_back(e.id, std::move(m));
          }
        }
        bool typing = call->what == inbox_call::op::typing;
        if (typing && latest_wamid.empty()) {
          call->reply.error(api_error::unprocessable,
                            "the conversation has no message from the contact to answer");
          return done_with_item(self);
        }
        // WhatsApp is told once, when something was unread, or with the typing indicator (best
        // effort, through the outbox).
        std::optional<outbox_entry> receipt;
        if (call->send_enabled && !latest_wamid.empty() &&
            (typing || !cs.messages.empty() || st.seed.conv.unread_count > 0)) {
          outbox_entry e;
          e.id = new_id("rr_");
          e.kind = "read";
          e.conversation_id = st.seed.conv.id;
          e.payload = read_receipt_payload(latest_wamid, typing);
          e.due_ms = now_ms();
          receipt = std::move(e);
        }
        auto cv = st.seed.conv;
        cv.unread_count = 0;
        commit_action(self, call, cv, st.seed.ct, std::move(cs), std::move(receipt));
      }));
}

// Answers a send whose clientMessageId names a message already: with that message.
void answer_first_send(conv_actor* self, std::shared_ptr<inbox_call> call, std::string first) {
  auto& st = self->state;
  st.db->load_messages(
      st.seed.workspace_id, {first}, {},
      in_actor<message_lookup>(self, [self, call, first](message_lookup& found) {
        nlohmann::json rec;
        if (found.ok && found.records.count(first))
          rec = nlohmann::json::parse(found.records[first], nullptr, false);
        if (rec.is_object())
          call->reply.json(202, {{"message", std::move(rec)}});
        else
          call->reply.error(api_error::unavailable, "storage unavailable; try again");
        done_with_item(self);
      }));
}

void store_send(conv_actor* self, std::shared_ptr<inbox_call> call, const std::string& reply_rec);

// Stores an agent's message as queued together with its outbox entry, then hands the entry to
// the outbound actor. A repeated clientMessageId answers the first message and stores nothing
// (the commit checks that the id is unused, so also across conversations).
void send_message(conv_actor* self, std::shared_ptr<inbox_call> call) {
  auto& st = self->state;
  std::vector<std::string> ids;
  if (!call->reply_to.empty())
    ids.push_back(call->reply_to);
  st.db->load_messages(
      st.seed.workspace_id, std::move(ids), call->client_message_id,
      in_actor<message_lookup>(self, [self, call](message_lookup& found) {
        if (!found.ok) {
          call->reply.error(api_error::unavailable, "storage unavailable; try again");
          return done_with_item(self);
        }
        if (!found.client_message.empty()) {
          auto i = found.records.find(found.client_message);
          if (i == found.records.end())
            return answer_first_send(self, call, found.client_message);
          auto rec = nlohmann::json::parse(i->second, nullptr, false);
          if (rec.is_object())
            call->reply.json(202, {{"message", std::move(rec)}});
          else
            call->reply.error(api_error::unavailable, "storage unavailable; try again");
          return done_with_item(self);
        }
        auto i = found.records.find(call->reply_to);
        store_send(self, call, i == found.records.end() ? std::string() : i->second);
      }));
}

void store_send(conv_actor* self, std::shared_ptr<inbox_call> call, const std::string& reply_rec) {
  auto& st = self->state;
  auto& ws = st.seed.workspace_id;
  auto now = now_ms();
  auto cv = st.seed.conv;
  auto type = str_field(call->draft, "type");
  if (type != "template" && !(now < cv.last_inbound_at + kReplyWindowMs)) {
    call->reply.error(api_error::window_closed,
                      "the 24-hour reply window is closed: only templates can be sent");
    return done_with_item(self);
  }
  if (type == "template" && st.seed.ct.marketing_opt_out_at != 0 &&
      call->draft["template"].value("category", "") == "marketing") {
    call->reply.error(api_error::opted_out,
                      "the contact stopped marketing messages; only utility and authentication "
                      "templates can be sent");
    return done_with_item(self);
  }
  std::string reply_wamid;
  if (!call->reply_to.empty()) {
    auto target = reply_rec.empty() ? nlohmann::json() : nlohmann::json::parse(reply_rec, nullptr, false);
    reply_wamid = str_field(target, "waMessageId");
    if (str_field(target, "conversationId") != cv.id || reply_wamid.empty()) {
      call->reply.error(api_error::unprocessable,
                        "replyTo must be a sent or received message of this conversation");
      return done_with_item(self);
    }
  }
  nlohmann::json rec = call->draft;
  auto id = new_id("msg_");
  rec["id"] = id;
  rec["conversationId"] = cv.id;
  rec["waMessageId"] = nullptr;
  rec["direction"] = "outbound";
  rec["origin"] = "api";
  rec["status"] = "queued";
  rec["sentBy"] = call->principal;
  rec["timestamp"] = now;
  rec["createdAt"] = now;
  if (!call->reply_to.empty())
    rec["replyTo"] = call->reply_to;
  if (!call->client_message_id.empty())
    rec["clientMessageId"] = call->client_message_id;
  outbox_entry entry;
  entry.id = id;
  entry.conversation_id = cv.id;
  auto& ct = st.seed.ct; // a contact without a phone is addressed by its user id
  entry.payload =
      message_payload(rec, ct.phone.empty() ? ct.wa_user_id : ct.phone, reply_wamid, id);
  entry.due_ms = now;
  auto seq = ++cv.seq;
  if (now >= cv.last_message_at) {
    cv.last_message_at = now;
    cv.last_message_preview = message_preview(rec);
  }
  cv.updated_at = now;
  // A person's send (a user token, not an API key: bots use keys) takes the conversation from
  // the bot (API.md "Bots and outgoing webhooks").
  if (!call->user_id.empty() && cv.mode == "ai")
    cv.mode = "human";
  change_set cs;
  cs.workspace_id = ws;
  if (!call->client_message_id.empty())
    cs.client_message = change_set::client_message_mark{call->client_message_id, id};
  cs.messages.emplace_back(id, rec);
  cs.timeline_of = cv.id;
  cs.timeline.emplace_back(id, static_cast<int64_t>(timeline_score(now, seq)));
  cs.outbox.add.push_back(entry);
  cs.conv = cv;
  cs.events.push_back(message_event("message.created", id));
  cs.events.push_back(conversation_event("conversation.updated", cv));
  commit(self, std::move(cs), [self, call, cv, rec, entry](commit_result& r) {
    auto& st = self->state;
    if (!r.client_message_taken.empty()) // a concurrent send with the same id won
      return answer_first_send(self, call, r.client_message_taken);
    if (!r.ok()) {
      action_failed(self, r, call->reply);
      return done_with_item(self);
    }
    st.seed.conv = cv;
    st.seed.persisted = true;
    self->send(st.workspace, conversation_changed{cv, st.seed.ct});
    if (st.seed.outbound)
      self->send(st.seed.outbound, outbox_enqueued{entry});
    call->reply.json(202, {{"message", rec}});
    done_with_item(self);
  });
}

// Commits the record of a worker's outcome (a send's, a media download's); `answer(ok)` tells the
// worker whether it is stored and ends the unit of work.
template <class Answer>
void commit_outcome(conv_actor* self, change_set cs, Answer answer) {
  commit(self, std::move(cs), [self, answer](commit_result& r) {
    if (r.status == commit_status::unknown)
      self->state.suspect = true;
    if (r.ok())
      self->send(self->state.workspace, events_atom::value);
    answer(r.ok());
  });
}

// Records a send's outcome on its message, applies what was parked under the wamid, keeps the
// wamid as an alias of the message and takes the entry out of the outbox, in one change set.
void record_send_result(conv_actor* self, std::shared_ptr<send_result> res) {
  auto& st = self->state;
  std::vector<std::string> ids{res->entry_id};
  if (res->sent)
    ids.push_back(message_id_for_wamid(res->wamid));
  st.db->load_targets(
      st.seed.workspace_id, std::move(ids),
      in_actor<message_targets>(self, [self, res](message_targets& read) {
        auto& st = self->state;
        auto& ws = st.seed.workspace_id;
        auto& id = res->entry_id;
        auto answer = [self, res](bool ok) {
          if (res->outbound)
            self->send(res->outbound, send_recorded{res->entry_id, ok});
          done_with_item(self);
        };
        if (!read.ok)
          return answer(false);
        auto now = now_ms();
        change_set cs;
        cs.workspace_id = ws;
        cs.timeline_of = st.seed.conv.id;
        auto own = read.records.find(id);
        auto rec = own == read.records.end() ? nlohmann::json()
                                             : nlohmann::json::parse(own->second, nullptr, false);
        if (rec.is_object()) {
          wa_event ev;
          ev.kind = wa_event_kind::status;
          ev.timestamp_ms = now;
          if (res->sent) {
            rec["waMessageId"] = res->wamid;
            ev.status = "sent";
          } else {
            ev.status = "failed";
            ev.content = {{"error", {{"code", res->code}, {"title", res->title}}}};
          }
          apply_mutation(rec, ev, now);
          if (res->sent) {
            auto derived = message_id_for_wamid(res->wamid);
            // A status or echo that beat us here was stored under the wamid's own id.
            if (auto echo = read.records.find(derived); echo != read.records.end()) {
              auto stored = nlohmann::json::parse(echo->second, nullptr, false);
              wa_event from_echo;
              from_echo.kind = wa_event_kind::status;
              from_echo.status = str_field(stored, "status");
              from_echo.timestamp_ms = now;
              if (!from_echo.status.empty())
                apply_mutation(rec, from_echo, now);
              cs.drop_messages.push_back(derived);
            }
            for (auto& p : read.parked[derived]) {
              wa_event e;
              if (park_decode(nlohmann::json::parse(p, nullptr, false), e))
                apply_mutation(rec, e, now);
            }
            cs.unpark.push_back(derived);
            cs.aliases.emplace_back(derived, id);
          }
          cs.messages.emplace_back(id, rec);
          cs.events.push_back(message_event("message.updated", id));
        }
        cs.outbox.remove.push_back(id);
        commit_outcome(self, std::move(cs), answer);
      }));
}

// Records a media download's end on its message (media.state and, once stored, its sha256, size
// and type) with a message.updated event, and takes the job out of the media queue, in one
// change set.
void record_media_result(conv_actor* self, std::shared_ptr<media_result> res) {
  auto& st = self->state;
  st.db->load_messages(
      st.seed.workspace_id, {res->message_id}, "",
      in_actor<message_lookup>(self, [self, res](message_lookup& read) {
        auto& st = self->state;
        auto answer = [self, res](bool ok) {
          if (res->media)
            self->send(res->media, media_recorded{res->message_id, ok});
          done_with_item(self);
        };
        if (!read.ok)
          return answer(false);
        change_set cs;
        cs.workspace_id = st.seed.workspace_id;
        if (auto own = read.records.find(res->message_id); own != read.records.end()) {
          auto rec = nlohmann::json::parse(own->second, nullptr, false);
          if (apply_media_result(rec, res->state, res->sha256, res->size, res->mime_type,
                                 res->error)) {
            if (res->state == "stored")
              cs.media_refs.push_back(res->sha256);
            cs.messages.emplace_back(res->message_id, std::move(rec));
            cs.events.push_back(message_event("message.updated", res->message_id));
          }
        }
        cs.media.remove.push_back(res->message_id);
        commit_outcome(self, std::move(cs), answer);
      }));
}

void erase_failed(conv_actor* self, const std::shared_ptr<inbox_call>& call,
                  const std::string& why) {
  spdlog::warn("conversation {}: erasure failed: {}", self->state.seed.conv.id, why);
  call->reply.error(api_error::unavailable, "storage unavailable; try again");
  done_with_item(self);
}

// Adds to `cs` and `er` the removal of the messages of `page`: records, timeline entries, parked
// events, media jobs, aliases, clientMessageId marks and media references; those newer than
// `gone_after` (ms, WhatsApp's time) are marked gone.
void remove_messages(change_set& cs, change_set::erasure& er, const timeline_page& page,
                     int64_t gone_after) {
  for (auto& e : page.entries) {
    cs.drop_messages.push_back(e.id);
    cs.unpark.push_back(e.id);
    cs.media.remove.push_back(e.id);
    bool gone = e.score / 1000 > gone_after;
    if (gone)
      er.gone.push_back(e.id);
    auto rec = e.record ? nlohmann::json::parse(*e.record, nullptr, false) : nlohmann::json();
    if (!rec.is_object())
      continue;
    if (auto wamid = str_field(rec, "waMessageId"); !wamid.empty()) {
      auto derived = message_id_for_wamid(wamid);
      if (derived != e.id) { // a message we sent: statuses and echoes name its wamid
        er.aliases.push_back(derived);
        cs.unpark.push_back(derived);
        if (gone)
          er.gone.push_back(derived);
      }
    }
    if (auto cmid = str_field(rec, "clientMessageId"); !cmid.empty())
      er.client_messages.push_back(cmid);
    auto m = rec.find("media");
    if (m != rec.end() && m->is_object() && str_field(*m, "state") == "stored" &&
        !str_field(*m, "sha256").empty())
      er.media.push_back(str_field(*m, "sha256"));
  }
}

// The change set erasing the conversation whose messages are `page` (all of them), with the
// outbox entries of `outbox` that are the conversation's.
change_set erasure_of(const conversation_seed& seed, const timeline_page& page,
                      const queue_read& outbox) {
  change_set cs;
  cs.workspace_id = seed.workspace_id;
  cs.timeline_of = seed.conv.id;
  change_set::erasure er;
  er.conversation_id = seed.conv.id;
  er.contact_id = seed.ct.id;
  remove_messages(cs, er, page, INT64_MIN);
  for (auto& e : page.entries)
    er.scrub.push_back(e.id);
  for (auto& text : outbox.entries) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (str_field(j, "conversationId") == seed.conv.id)
      cs.outbox.remove.push_back(str_field(j, "id"));
  }
  er.scrub.push_back(seed.conv.id);
  er.scrub.push_back(seed.ct.id);
  cs.erase = std::move(er);
  return cs;
}

// The erasure is stored: the workspace actor forgets the conversation, what queued behind the
// erasure is answered as storage trouble (a sender retries; a webhook's redelivery then makes a
// new contact, or nothing for an erased message), and the actor stops.
void erased(conv_actor* self, const std::shared_ptr<inbox_call>& call, bool media,
            std::vector<std::string> jobs) {
  auto& st = self->state;
  self->send(st.workspace,
             conversation_erased{st.seed.conv.id, st.seed.ct.id, media, std::move(jobs)});
  call->reply.send(http_response{204, "", "", {}});
  for (auto& item : st.queue) {
    if (item.call) {
      item.call->reply.error(api_error::unavailable, "the conversation was erased");
    } else if (item.result && item.result->outbound) {
      self->send(item.result->outbound, send_recorded{item.result->entry_id, true});
    } else if (item.media && item.media->media) {
      auto& m = *item.media;
      self->send(m.media, media_recorded{m.message_id, true});
      if (m.state == "stored") // kept for a message that is gone
        self->send(m.media, media_gc_atom::value, std::vector<std::string>{m.sha256});
    } else if (item.ack) {
      item.ack->complete(false);
    }
  }
  st.queue.clear();
  self->quit();
}

void erase_with(conv_actor* self, std::shared_ptr<inbox_call> call, const timeline_page& page,
                const queue_read& outbox) {
  auto cs = erasure_of(self->state.seed, page, outbox);
  auto jobs = cs.outbox.remove;
  jobs.insert(jobs.end(), cs.media.remove.begin(), cs.media.remove.end());
  bool media = !cs.erase->media.empty();
  commit(self, std::move(cs),
         [self, call, media, jobs = std::move(jobs)](commit_result& r) mutable {
           if (r.ok())
             return erased(self, call, media, std::move(jobs));
           if (r.status == commit_status::unknown)
             self->state.suspect = true;
           erase_failed(self, call, std::string(to_string(r.status)) + ": " + r.error);
         });
}

// DELETE /api/contacts/{id}: reads every message of the conversation and the outbox, then erases
// in one change set the conversation, its contact, the messages with their timeline, parked
// events, aliases, clientMessageId marks, media jobs and outbox entries, the retained events and
// webhook deliveries naming any of them, and the media references (files left with no message
// are removed by the media actor). The erased message ids stay marked gone for 8 days so that
// redeliveries recreate nothing. Once stored, the workspace actor is told and this actor stops.
void erase(conv_actor* self, std::shared_ptr<inbox_call> call) {
  auto& st = self->state;
  st.db->load_timeline(
      st.seed.workspace_id, st.seed.conv.id, 0, std::numeric_limits<int32_t>::max(),
      in_actor<timeline_page>(self, [self, call](timeline_page& page) {
        if (!page.ok)
          return erase_failed(self, call, page.error);
        auto& st = self->state;
        st.db->load_queue(st.seed.workspace_id, job_queue::outbox,
                          in_actor<queue_read>(self, [self, call, page](queue_read& q) {
                            if (!q.ok)
                              return erase_failed(self, call, q.error);
                            erase_with(self, call, page, q);
                          }));
      }));
}

// Retention: at most this many messages per conversation and step; those of the last 8 days
// leave gone marks.
constexpr int64_t kExpireBatch = 500;
constexpr int64_t kGoneWindowMs = 8LL * 24 * 3600 * 1000; // Meta redelivers for 7 days

// The unread messages are the newest `unread` inbound ones (not history): once the messages
// before `cutoff` are deleted, no more than the inbound messages left can be unread. `newest`:
// the newest min(unread, kExpireBatch) timeline entries, newest first.
int64_t unread_left(const timeline_page& newest, int64_t unread, int64_t cutoff) {
  int64_t inbound = 0;
  bool all = static_cast<int64_t>(newest.entries.size()) < std::min(unread, kExpireBatch);
  for (auto& e : newest.entries) {
    if (e.score < cutoff * 1000) {
      all = true; // every message left was seen
      break;
    }
    auto rec = e.record ? nlohmann::json::parse(*e.record, nullptr, false) : nlohmann::json();
    if (rec.is_object() && str_field(rec, "direction") == "inbound" &&
        str_field(rec, "origin") != "history")
      ++inbound;
  }
  return all ? std::min(unread, inbound) : unread;
}

// Deletes the messages of `page` (older than the cutoff) with the summary that follows: the
// unread count `unread`, and no preview once the newest message went.
void expire_with(conv_actor* self, int64_t cutoff, const timeline_page& page, int64_t unread) {
  auto& st = self->state;
  auto now = now_ms();
  change_set cs;
  cs.workspace_id = st.seed.workspace_id;
  cs.timeline_of = st.seed.conv.id;
  cs.erase.emplace();
  remove_messages(cs, *cs.erase, page, now - kGoneWindowMs);
  bool media = !cs.erase->media.empty();
  auto cv = st.seed.conv;
  cv.unread_count = unread;
  bool emptied =
      static_cast<int64_t>(page.entries.size()) < kExpireBatch && cv.last_message_at < cutoff;
  if (emptied)
    cv.last_message_preview.clear();
  bool changed = cv.unread_count != st.seed.conv.unread_count ||
                 cv.last_message_preview != st.seed.conv.last_message_preview;
  if (changed) {
    cv.updated_at = now;
    cs.conv = cv;
    cs.events.push_back(conversation_event("conversation.updated", cv));
  }
  auto deleted = page.entries.size();
  commit(self, std::move(cs), [self, cv, changed, media, deleted](commit_result& r) {
    auto& st = self->state;
    if (!r.ok()) {
      if (r.status == commit_status::unknown)
        st.suspect = true;
      spdlog::warn("conversation {}: retention not stored ({}): {}", st.seed.conv.id,
                   to_string(r.status), r.error);
      return done_with_item(self);
    }
    spdlog::debug("conversation {}: {} messages past retention deleted", st.seed.conv.id, deleted);
    if (changed) {
      st.seed.conv = cv;
      self->send(st.workspace, conversation_changed{cv, st.seed.ct});
    }
    if (media && st.seed.media)
      self->send(st.seed.media, media_gc_atom::value, std::vector<std::string>{});
    done_with_item(self);
  });
}

// Retention (the workspace's retentionDays; the workspace actor's sweep sends the cutoff in
// `before`, ms): deletes up to kExpireBatch messages older than the cutoff — the next sweep
// takes more — and keeps the summary true (see unread_left; the preview goes once the newest
// message has). Nothing is answered (no one waits).
void expire(conv_actor* self, std::shared_ptr<inbox_call> call) {
  auto& st = self->state;
  if (!st.seed.persisted)
    return done_with_item(self);
  auto cutoff = call->before;
  auto failed = [self](const std::string& why) {
    spdlog::warn("conversation {}: retention read failed: {}", self->state.seed.conv.id, why);
    done_with_item(self);
  };
  st.db->load_timeline(
      st.seed.workspace_id, st.seed.conv.id, cutoff * 1000, kExpireBatch,
      in_actor<timeline_page>(self, [self, cutoff, failed](timeline_page& page) {
        auto& st = self->state;
        if (!page.ok)
          return failed(page.error);
        if (page.entries.empty())
          return done_with_item(self);
        auto unread = st.seed.conv.unread_count;
        if (unread == 0)
          return expire_with(self, cutoff, page, 0);
        st.db->load_timeline(
            st.seed.workspace_id, st.seed.conv.id, 0, std::min(unread, kExpireBatch),
            in_actor<timeline_page>(
                self, [self, cutoff, failed, page, unread](timeline_page& newest) {
                  if (!newest.ok)
                    return failed(newest.error);
                  expire_with(self, cutoff, page, unread_left(newest, unread, cutoff));
                }));
      }));
}

// One agent action, already authorized by the workspace actor except for the checks that need
// this conversation's current state (an agent may only unassign itself).
void apply_action(conv_actor* self, std::shared_ptr<inbox_call> call) {
  auto& st = self->state;
  auto cv = st.seed.conv;
  auto ct = st.seed.ct;
  using op = inbox_call::op;
  auto refuse = [&](api_error code, const char* message) {
    call->reply.error(code, message);
    st.busy = false;
    process_next(self);
  };
  switch (call->what) {
    case op::assign:
      if (call->role == "agent" && call->value_null && cv.assigned_to != call->principal &&
          !cv.assigned_to.empty())
        return refuse(api_error::forbidden, "agents may only unassign themselves");
      cv.assigned_to = call->value_null ? "" : call->value;
      break;
    case op::handover:
      cv.mode = call->value;
      break;
    case op::set_status:
      cv.status = call->value;
      break;
    case op::set_tags:
      cv.tags = call->tags;
      break;
    case op::patch_contact:
      if (call->has_name)
        ct.custom_name = call->name_null ? "" : call->name;
      if (call->has_tags)
        ct.tags = call->tags;
      ct.updated_at = now_ms();
      break;
    case op::erase_contact:
      return erase(self, std::move(call));
    case op::expire_messages:
      return expire(self, std::move(call));
    case op::mark_read:
    case op::typing:
      return mark_read(self, std::move(call));
    case op::send_message:
      return send_message(self, std::move(call));
    default:
      return refuse(api_error::internal, "unexpected action");
  }
  commit_action(self, std::move(call), std::move(cv), std::move(ct), {});
}

void process_next(conv_actor* self) {
  auto& st = self->state;
  if (st.stopping && st.idle())
    return self->quit();
  if (st.busy || st.queue.empty())
    return;
  st.busy = true;
  if (st.suspect)
    return reload(self);
  if (st.queue.front().call) {
    auto call = std::move(st.queue.front().call);
    st.queue.pop_front();
    return apply_action(self, std::move(call));
  }
  if (st.queue.front().result) {
    auto result = std::move(st.queue.front().result);
    st.queue.pop_front();
    return record_send_result(self, std::move(result));
  }
  if (st.queue.front().media) {
    auto result = std::move(st.queue.front().media);
    st.queue.pop_front();
    return record_media_result(self, std::move(result));
  }
  // Every event queued up to the next action goes into one batch.
  std::vector<pending_item> work;
  while (!st.queue.empty() && st.queue.front().is_event()) {
    work.push_back(std::move(st.queue.front()));
    st.queue.pop_front();
  }
  ingest_events(self, std::move(work));
}

// Wraps the caller's reply handle: counts the read as finished when it answers. Runs on the
// actor's thread (store callbacks are brought there by in_actor).
class read_done_sink : public reply_sink {
public:
  read_done_sink(conv_actor* self, reply_handle inner) : self_(self), inner_(std::move(inner)) {}
  void deliver(http_response res) override {
    inner_.send(std::move(res));
    --self_->state.reads;
    process_next(self_);
  }

private:
  conv_actor* self_;
  reply_handle inner_;
};

void read_messages(conv_actor* self, const inbox_call& call) {
  auto& st = self->state;
  auto limit = call.limit;
  ++st.reads;
  // Every path answers through `reply`, which also ends the read (for passivation).
  auto reply = reply_handle(std::make_shared<read_done_sink>(self, call.reply));
  st.db->load_timeline(
      st.seed.workspace_id, st.seed.conv.id, call.before, limit + 1,
      in_actor<timeline_page>(self, [reply, limit](timeline_page& page) {
        if (!page.ok)
          return reply.error(api_error::unavailable, "storage unavailable");
        auto& entries = page.entries;
        bool more = static_cast<int64_t>(entries.size()) > limit;
        if (more)
          entries.resize(limit);
        nlohmann::json next = nullptr;
        if (more && !entries.empty())
          next = std::to_string(entries.back().score);
        nlohmann::json out = nlohmann::json::array();
        for (auto it = entries.rbegin(); it != entries.rend(); ++it) // oldest first
          if (it->record) {
            auto j = nlohmann::json::parse(*it->record, nullptr, false);
            if (j.is_object())
              out.push_back(std::move(j));
          }
        reply.json(200, {{"messages", std::move(out)}, {"nextBefore", next}});
      }));
}

caf::behavior conversation_behavior(conv_actor* self, caf::actor workspace,
                                    conversation_seed seed) {
  self->state.seed = std::move(seed);
  self->state.db = self->state.seed.db;
  self->state.workspace = std::move(workspace);
  self->set_default_handler(log_and_drop);
  return {
      [self](ingest_batch& b) {
        ++self->state.handled;
        for (auto& e : b.events)
          self->state.queue.push_back({std::move(e), b.ack, nullptr, nullptr, nullptr, b.bot});
        process_next(self);
      },
      [self](inbox_call& call) {
        ++self->state.handled;
        if (call.what == inbox_call::op::messages_list) {
          read_messages(self, call);
        } else {
          // Actions queue behind webhook events: one writer, one change at a time.
          pending_item item;
          item.call = std::make_shared<inbox_call>(std::move(call));
          self->state.queue.push_back(std::move(item));
          process_next(self);
        }
      },
      [](continuation& c) { c.run(); },
      [self](send_result& r) {
        ++self->state.handled;
        pending_item item;
        item.result = std::make_shared<send_result>(std::move(r));
        self->state.queue.push_back(std::move(item));
        process_next(self);
      },
      [self](media_result& r) {
        ++self->state.handled;
        pending_item item;
        item.media = std::make_shared<media_result>(std::move(r));
        self->state.queue.push_back(std::move(item));
        process_next(self);
      },
      [self](stop_atom) {
        self->state.stopping = true;
        process_next(self);
      },
      [self](idle_check_atom) {
        auto& st = self->state;
        if (st.suspect && !st.busy) { // reload now, so that it can passivate at the next sweep
          st.busy = true;
          return reload(self);
        }
        if (st.idle())
          self->send(st.workspace, conversation_idle{st.seed.conv.id, st.handled});
      },
  };
}

} // namespace

caf::actor spawn_conversation_actor(caf::local_actor* parent, caf::actor workspace,
                                    conversation_seed seed) {
  return parent->spawn(conversation_behavior, std::move(workspace), std::move(seed));
}

} // namespace inboxd
