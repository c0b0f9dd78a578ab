// End-to-end: every case of every fixture in ../shared/fixtures (Meta and Kapso) is posted,
// signed, to the real inboxd and read back through the REST API.

#include <filesystem>
#include <set>

#include "messages/ids.hpp"
#include "tests/e2e/e2e_test.hpp"

namespace inboxd::test {
namespace {

using json = nlohmann::json;

class fixtures_test : public e2e_test {
protected:
  json messages_of_phone(const std::string& phone) {
    auto c = client().get("/api/contacts/by-phone?phone=" + phone, api_headers());
    EXPECT_EQ(c.status, 200) << phone << ": " << c.body;
    if (c.status != 200)
      return json::array();
    auto list = api_get("/api/conversations?status=all&limit=100&q=" + phone);
    for (auto& cv : list.value("conversations", json::array()))
      if (cv["contact"]["phone"] == phone) {
        auto m = api_get("/api/conversations/" + cv["id"].get<std::string>() +
                         "/messages?limit=100");
        return m.value("messages", json::array());
      }
    ADD_FAILURE() << "no conversation for " << phone << ": " << list.dump();
    return json::array();
  }

  static const json* find_wamid(const json& messages, const std::string& wamid) {
    for (auto& m : messages)
      if (m.value("waMessageId", "") == wamid)
        return &m;
    return nullptr;
  }

  // Every phone_number_id of the fixtures maps to this test's workspace.
  static json to_our_number(json body) {
    body = replace_strings(std::move(body), "<BUSINESS_PHONE_NUMBER_ID>", kPhoneNumberId);
    return replace_strings(std::move(body), "106540352242922", kPhoneNumberId);
  }
};

std::string digits(const std::string& s) {
  return normalize_phone(s);
}

TEST_F(fixtures_test, every_meta_fixture_case_is_stored_and_read_back) {
  size_t checked = 0;
  for (auto& file : std::filesystem::directory_iterator(std::string(INBOXD_FIXTURES_DIR) + "/meta")) {
    if (file.path().extension() != ".json")
      continue;
    auto rel = "meta/" + file.path().filename().string();
    auto fixture = load_fixture(rel);
    for (auto& [name, original] : fixture.items()) {
      SCOPED_TRACE(rel + " / " + name);
      auto body = to_our_number(with_unique_wamids(original));
      auto r = post_meta(body.dump());
      ASSERT_EQ(r.status, 200) << r.body;
      for (auto& entry : body["entry"])
        for (auto& change : entry["changes"]) {
          auto& value = change["value"];
          auto field = change.value("field", "");
          std::string contact_phone;
          if (value.contains("contacts") && !value["contacts"].empty())
            contact_phone = value["contacts"][0].value("wa_id", "");
          if (field == "messages" && value.contains("messages")) {
            for (auto& m : value["messages"]) {
              auto type = m.value("type", "unsupported");
              if (type == "reaction" || type == "edit" || type == "revoke")
                continue; // applied to their target message: see semantics_test
              auto phone = digits(m.value("from", ""));
              if (phone.empty())
                phone = contact_phone;
              if (type == "system" && m["system"].value("type", "") == "user_changed_number")
                phone = m["system"].value("wa_id", phone);
              auto msgs = messages_of_phone(phone);
              auto stored = find_wamid(msgs, m["id"]);
              ASSERT_NE(stored, nullptr) << "message " << m["id"] << " not in " << msgs.dump();
              EXPECT_EQ((*stored)["type"], type) << stored->dump();
              EXPECT_EQ((*stored)["direction"], "inbound");
              EXPECT_EQ((*stored)["status"], "received");
              EXPECT_EQ((*stored)["timestamp"],
                        std::stoll(m["timestamp"].get<std::string>()) * 1000);
              if (type == "text") {
                EXPECT_EQ((*stored)["text"], m["text"]["body"]);
              }
              if (type == "image" || type == "video" || type == "document" || type == "sticker" ||
                  type == "audio") {
                ASSERT_TRUE(stored->contains("media")) << stored->dump();
                EXPECT_EQ((*stored)["media"]["id"], m[type]["id"]);
              }
              if (type == "location") {
                EXPECT_EQ((*stored)["location"]["latitude"], m["location"]["latitude"]);
              }
              if (type == "interactive") {
                EXPECT_TRUE(stored->contains("interactive") || stored->contains("error"))
                  << stored->dump();
              }
              if (m.contains("context") && m["context"].contains("id")) {
                EXPECT_EQ((*stored)["replyTo"], message_id_for_wamid(m["context"]["id"].get<std::string>()));
              }
              ++checked;
            }
          }
          if (field == "user_preferences") {
            for (auto& p : value["user_preferences"]) {
              auto c = api_get("/api/contacts/by-phone?phone=" + digits(p["wa_id"]));
              ASSERT_TRUE(c.contains("contact")) << c.dump();
              EXPECT_EQ(c["contact"]["marketingOptOut"], p["value"] == "stop") << c.dump();
              ++checked;
            }
          }
          if (field == "smb_message_echoes") {
            for (auto& m : value["message_echoes"]) {
              auto type = m.value("type", "");
              if (type == "edit" || type == "revoke")
                continue;
              auto msgs = messages_of_phone(contact_phone);
              auto stored = find_wamid(msgs, m["id"]);
              ASSERT_NE(stored, nullptr) << msgs.dump();
              EXPECT_EQ((*stored)["direction"], "outbound");
              EXPECT_EQ((*stored)["origin"], "business_app");
              EXPECT_EQ((*stored)["text"], m["text"]["body"]);
              ++checked;
            }
          }
        }
    }
  }
  EXPECT_GE(checked, 25u);
}

TEST_F(fixtures_test, every_kapso_fixture_case_is_stored_and_read_back) {
  auto cases = load_fixture("kapso/events_v2.json");
  // Received and sent/statuses in the order Kapso would deliver them.
  for (auto name : {"conversation_created", "message_received_text", "message_received_image",
                    "message_received_batch", "message_sent", "message_delivered",
                    "message_read", "message_failed", "conversation_ended"}) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(cases.contains(name));
    auto& c = cases[name];
    auto body = c["body"].dump();
    header_list h;
    for (auto& [k, v] : c["headers"].items())
      h.emplace_back(k, v.get<std::string>());
    h.emplace_back("X-Webhook-Signature", kapso_signature(kKapsoSecret, body));
    auto r = client().request("POST", "/api/webhook/kapso", body, h);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  auto msgs = messages_of_phone("5511987654321");
  auto in1 = find_wamid(msgs, "wamid.KAPSO-IN-0001");
  ASSERT_NE(in1, nullptr) << msgs.dump();
  EXPECT_EQ((*in1)["text"], "Oi! Vocês entregam no sábado?");
  EXPECT_EQ((*in1)["direction"], "inbound");
  auto in2 = find_wamid(msgs, "wamid.KAPSO-IN-0002");
  ASSERT_NE(in2, nullptr);
  EXPECT_EQ((*in2)["type"], "image");
  auto out = find_wamid(msgs, "wamid.KAPSO-OUT-0001");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ((*out)["direction"], "outbound");
  // sent < delivered < read, then failed: failed never moves a read message backwards.
  EXPECT_EQ((*out)["status"], "read") << out->dump();
  EXPECT_EQ(msgs.size(), 3u) << "the batch redelivered both inbound messages: " << msgs.dump();
  auto contact = api_get("/api/contacts/by-phone?phone=5511987654321");
  EXPECT_EQ(contact["contact"]["name"], "Ana Souza");
}

TEST_F(fixtures_test, kapso_failed_status_records_the_error) {
  auto c = fixture_case("kapso/events_v2.json", "message_failed");
  auto body = c["body"].dump();
  header_list h{{"Content-Type", "application/json"},
                {"X-Webhook-Event", "whatsapp.message.failed"},
                {"X-Webhook-Signature", "sha256=" + kapso_signature(kKapsoSecret, body)}};
  auto r = client().request("POST", "/api/webhook/kapso", body, h);
  ASSERT_EQ(r.status, 200) << r.body;
  auto msgs = messages_of_phone("5511987654321");
  auto out = find_wamid(msgs, "wamid.KAPSO-OUT-0001");
  ASSERT_NE(out, nullptr) << msgs.dump();
  EXPECT_EQ((*out)["status"], "failed");
  EXPECT_EQ((*out)["error"]["code"], 131047) << out->dump();
}

} // namespace
} // namespace inboxd::test
