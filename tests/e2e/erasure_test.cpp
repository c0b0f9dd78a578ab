// End-to-end: DELETE /api/contacts/{id} against the real binary, a real redis-server, a media
// store on disk and a fake Graph API (tests/e2e/media_fixture.hpp). A contact with inbound texts
// and media, a reply sent through the Cloud API and its status, events, and webhook deliveries
// is erased next to a contact that stays; then every Redis key (SCAN, with each value read) and
// every file of the media store is searched for anything of the erased contact, Meta's
// redeliveries are posted again, and the contact writes anew.

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "http/jwt.hpp"
#include "messages/crypto.hpp"
#include "tests/e2e/media_fixture.hpp"
#include "tests/support/sse_client.hpp"

namespace inboxd::test {
namespace {

constexpr const char* kErased = "972987654321"; // the fixtures' sender
constexpr const char* kKept = "15550001111";
constexpr const char* kJwtSecret = "e2e-erasure-jwt-secret";

// A user token (HS256) for `user`, valid for an hour.
std::string token_for(const std::string& user) {
  json head = {{"alg", "HS256"}, {"typ", "JWT"}};
  json claims = {{"sub", user}, {"exp", now_s() + 3600}, {"role", "authenticated"}};
  auto signed_part = base64url_encode(head.dump()) + "." + base64url_encode(claims.dump());
  return signed_part + "." + base64url_encode(hmac_sha256_raw(kJwtSecret, signed_part));
}

// Every key of the Redis database: "KEY <name> <type> <ttl>", then one line per value (string,
// hash fields and values, list, set and zset members, stream ids, fields and values).
constexpr const char* kDumpScript = R"LUA(
local out = {}
local cursor = '0'
repeat
  local r = redis.call('SCAN', cursor, 'COUNT', 1000)
  cursor = r[1]
  for _, k in ipairs(r[2]) do
    local t = redis.call('TYPE', k).ok
    out[#out + 1] = 'KEY ' .. k .. ' ' .. t .. ' ' .. redis.call('TTL', k)
    local values = {}
    if t == 'string' then
      values = {redis.call('GET', k)}
    elseif t == 'hash' then
      values = redis.call('HGETALL', k)
    elseif t == 'list' then
      values = redis.call('LRANGE', k, 0, -1)
    elseif t == 'set' then
      values = redis.call('SMEMBERS', k)
    elseif t == 'zset' then
      values = redis.call('ZRANGE', k, 0, -1)
    elseif t == 'stream' then
      for _, e in ipairs(redis.call('XRANGE', k, '-', '+')) do
        values[#values + 1] = e[1]
        for _, f in ipairs(e[2]) do
          values[#values + 1] = f
        end
      end
    end
    for _, v in ipairs(values) do
      out[#out + 1] = v
    end
  end
until cursor == '0'
return out
)LUA";

// A Meta webhook body from `phone` (the fixture's sender otherwise), with its profile and
// user ids changed along.
json from_contact(json body, const std::string& phone) {
  if (phone == kErased)
    return body;
  body = replace_strings(std::move(body), kErased, phone);
  body = replace_strings(std::move(body), "Test Name", "Other Person");
  return replace_strings(std::move(body), "US.13491208655302741918", "US.99990000111122223333");
}

class erasure_test : public media_test {
protected:
  inboxd_process::env_map extra_env() const override {
    auto env = media_test::extra_env();
    env["INBOXD_WEBHOOK_ALLOW_PRIVATE"] = "1";
    env["INBOXD_JWT_SECRET"] = kJwtSecret;
    return env;
  }

  // Redis, every key and value, one per line.
  std::vector<std::string> dump_redis() {
    auto file = media_dir_.substr(0, media_dir_.rfind('/')) + "/dump.lua";
    std::ofstream(file) << kDumpScript;
    std::istringstream in(redis_->cli("--eval " + file));
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
      lines.push_back(line);
    return lines;
  }

  // Where Redis holds any of `needles`: "<key>: <line>" each. A gone mark (the key
  // {ws}:gone:<message id>, "1", expiring within 8 days) is what erasure leaves on purpose.
  std::vector<std::string> traces(const std::vector<std::string>& needles, size_t* gone_marks) {
    std::vector<std::string> found;
    std::string key;
    bool gone = false;
    for (auto& line : dump_redis()) {
      if (line.rfind("KEY ", 0) == 0) {
        std::istringstream parts(line.substr(4));
        std::string type;
        int64_t ttl = 0;
        parts >> key >> type >> ttl;
        gone = key.find("}:gone:") != std::string::npos;
        if (gone) {
          EXPECT_EQ(type, "string") << line;
          EXPECT_GT(ttl, 0) << line;
          EXPECT_LE(ttl, 8 * 24 * 3600) << line;
          if (gone_marks)
            ++*gone_marks;
          continue;
        }
      } else if (gone) {
        EXPECT_EQ(line, "1") << key;
        continue;
      }
      for (auto& n : needles)
        if (line.find(n) != std::string::npos)
          found.push_back(key + ": " + line.substr(0, 200) + " (holds " + n + ")");
    }
    return found;
  }

  // The media store's files (relative paths), tmp/ included.
  std::set<std::string> media_files_on_disk() {
    std::set<std::string> out;
    std::error_code ec;
    for (auto& e : std::filesystem::recursive_directory_iterator(media_dir_, ec))
      if (e.is_regular_file())
        out.insert(e.path().string().substr(media_dir_.size() + 1));
    return out;
  }

  // Posts an inbound message (a fixture case, with a fresh wamid) from `phone`; returns the body.
  json post_from(const std::string& phone, const std::string& kind,
                 const std::function<void(json&)>& edit) {
    auto body = from_contact(with_unique_wamids(fixture_case("meta/message.json", kind)), phone);
    auto& msg = body["entry"][0]["changes"][0]["value"]["messages"][0];
    msg["timestamp"] = std::to_string(now_s() - 5);
    edit(msg);
    EXPECT_EQ(post_meta(body).status, 200);
    return body;
  }
  json post_text(const std::string& phone, const std::string& text) {
    return post_from(phone, "text", [&](json& m) { m["text"]["body"] = text; });
  }
  json post_image(const std::string& phone, const std::string& media_id) {
    return post_from(phone, "image", [&](json& m) {
      m["image"]["id"] = media_id;
      m["image"].erase("url");
    });
  }

  std::string contact_id(const std::string& phone) {
    return api_get("/api/contacts/by-phone?phone=" + phone)["contact"]["id"].get<std::string>();
  }
  std::string conversation_of(const std::string& phone) {
    auto list = all_conversations();
    for (auto& c : list["conversations"])
      if (c["contact"]["phone"] == phone)
        return c["id"];
    return "";
  }

  http_response erase(const std::string& contact) {
    return client().request("DELETE", "/api/contacts/" + contact, "", api_headers());
  }
};

TEST_F(erasure_test, nothing_of_the_contact_remains_in_redis_or_on_disk) {
  auto stamp = std::to_string(now_s());
  auto shared = random_bytes(70000, 7);  // sent by both contacts: one file, kept
  auto own = random_bytes(90000, 8);     // only the erased contact's: removed
  auto kept_own = random_bytes(5000, 9); // only the kept contact's
  put_media("81" + stamp, {shared, "image/jpeg"});
  put_media("82" + stamp, {own, "image/jpeg"});
  put_media("83" + stamp, {shared, "image/jpeg"});
  put_media("84" + stamp, {kept_own, "image/jpeg"});

  // An outgoing webhook whose receiver keeps failing: its deliveries stay queued and logged.
  auto hook = client().post_json(
      "/api/webhooks",
      {{"url", "http://127.0.0.1:" + std::to_string(cdn_.port()) + "/hook"},
       {"events",
        {"message.created", "message.updated", "conversation.created", "conversation.updated"}}},
      api_headers());
  ASSERT_EQ(hook.status, 201) << hook.body;

  std::vector<json> erased_bodies;
  erased_bodies.push_back(post_text(kErased, "please forget me " + stamp));
  erased_bodies.push_back(post_image(kErased, "81" + stamp));
  erased_bodies.push_back(post_image(kErased, "82" + stamp));
  post_text(kKept, "keep me " + stamp);
  post_image(kKept, "83" + stamp);
  post_image(kKept, "84" + stamp);

  auto conv = conversation_of(kErased);
  auto kept_conv = conversation_of(kKept);
  ASSERT_FALSE(conv.empty());
  ASSERT_FALSE(kept_conv.empty());
  auto ct = contact_id(kErased);
  auto kept_ct = contact_id(kKept);

  // A reply through the Cloud API, and Meta's status for it.
  auto sent = client().post_json("/api/messages/send",
                                 {{"conversationId", conv},
                                  {"text", "we will, " + stamp},
                                  {"clientMessageId", "cmid-" + stamp}},
                                 api_headers());
  ASSERT_EQ(sent.status, 202) << sent.body;
  auto sent_id = sent.json()["message"]["id"].get<std::string>();
  std::string sent_wamid;
  for (int i = 0; i < 200 && sent_wamid.empty(); ++i) {
    auto m = message(sent_id);
    if (m.is_object() && m["waMessageId"].is_string())
      sent_wamid = m["waMessageId"];
    else
      std::this_thread::sleep_for(50ms);
  }
  ASSERT_FALSE(sent_wamid.empty()) << "the reply was not sent";
  auto status = fixture_case("meta/message_status.json", "sent");
  auto& s = status["entry"][0]["changes"][0]["value"]["statuses"][0];
  s["id"] = sent_wamid;
  s["status"] = "delivered";
  s["timestamp"] = std::to_string(now_s());
  status = from_contact(status, kErased);
  ASSERT_EQ(post_meta(status).status, 200);

  std::vector<std::string> erased_msgs, kept_msgs;
  for (auto& [id, out] : {std::pair{conv, &erased_msgs}, std::pair{kept_conv, &kept_msgs}}) {
    auto page = api_get("/api/conversations/" + id + "/messages?limit=100");
    for (auto& m : page["messages"])
      out->push_back(m["id"]);
  }
  ASSERT_EQ(erased_msgs.size(), 4u);
  ASSERT_EQ(kept_msgs.size(), 3u);
  size_t stored = 0; // the four images, downloaded
  for (auto* ids : {&erased_msgs, &kept_msgs})
    for (auto& m : *ids)
      if (message(m).contains("media")) {
        auto got = wait_media(m);
        ASSERT_EQ(got.status, 200) << m << ": " << got.body;
        ++stored;
      }
  ASSERT_EQ(stored, 4u);

  // What is the erased contact's: its ids, names, texts, wamids and its own file's hash.
  std::vector<std::string> needles = {kErased,
                                      "Test Name",
                                      "US.13491208655302741918",
                                      ct,
                                      conv,
                                      "please forget me " + stamp,
                                      "we will, " + stamp,
                                      "cmid-" + stamp,
                                      sent_wamid,
                                      sha256_hex(own)};
  for (auto& b : erased_bodies)
    needles.push_back(first_wamid(b));
  needles.insert(needles.end(), erased_msgs.begin(), erased_msgs.end());
  // The search can fail: before the erasure it finds every one of them.
  auto before = traces(needles, nullptr);
  for (auto& n : needles) {
    bool seen = false;
    for (auto& t : before)
      seen = seen || t.find("(holds " + n + ")") != std::string::npos;
    EXPECT_TRUE(seen) << n << " is not in Redis before the erasure";
  }
  auto files_before = media_files_on_disk();
  auto shared_file = ws_id_ + "/" + sha256_hex(shared).substr(0, 2) + "/" + sha256_hex(shared);
  auto own_file = ws_id_ + "/" + sha256_hex(own).substr(0, 2) + "/" + sha256_hex(own);
  EXPECT_TRUE(files_before.count(shared_file));
  EXPECT_TRUE(files_before.count(own_file));

  auto r = erase(ct);
  ASSERT_EQ(r.status, 204) << r.body;
  EXPECT_TRUE(r.body.empty());

  // Redis: nothing of the contact but the gone marks of its messages.
  size_t gone_marks = 0;
  for (auto& t : traces(needles, &gone_marks))
    ADD_FAILURE() << "left after the erasure: " << t;
  // Its 3 inbound messages and the reply (by its id and by the id its wamid derives).
  EXPECT_EQ(gone_marks, 5u);
  // Disk: the erased contact's own file goes (the media actor removes it shortly after).
  std::set<std::string> files;
  for (int i = 0; i < 200; ++i) {
    files = media_files_on_disk();
    if (!files.count(own_file))
      break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_FALSE(files.count(own_file)) << "the erased contact's own media file is still there";
  EXPECT_TRUE(files.count(shared_file)) << "the file the kept contact also holds was removed";
  EXPECT_EQ(files.size(), files_before.size() - 1);
  for (auto& f : files)
    EXPECT_EQ(f.rfind("tmp/", 0), std::string::npos) << f;

  // The API knows nothing of it; the other contact is whole.
  expect_error(client().request("PATCH", "/api/contacts/" + ct, R"({"name":"x"})",
                                {{"X-API-Key", api_key_}, {"Content-Type", "application/json"}}),
               404, "not_found");
  expect_error(client().get("/api/conversations/" + conv, api_headers()), 404, "not_found");
  expect_error(client().get("/api/contacts/by-phone?phone=" + std::string(kErased), api_headers()),
               404, "not_found");
  for (auto& m : erased_msgs)
    expect_error(get_media(m), 404, "not_found");
  auto list = all_conversations();
  ASSERT_EQ(list["total"], 1) << list.dump();
  EXPECT_EQ(list["conversations"][0]["id"], kept_conv);
  EXPECT_EQ(api_get("/api/conversations/" + kept_conv + "/messages")["messages"].size(), 3u);
  for (auto& m : kept_msgs) {
    if (message(m).contains("media")) {
      EXPECT_EQ(get_media(m).status, 200) << m;
    }
  }
  expect_error(erase(ct), 404, "not_found");
  expect_error(erase("ct_nobody"), 404, "not_found");

  // The event log keeps the other contact's events only.
  sse_client replay(inboxd_->port(), "/api/events",
                    {{"X-API-Key", api_key_}, {"Last-Event-ID", "0-0"}});
  ASSERT_EQ(replay.read_head(), 200);
  size_t replayed = 0;
  while (auto e = replay.next(1s)) {
    ++replayed;
    for (auto& n : needles)
      EXPECT_EQ(e->data.find(n), std::string::npos) << "a retained event holds " << n;
  }
  EXPECT_GE(replayed, 4u) << "the kept contact's events were lost";

  // Meta redelivers what it sent before: nothing of it comes back.
  for (auto& b : erased_bodies)
    EXPECT_EQ(post_meta(b).status, 200);
  EXPECT_EQ(post_meta(status).status, 200);
  EXPECT_EQ(all_conversations()["total"], 1);
  for (auto& t : traces(needles, nullptr))
    ADD_FAILURE() << "recreated by a redelivery: " << t;

  // A new message from the same number starts afresh: a contact with that message only.
  post_text(kErased, "hello again " + stamp);
  auto fresh = conversation_of(kErased);
  ASSERT_FALSE(fresh.empty());
  auto msgs = api_get("/api/conversations/" + fresh + "/messages")["messages"];
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0]["text"], "hello again " + stamp);
}

TEST_F(erasure_test, only_owners_and_admins_erase) {
  post_text(kErased, "hi");
  post_text(kKept, "hello");
  auto ct = contact_id(kErased);
  for (auto [user, role] : {std::pair{"agent-1", "agent"}, std::pair{"admin-1", "admin"}}) {
    auto r = client().request("PUT", "/api/admin/workspaces/" + ws_id_ + "/members/" + user,
                              json{{"role", role}}.dump(),
                              {{"Authorization", std::string("Bearer ") + kAdminToken},
                               {"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  auto as = [&](const std::string& user) {
    return header_list{{"Authorization", "Bearer " + token_for(user)}, {"X-Workspace-Id", ws_id_}};
  };
  auto path = "/api/contacts/" + ct;
  expect_error(client().request("DELETE", path, "", {}), 401, "unauthorized");
  expect_error(client().request("DELETE", path, "", as("agent-1")), 403, "forbidden");
  EXPECT_EQ(all_conversations()["total"], 2) << "nothing was erased";
  auto r = client().request("DELETE", path, "", as("admin-1"));
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(all_conversations()["total"], 1);
  expect_error(client().request("DELETE", path, "", as("admin-1")), 404, "not_found");
}

} // namespace
} // namespace inboxd::test
