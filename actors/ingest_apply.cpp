#include "actors/ingest_apply.hpp"

#include <set>

#include "actors/event_log.hpp"
#include "actors/message_mutations.hpp"
#include "messages/ids.hpp"
#include "whatsapp/media_api.hpp"

namespace inboxd {

namespace {

// The timeline score: WhatsApp time in ms, ties broken by arrival (KEYS.md). Below 2^53, so the
// score is exact in Redis' doubles.
int64_t timeline_score(int64_t ts_ms, uint64_t seq) {
  return ts_ms * 1000 + static_cast<int64_t>(seq % 1000);
}

const std::string* wamid_of(const wa_event& e) {
  if (e.kind == wa_event_kind::message || e.kind == wa_event_kind::echo)
    return &e.wamid;
  if (e.kind == wa_event_kind::contact_seen || e.kind == wa_event_kind::preference ||
      e.kind == wa_event_kind::address_book)
    return nullptr;
  return &e.target_wamid;
}

// A marketing preference (user_preferences), unless a later one was applied already: Meta may
// deliver them out of order.
void apply_preference(contact& ct, const wa_event& e) {
  if (!e.content.is_object() || e.content.value("category", "") != "marketing_messages" ||
      e.timestamp_ms < ct.marketing_changed_at)
    return;
  auto value = e.content.value("value", "");
  if (value == "stop") {
    if (ct.marketing_opt_out_at == 0)
      ct.marketing_opt_out_at = e.timestamp_ms;
  } else if (value == "resume" || value == "signup") {
    ct.marketing_opt_out_at = 0;
  } else {
    return;
  }
  ct.marketing_changed_at = e.timestamp_ms;
}

// Meta keeps an inbound media 7 days (API.md, "Media"): its download gives up after that.
constexpr int64_t kMediaKeptMs = 7LL * 24 * 3600 * 1000;

// A message with media to download (a media id, or Kapso's media_url): its record's media
// becomes `pending` and a job joins the workspace's media queue in the same change set; media
// already past Meta's 7 days (old history) is `expired` at once.
void queue_media(nlohmann::json& rec, const std::string& id, const std::string& conv_id,
                 int64_t timestamp_ms, int64_t now, change_set& cs) {
  auto m = rec.find("media");
  if (m == rec.end() || !m->is_object() || m->contains("state"))
    return;
  auto media_id = m->value("id", std::string());
  auto url = m->value("url", std::string());
  if (!valid_media_url(url))
    url.clear();
  if (url.empty() && !valid_media_id(media_id))
    return; // nothing to fetch it by
  auto expires = timestamp_ms + kMediaKeptMs;
  if (expires <= now) {
    (*m)["state"] = "expired";
    return;
  }
  (*m)["state"] = "pending";
  outbox_entry job;
  job.id = id;
  job.kind = "media";
  job.conversation_id = conv_id;
  job.payload = {{"mediaId", media_id}, {"expiresAt", expires}};
  if (!url.empty())
    job.payload["url"] = url;
  if (auto mime = m->value("mimeType", std::string()); !mime.empty())
    job.payload["mimeType"] = mime;
  job.due_ms = now;
  cs.media.add.push_back(std::move(job));
}

} // namespace

ingest_targets decode_targets(const message_targets& read) {
  ingest_targets t;
  for (auto& [id, text] : read.records) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_object())
      t.records[id] = std::move(j);
  }
  t.aliases = read.aliases;
  t.gone = read.gone;
  for (auto& [id, items] : read.parked)
    for (auto& p : items) {
      wa_event e;
      if (park_decode(nlohmann::json::parse(p, nullptr, false), e))
        t.parked[id].push_back(std::move(e));
    }
  return t;
}

bool can_assume_targets(const std::vector<wa_event>& events) {
  for (auto& e : events)
    if (e.kind != wa_event_kind::message && e.kind != wa_event_kind::echo &&
        e.kind != wa_event_kind::contact_seen && e.kind != wa_event_kind::preference &&
        e.kind != wa_event_kind::address_book)
      return false;
  return true;
}

std::vector<std::string> target_ids(const std::vector<wa_event>& events) {
  std::vector<std::string> ids;
  std::set<std::string> seen;
  for (auto& e : events)
    if (auto wamid = wamid_of(e)) {
      auto id = message_id_for_wamid(*wamid);
      if (seen.insert(id).second)
        ids.push_back(std::move(id));
    }
  return ids;
}

ingest_outcome apply_ingest(const std::string& workspace_id, const conversation& conv,
                            const contact& ct_in, bool persisted, std::vector<wa_event> events,
                            ingest_targets targets, int64_t now, bool bot) {
  ingest_outcome out;
  auto& cv = out.conv;
  auto& ct = out.ct;
  cv = conv;
  ct = ct_in;
  auto& msgs = targets.records;
  auto& parked = targets.parked;
  auto& alias = targets.aliases;
  auto resolve = [&](const std::string& id) -> const std::string& {
    auto a = alias.find(id);
    return a == alias.end() ? id : a->second;
  };
  std::set<std::string> changed, park_del;
  // Messages changed by live traffic (history changes no message visibly: no events), and
  // whether anything but history came at all.
  std::set<std::string> loud;
  std::set<std::string> for_bot; // new inbound messages while the conversation is `ai`
  bool live = false;
  std::map<std::string, std::vector<std::string>> park_add;
  std::vector<std::pair<std::string, int64_t>> added;
  size_t erased = 0; // events naming erased messages (dropped)
  for (auto& e : events) {
    if (e.timestamp_ms == 0) // no timestamp in the payload: the time we received it
      e.timestamp_ms = now;
    bool creates = e.kind == wa_event_kind::message || e.kind == wa_event_kind::echo;
    bool targets_one = e.kind == wa_event_kind::status || e.kind == wa_event_kind::reaction ||
                       e.kind == wa_event_kind::edit || e.kind == wa_event_kind::revoke;
    if ((creates && targets.gone.count(message_id_for_wamid(e.wamid))) ||
        (targets_one && targets.gone.count(resolve(message_id_for_wamid(e.target_wamid))))) {
      ++erased; // a message erased with its contact: a redelivery recreates nothing of it
      if (creates)
        ++out.duplicates;
      continue;
    }
    // Imported from the business app's past chats: stored, but no unread count, no reply window,
    // no reopening and no events (API.md, "Coexistence, history and preferences").
    bool history = e.origin == "history";
    live = live || !history;
    auto touch = [&](const std::string& id) {
      changed.insert(id);
      if (!history)
        loud.insert(id);
    };
    if (!e.profile_name.empty() && e.kind != wa_event_kind::echo && e.kind != wa_event_kind::status)
      ct.profile_name = e.profile_name;
    // The names the workspace routed this event by (it links them to this contact first and
    // leaves out one that another contact holds).
    if (!e.contact_phone.empty())
      ct.phone = e.contact_phone;
    if (!e.contact_user_id.empty())
      ct.wa_user_id = e.contact_user_id;
    if (!e.contact_username.empty())
      ct.username = e.contact_username;
    switch (e.kind) {
      case wa_event_kind::message:
      case wa_event_kind::echo: {
        auto id = message_id_for_wamid(e.wamid);
        if (auto m = msgs.find(id); m != msgs.end()) {
          if (fill_placeholder(m->second, e)) { // the media of an imported media message
            touch(id);
            queue_media(m->second, id, cv.id, e.timestamp_ms, now, out.changes);
            if (m->second.value("timestamp", int64_t{0}) == cv.last_message_at)
              cv.last_message_preview = message_preview(m->second);
          } else
            ++out.duplicates;
          break;
        }
        if (auto a = alias.find(id); a != alias.end()) {
          // The echo of a message we sent (Kapso reports those): only its status is news.
          ++out.duplicates;
          if (auto m = msgs.find(a->second); m != msgs.end() && !e.status.empty()) {
            wa_event st_ev = e;
            st_ev.kind = wa_event_kind::status;
            if (apply_mutation(m->second, st_ev, now))
              touch(a->second);
          }
          break;
        }
        auto rec = make_message_record(e, cv.id, now);
        if (auto p = parked.find(id); p != parked.end()) {
          for (auto& pe : p->second)
            apply_mutation(rec, pe, now);
          parked.erase(p);
          park_del.insert(id);
          park_add.erase(id);
        }
        queue_media(rec, id, cv.id, e.timestamp_ms, now, out.changes);
        msgs[id] = std::move(rec);
        touch(id);
        auto seq = ++cv.seq;
        added.emplace_back(id, timeline_score(e.timestamp_ms, seq));
        if (e.timestamp_ms >= cv.last_message_at) {
          cv.last_message_at = e.timestamp_ms;
          cv.last_message_preview = message_preview(msgs[id]);
        }
        if (e.kind == wa_event_kind::echo && !history && cv.mode == "ai")
          cv.mode = "human"; // the business answered from the phone app: a person took over
        if (e.kind == wa_event_kind::message && !history) {
          if (bot && cv.mode == "ai")
            for_bot.insert(id);
          cv.last_inbound_at = std::max(cv.last_inbound_at, e.timestamp_ms);
          ++cv.unread_count;
          if (cv.status == "closed")
            cv.status = "open";
          // user_changed_number / user_changed_user_id: same contact, same history.
          if (!e.new_phone.empty())
            ct.phone = e.new_phone;
          if (!e.new_user_id.empty())
            ct.wa_user_id = e.new_user_id;
        }
        cv.updated_at = now;
        break;
      }
      case wa_event_kind::status:
      case wa_event_kind::reaction:
      case wa_event_kind::edit:
      case wa_event_kind::revoke: {
        auto id = resolve(message_id_for_wamid(e.target_wamid));
        if (auto m = msgs.find(id); m != msgs.end()) {
          if (apply_mutation(m->second, e, now))
            touch(id);
        } else {
          parked[id].push_back(e);
          park_add[id].push_back(park_encode(e).dump());
        }
        break;
      }
      case wa_event_kind::contact_seen:
        break;
      case wa_event_kind::preference:
        apply_preference(ct, e);
        break;
      case wa_event_kind::address_book: // the name the business gave the contact, or none
        if (e.content.is_object())
          ct.custom_name = e.content.value("name", std::string());
        break;
    }
  }
  if (ct.updated_at == 0) // a new contact: not updated since it was created
    ct.updated_at = ct.created_at != 0 ? ct.created_at : now;
  else if (ct.profile_name != ct_in.profile_name || ct.phone != ct_in.phone ||
           ct.wa_user_id != ct_in.wa_user_id || ct.username != ct_in.username ||
           ct.marketing_changed_at != ct_in.marketing_changed_at ||
           ct.custom_name != ct_in.custom_name)
    ct.updated_at = now;
  if (cv.updated_at == 0) // a stored conversation always has updated_at (see the index)
    cv.updated_at = now;
  if (!persisted) { // created by this change set: not updated since (its record keeps one time)
    cv.created_at = cv.updated_at;
    // Created by a preference, the business app's address book or its past chats alone: nothing
    // to answer, so not in the open inbox until the contact writes (a message reopens it).
    bool quiet_only = !events.empty();
    for (auto& e : events)
      quiet_only = quiet_only && (e.kind == wa_event_kind::preference ||
                                  e.kind == wa_event_kind::address_book || e.origin == "history");
    if (quiet_only)
      cv.status = "closed";
  }

  auto& cs = out.changes;
  cs.workspace_id = workspace_id;
  if (!persisted && erased != 0 && erased == events.size()) {
    out.nothing = true;
    return out;
  }
  for (auto& [id, score] : added) {
    cs.new_messages.push_back(id);
    if (targets.assumed)
      cs.unlinked.push_back(id);
  }
  for (auto& id : changed)
    cs.messages.emplace_back(id, std::move(msgs[id]));
  cs.timeline_of = cv.id;
  cs.timeline = added;
  cs.unpark.assign(park_del.begin(), park_del.end());
  for (auto& [id, items] : park_add)
    cs.park.emplace_back(id, items);
  cs.conv = cv;
  cs.ct = ct;
  // The events of this change, committed with it: none for history alone.
  std::set<std::string> created;
  for (auto& [id, score] : added) { // in arrival order
    created.insert(id);
    if (loud.count(id)) {
      cs.events.push_back(message_event("message.created", id));
      cs.events.back().bot = for_bot.count(id) != 0;
    }
  }
  for (auto& id : changed)
    if (!created.count(id) && loud.count(id))
      cs.events.push_back(message_event("message.updated", id));
  if (live)
    cs.events.push_back(
        conversation_event(persisted ? "conversation.updated" : "conversation.created", cv));
  return out;
}

} // namespace inboxd
