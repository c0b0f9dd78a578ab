// Unit tests: actors/ingest_apply (events -> conversation, contact and change set), no Redis.

#include "actors/ingest_apply.hpp"

#include <map>

#include <gtest/gtest.h>

#include "actors/event_log.hpp"
#include "actors/message_mutations.hpp"
#include "messages/ids.hpp"

using namespace inboxd;

namespace {

wa_event text(const std::string& wamid, int64_t ts, const std::string& body = "hi") {
  wa_event e;
  e.kind = wa_event_kind::message;
  e.contact_phone = "5511";
  e.wamid = wamid;
  e.timestamp_ms = ts;
  e.content = {{"type", "text"}, {"text", body}};
  return e;
}

wa_event status(const std::string& target, const std::string& s) {
  wa_event e;
  e.kind = wa_event_kind::status;
  e.target_wamid = target;
  e.status = s;
  e.timestamp_ms = 5000;
  return e;
}

struct fixture {
  conversation cv;
  contact ct;
  fixture() {
    cv.id = "cv_1";
    cv.contact_id = "ct_1";
    cv.status = "closed";
    ct.id = "ct_1";
    ct.phone = "5511";
  }
};

} // namespace

TEST(ingest_apply, new_messages_update_the_summary_and_assume_nothing_is_stored) {
  fixture f;
  ingest_targets t;
  t.assumed = true;
  auto out =
      apply_ingest("W", f.cv, f.ct, false,
                   {text("wamid.A", 2000, "first"), text("wamid.B", 1000, "older")}, t, 9000);
  auto a = message_id_for_wamid("wamid.A"), b = message_id_for_wamid("wamid.B");
  EXPECT_EQ(out.conv.unread_count, 2);
  EXPECT_EQ(out.conv.status, "open"); // a closed conversation reopens
  EXPECT_EQ(out.conv.seq, 2u);
  EXPECT_EQ(out.conv.last_message_at, 2000); // the newest by WhatsApp time, not arrival
  EXPECT_EQ(out.conv.last_message_preview, "first");
  EXPECT_EQ(out.conv.last_inbound_at, 2000);
  EXPECT_EQ(out.conv.updated_at, 9000);
  auto& cs = out.changes;
  EXPECT_EQ(cs.workspace_id, "W");
  EXPECT_EQ(cs.new_messages, (std::vector<std::string>{a, b}));
  EXPECT_EQ(cs.unlinked, cs.new_messages);
  ASSERT_EQ(cs.timeline.size(), 2u);
  EXPECT_EQ(cs.timeline[0], std::make_pair(a, int64_t(2000 * 1000 + 1)));
  EXPECT_EQ(cs.timeline[1], std::make_pair(b, int64_t(1000 * 1000 + 2)));
  EXPECT_EQ(cs.messages.size(), 2u);
  ASSERT_TRUE(cs.conv && cs.ct);
  ASSERT_EQ(cs.events.size(), 3u);
  EXPECT_EQ(cs.events[0].type, "message.created");
  EXPECT_EQ(cs.events[2].type, "conversation.created");
  EXPECT_EQ(cs.events[0].message_id, a);
  EXPECT_EQ(cs.events[2].conversation_id, out.conv.id);
  EXPECT_EQ(cs.events[2].contact_id, out.conv.contact_id);
  EXPECT_TRUE(cs.events[2].message_id.empty());
}

TEST(ingest_apply, a_stored_message_is_a_duplicate_and_changes_nothing) {
  fixture f;
  ingest_targets t;
  auto a = message_id_for_wamid("wamid.A");
  t.records[a] = {{"id", a}, {"status", "received"}};
  auto out = apply_ingest("W", f.cv, f.ct, true, {text("wamid.A", 2000)}, t, 9000);
  EXPECT_EQ(out.duplicates, 1u);
  EXPECT_EQ(out.conv.unread_count, 0);
  EXPECT_TRUE(out.changes.new_messages.empty());
  EXPECT_TRUE(out.changes.unlinked.empty()); // read first: nothing assumed
  EXPECT_TRUE(out.changes.messages.empty());
  ASSERT_EQ(out.changes.events.size(), 1u);
  EXPECT_EQ(out.changes.events[0].type, "conversation.updated");
}

TEST(ingest_apply, a_status_for_an_unseen_message_is_parked_then_applied_when_it_arrives) {
  fixture f;
  auto a = message_id_for_wamid("wamid.A");
  auto parked = apply_ingest("W", f.cv, f.ct, true, {status("wamid.A", "delivered")}, {}, 9000);
  ASSERT_EQ(parked.changes.park.size(), 1u);
  EXPECT_EQ(parked.changes.park[0].first, a);
  EXPECT_TRUE(parked.changes.messages.empty());

  // The message arrives later (an echo of a business-app send), with the status parked.
  wa_event echo = text("wamid.A", 1000);
  echo.kind = wa_event_kind::echo;
  echo.status = "sent";
  ingest_targets t;
  wa_event e;
  ASSERT_TRUE(park_decode(nlohmann::json::parse(parked.changes.park[0].second[0]), e));
  t.parked[a].push_back(e);
  auto out = apply_ingest("W", f.cv, f.ct, true, {echo}, t, 9500);
  EXPECT_EQ(out.changes.unpark, std::vector<std::string>{a});
  ASSERT_EQ(out.changes.messages.size(), 1u);
  EXPECT_EQ(out.changes.messages[0].second["status"], "delivered");
  EXPECT_EQ(out.conv.unread_count, 0); // an echo is not unread
}

TEST(ingest_apply, a_status_for_a_sent_message_follows_its_alias) {
  fixture f;
  auto derived = message_id_for_wamid("wamid.S");
  ingest_targets t;
  t.aliases[derived] = "msg_own";
  t.records["msg_own"] = {{"id", "msg_own"}, {"status", "sent"}, {"direction", "outbound"}};
  auto out = apply_ingest("W", f.cv, f.ct, true, {status("wamid.S", "read")}, t, 9000);
  ASSERT_EQ(out.changes.messages.size(), 1u);
  EXPECT_EQ(out.changes.messages[0].first, "msg_own");
  EXPECT_EQ(out.changes.messages[0].second["status"], "read");
  EXPECT_EQ(out.changes.events[0].type, "message.updated");
}

TEST(ingest_apply, a_number_change_keeps_the_contact_with_its_new_names) {
  fixture f;
  auto e = text("wamid.N", 1000);
  e.new_phone = "5599";
  e.new_user_id = "BR.2";
  auto out = apply_ingest("W", f.cv, f.ct, true, {e}, {}, 9000);
  EXPECT_EQ(out.ct.id, f.ct.id);
  EXPECT_EQ(out.ct.phone, "5599");
  EXPECT_EQ(out.ct.wa_user_id, "BR.2");
  EXPECT_EQ(out.ct.updated_at, 9000);
  ASSERT_TRUE(out.changes.ct);
  EXPECT_EQ(out.changes.ct->phone, "5599");
}

TEST(ingest_apply, the_names_an_event_carries_are_stored_on_the_contact) {
  fixture f;
  auto a = text("wamid.U1", 1000);
  a.contact_user_id = "BR.1";
  a.contact_username = "ana.doces";
  auto b = status("wamid.U0", "read");
  b.contact_phone.clear(); // a status addressed by user id only: the phone stays
  b.contact_user_id = "BR.1";
  auto out = apply_ingest("W", f.cv, f.ct, true, {a, b}, {}, 9000);
  EXPECT_EQ(out.ct.phone, "5511");
  EXPECT_EQ(out.ct.wa_user_id, "BR.1");
  EXPECT_EQ(out.ct.username, "ana.doces");
  ASSERT_TRUE(out.changes.ct);
  EXPECT_EQ(out.changes.ct->wa_user_id, "BR.1");
  // A later username replaces the earlier one; an event without names changes none.
  auto c = text("wamid.U2", 2000);
  c.contact_phone.clear();
  c.contact_username = "ana.bolos";
  auto again = apply_ingest("W", out.conv, out.ct, true, {c}, {}, 9500);
  EXPECT_EQ(again.ct.username, "ana.bolos");
  EXPECT_EQ(again.ct.phone, "5511");
  EXPECT_EQ(again.ct.wa_user_id, "BR.1");
}

TEST(ingest_apply, only_messages_may_skip_the_read) {
  EXPECT_TRUE(can_assume_targets({text("wamid.A", 1)}));
  EXPECT_FALSE(can_assume_targets({text("wamid.A", 1), status("wamid.B", "read")}));
  EXPECT_EQ(
      target_ids({text("wamid.A", 1), status("wamid.A", "read"), status("wamid.B", "read")}),
      (std::vector<std::string>{message_id_for_wamid("wamid.A"), message_id_for_wamid("wamid.B")}));
}


// A conversation created by this change set is created when it is committed: its record then
// holds one time (updatedAt is left out while equal to createdAt). A stored one keeps its own.
TEST(ingest_apply, a_new_conversation_is_created_at_its_first_change_set) {
  fixture f;
  f.cv.created_at = 4000; // when the workspace decided it
  ingest_targets t;
  t.assumed = true;
  auto fresh = apply_ingest("W", f.cv, f.ct, false, {text("wamid.A", 2000)}, t, 9000);
  EXPECT_EQ(fresh.conv.created_at, 9000);
  EXPECT_EQ(fresh.conv.updated_at, 9000);
  f.cv.updated_at = 5000;
  auto stored = apply_ingest("W", f.cv, f.ct, true, {text("wamid.B", 2000)}, t, 9000);
  EXPECT_EQ(stored.conv.created_at, 4000);
  EXPECT_EQ(stored.conv.updated_at, 9000);
}

namespace {
wa_event preference(const std::string& value, int64_t ts) {
  wa_event e;
  e.kind = wa_event_kind::preference;
  e.contact_phone = "5511";
  e.timestamp_ms = ts;
  e.content = {{"category", "marketing_messages"}, {"value", value}};
  return e;
}
} // namespace

TEST(ingest_apply, a_marketing_stop_opts_the_contact_out_until_a_later_resume) {
  fixture f;
  f.cv.updated_at = f.ct.updated_at = f.ct.created_at = 100;
  ingest_targets none;
  auto out = apply_ingest("W", f.cv, f.ct, true, {preference("stop", 2000)}, none, 9000);
  EXPECT_EQ(out.ct.marketing_opt_out_at, 2000);
  EXPECT_EQ(out.ct.marketing_changed_at, 2000);
  EXPECT_EQ(out.ct.updated_at, 9000);
  EXPECT_TRUE(out.changes.new_messages.empty());
  EXPECT_EQ(out.conv.unread_count, 0) << "a preference is not a message";
  EXPECT_EQ(out.conv.last_inbound_at, 0) << "nor does it open the reply window";

  // A second stop keeps the first opt-out time; a resume delivered late (older) changes nothing.
  auto again = apply_ingest("W", out.conv, out.ct, true,
                            {preference("stop", 3000), preference("resume", 1500)}, none, 9500);
  EXPECT_EQ(again.ct.marketing_opt_out_at, 2000);
  EXPECT_EQ(again.ct.marketing_changed_at, 3000);

  auto resumed =
      apply_ingest("W", again.conv, again.ct, true, {preference("resume", 4000)}, none, 9900);
  EXPECT_EQ(resumed.ct.marketing_opt_out_at, 0);
  EXPECT_EQ(resumed.ct.marketing_changed_at, 4000);
  auto signup = apply_ingest("W", resumed.conv, resumed.ct, true,
                             {preference("stop", 5000), preference("signup", 6000)}, none, 9990);
  EXPECT_EQ(signup.ct.marketing_opt_out_at, 0);
  EXPECT_TRUE(can_assume_targets({preference("stop", 1)}));
  fixture g;
  g.cv.status = "open";
  auto fresh = apply_ingest("W", g.cv, g.ct, false, {preference("stop", 7000)}, none, 9999);
  EXPECT_EQ(fresh.conv.status, "closed") << "created by a preference: not in the open inbox";
  EXPECT_EQ(fresh.ct.marketing_opt_out_at, 7000);
  EXPECT_TRUE(target_ids({preference("stop", 1)}).empty());
}

namespace {
wa_event past(wa_event e, const std::string& status = "") {
  e.origin = "history";
  e.status = status;
  return e;
}
} // namespace

TEST(ingest_apply, history_is_stored_in_order_without_unread_window_reopening_or_events) {
  fixture f;
  f.cv.status = "open";
  f.cv.unread_count = 3;
  f.cv.last_inbound_at = 5000;
  f.cv.updated_at = f.ct.updated_at = f.ct.created_at = 100;
  wa_event reply = past(text("wamid.H2", 2000, "ours"), "delivered");
  reply.kind = wa_event_kind::echo;
  ingest_targets t;
  t.assumed = true;
  auto out = apply_ingest("W", f.cv, f.ct, true,
                          {past(text("wamid.H1", 1000, "theirs"), "read"), reply,
                           past(text("wamid.H3", 7000, "unread one"))},
                          t, 9000);
  EXPECT_EQ(out.conv.unread_count, 3) << "history changes no unread count";
  EXPECT_EQ(out.conv.last_inbound_at, 5000) << "nor the reply window";
  EXPECT_EQ(out.conv.status, "open");
  EXPECT_EQ(out.conv.last_message_at, 7000) << "its newest message is the latest";
  ASSERT_EQ(out.changes.timeline.size(), 3u);
  EXPECT_LT(out.changes.timeline[0].second, out.changes.timeline[1].second);
  EXPECT_TRUE(out.changes.events.empty()) << "no live events for history";
  ASSERT_EQ(out.changes.messages.size(), 3u);
  for (auto& [id, rec] : out.changes.messages) {
    EXPECT_EQ(rec["origin"], "history") << rec.dump();
    if (id == message_id_for_wamid("wamid.H1")) {
      EXPECT_EQ(rec["status"], "read") << "the business app had read it";
    } else if (id == message_id_for_wamid("wamid.H2")) {
      EXPECT_EQ(rec["direction"], "outbound");
      EXPECT_EQ(rec["status"], "delivered");
    } else {
      EXPECT_EQ(rec["status"], "received");
    }
  }

  // A conversation created by history alone is closed until the contact writes.
  fixture g;
  g.cv.status = "open";
  auto fresh = apply_ingest("W", g.cv, g.ct, false, {past(text("wamid.H4", 1000))}, t, 9000);
  EXPECT_EQ(fresh.conv.status, "closed");
  EXPECT_EQ(fresh.conv.unread_count, 0);
  EXPECT_TRUE(fresh.changes.events.empty());
  auto writes = apply_ingest("W", fresh.conv, fresh.ct, true, {text("wamid.L1", 8000)}, t, 9500);
  EXPECT_EQ(writes.conv.status, "open");
  EXPECT_EQ(writes.conv.unread_count, 1);
  EXPECT_EQ(writes.changes.events.size(), 2u) << "live traffic has its events";
}

TEST(ingest_apply, a_history_media_placeholder_takes_the_media_described_later) {
  fixture f;
  f.cv.updated_at = f.ct.updated_at = f.ct.created_at = 100;
  wa_event placeholder = past(text("wamid.M", 1000));
  placeholder.content = {{"type", "media_placeholder"}, {"text", ""}};
  ingest_targets t;
  t.assumed = true;
  auto first = apply_ingest("W", f.cv, f.ct, true, {placeholder}, t, 9000);
  ASSERT_EQ(first.changes.messages.size(), 1u);

  wa_event media = past(text("wamid.M", 1000));
  media.content = {{"type", "image"},
                   {"text", "Black Prince"},
                   {"media", {{"id", "2423"}, {"mimeType", "image/jpeg"}}}};
  ingest_targets stored;
  stored.records[message_id_for_wamid("wamid.M")] = first.changes.messages[0].second;
  auto filled = apply_ingest("W", first.conv, first.ct, true, {media}, stored, 9100);
  EXPECT_EQ(filled.duplicates, 0u);
  ASSERT_EQ(filled.changes.messages.size(), 1u);
  auto& rec = filled.changes.messages[0].second;
  EXPECT_EQ(rec["type"], "image");
  EXPECT_EQ(rec["media"]["id"], "2423");
  EXPECT_EQ(rec["text"], "Black Prince");
  EXPECT_EQ(rec["origin"], "history");
  EXPECT_TRUE(filled.changes.new_messages.empty()) << "the same message, not a new one";

  // Once filled, the same description again is a duplicate.
  stored.records[message_id_for_wamid("wamid.M")] = rec;
  auto again = apply_ingest("W", filled.conv, filled.ct, true, {media}, stored, 9200);
  EXPECT_EQ(again.duplicates, 1u);
  EXPECT_TRUE(again.changes.messages.empty());
}

TEST(ingest_apply, the_business_app_address_book_names_the_contact_until_removed) {
  fixture f;
  f.cv.updated_at = f.ct.updated_at = f.ct.created_at = 100;
  f.ct.profile_name = "maria";
  wa_event add;
  add.kind = wa_event_kind::address_book;
  add.contact_phone = "5511";
  add.content = {{"name", "Maria Souza (bakery)"}};
  ingest_targets none;
  auto named = apply_ingest("W", f.cv, f.ct, true, {add}, none, 9000);
  EXPECT_EQ(named.ct.display_name(), "Maria Souza (bakery)");
  EXPECT_EQ(named.ct.updated_at, 9000);
  EXPECT_EQ(named.conv.unread_count, 0);
  EXPECT_TRUE(named.changes.new_messages.empty());
  EXPECT_TRUE(can_assume_targets({add}));
  EXPECT_TRUE(target_ids({add}).empty());
  wa_event remove = add;
  remove.content = {{"name", ""}};
  auto removed = apply_ingest("W", named.conv, named.ct, true, {remove}, none, 9100);
  EXPECT_EQ(removed.ct.display_name(), "maria") << "back to the profile name";
  fixture g;
  g.cv.status = "open";
  EXPECT_EQ(apply_ingest("W", g.cv, g.ct, false, {add}, none, 9000).conv.status, "closed");
}

TEST(ingest_apply, a_message_with_media_queues_its_download_in_the_same_change_set) {
  fixture f;
  constexpr int64_t day = 24LL * 3600 * 1000;
  auto now = 30 * day;
  auto image = text("wamid.I", now - 1000);
  image.content = {
      {"type", "image"}, {"text", ""}, {"media", {{"id", "777"}, {"mimeType", "image/jpeg"}}}};
  auto linked = text("wamid.K", now - 1000);
  linked.content = {{"type", "document"},
                    {"text", ""},
                    {"media", {{"id", "888"}, {"url", "https://media.kapso.ai/888.pdf"}}}};
  auto old = text("wamid.O", now - 8 * day); // past Meta's 7 days
  old.content = {{"type", "video"}, {"text", ""}, {"media", {{"id", "999"}}}};
  auto bad = text("wamid.B", now - 1000); // nothing to fetch it by
  bad.content = {{"type", "audio"}, {"text", ""}, {"media", {{"id", "../x"}}}};
  ingest_targets t;
  t.assumed = true;
  auto out =
      apply_ingest("W", f.cv, f.ct, false, {image, linked, old, bad, text("wamid.T", now)}, t, now);
  auto& jobs = out.changes.media.add;
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].id, message_id_for_wamid("wamid.I"));
  EXPECT_EQ(jobs[0].kind, "media");
  EXPECT_EQ(jobs[0].conversation_id, "cv_1");
  EXPECT_EQ(jobs[0].payload["mediaId"], "777");
  EXPECT_EQ(jobs[0].payload["mimeType"], "image/jpeg");
  EXPECT_EQ(jobs[0].payload["expiresAt"], now - 1000 + 7 * day);
  EXPECT_EQ(jobs[0].due_ms, now);
  EXPECT_EQ(jobs[1].payload["url"], "https://media.kapso.ai/888.pdf");
  std::map<std::string, nlohmann::json> recs(out.changes.messages.begin(),
                                             out.changes.messages.end());
  EXPECT_EQ(recs[message_id_for_wamid("wamid.I")]["media"]["state"], "pending");
  EXPECT_EQ(recs[message_id_for_wamid("wamid.O")]["media"]["state"], "expired");
  EXPECT_FALSE(recs[message_id_for_wamid("wamid.B")]["media"].contains("state"));
  EXPECT_FALSE(recs[message_id_for_wamid("wamid.T")].contains("media"));

  // A redelivery is a duplicate and queues nothing again.
  ingest_targets stored;
  stored.records[message_id_for_wamid("wamid.I")] = recs[message_id_for_wamid("wamid.I")];
  auto again = apply_ingest("W", out.conv, out.ct, true, {image}, stored, now + 1);
  EXPECT_EQ(again.duplicates, 1u);
  EXPECT_TRUE(again.changes.media.add.empty());
}

TEST(ingest_apply, a_download_end_is_recorded_once_on_a_pending_media) {
  nlohmann::json rec = {{"type", "image"}, {"media", {{"id", "1"}, {"state", "pending"}}}};
  auto sha = std::string(64, 'b');
  EXPECT_TRUE(apply_media_result(rec, "stored", sha, 42, "image/png", ""));
  EXPECT_EQ(rec["media"]["state"], "stored");
  EXPECT_EQ(rec["media"]["sha256"], sha);
  EXPECT_EQ(rec["media"]["size"], 42);
  EXPECT_EQ(rec["media"]["mimeType"], "image/png"); // the message named none
  EXPECT_FALSE(apply_media_result(rec, "expired", "", 0, "", "late")) << "no longer pending";
  nlohmann::json failing = {{"media", {{"state", "pending"}, {"mimeType", "video/mp4"}}}};
  EXPECT_TRUE(apply_media_result(failing, "failed", "", 0, "", "too large: 9 bytes"));
  EXPECT_EQ(failing["media"]["error"], "too large: 9 bytes");
  EXPECT_EQ(failing["media"]["mimeType"], "video/mp4");
  nlohmann::json none = {{"type", "text"}};
  EXPECT_FALSE(apply_media_result(none, "stored", sha, 1, "", ""));
}
