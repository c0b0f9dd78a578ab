#include <functional>
#include <map>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "messages/ids.hpp"
#include "tests/whatsapp/fixture_files.hpp"
#include "whatsapp/webhook_decoder.hpp"

using namespace inboxd;
using nlohmann::json;

namespace {

constexpr const char* kPnid = "1122334455667";
constexpr const char* kContact = "972987654321";

using checker = std::function<void(const decoded_webhook&)>;

// One inbound message from the standard test contact.
const wa_event& single(const decoded_webhook& d, wa_event_kind kind = wa_event_kind::message) {
  EXPECT_EQ(d.events.size(), 1u);
  static const wa_event empty;
  if (d.events.size() != 1)
    return empty;
  const wa_event& e = d.events[0];
  EXPECT_EQ(e.kind, kind) << to_string(e.kind);
  return e;
}

void expect_std_inbound(const wa_event& e, const std::string& wamid, int64_t ts_seconds) {
  EXPECT_EQ(e.phone_number_id, kPnid);
  EXPECT_EQ(e.contact_phone, kContact);
  EXPECT_EQ(e.profile_name, "Test Name");
  EXPECT_EQ(e.wamid, wamid);
  EXPECT_EQ(e.timestamp_ms, ts_seconds * 1000);
  EXPECT_EQ(e.origin, "whatsapp");
  EXPECT_TRUE(e.target_wamid.empty());
  EXPECT_TRUE(e.new_phone.empty());
}

checker text_case(const std::string& body, int64_t ts) {
  return [=](const decoded_webhook& d) {
    const auto& e = single(d);
    expect_std_inbound(e, "wamid.xyzxyz", ts);
    EXPECT_EQ(e.content["type"], "text");
    EXPECT_EQ(e.content["text"], body);
  };
}

checker media_case(const std::string& type, int64_t ts, const json& media,
                   const std::string& text) {
  return [=](const decoded_webhook& d) {
    const auto& e = single(d);
    expect_std_inbound(e, "wamid.xyzxyz", ts);
    EXPECT_EQ(e.content["type"], type);
    EXPECT_EQ(e.content["media"], media);
    EXPECT_EQ(e.content["text"], text);
  };
}

checker status_case(const std::string& status, int64_t ts) {
  return [=](const decoded_webhook& d) {
    const auto& e = single(d, wa_event_kind::status);
    EXPECT_EQ(e.phone_number_id, kPnid);
    EXPECT_EQ(e.target_wamid, "wamid.xyzxyz");
    EXPECT_EQ(e.contact_phone, kContact);
    EXPECT_EQ(e.status, status);
    EXPECT_EQ(e.timestamp_ms, ts * 1000);
    EXPECT_FALSE(e.content.contains("error"));
  };
}

checker reaction_checker(const std::string& emoji) {
  return [=](const decoded_webhook& d) {
    const auto& e = single(d, wa_event_kind::reaction);
    EXPECT_EQ(e.contact_phone, kContact);
    EXPECT_EQ(e.wamid, "wamid.xyzxyz");
    EXPECT_EQ(e.target_wamid, "wamid.yzxyzx=");
    EXPECT_EQ(e.timestamp_ms, 1697044456000);
    EXPECT_EQ(e.content, json({{"emoji", emoji}}));
  };
}

std::map<std::string, checker> expectations() {
  std::map<std::string, checker> m;
  const json std_error = {{"code", 131051},
                          {"title", "Message type unknown"},
                          {"message", "Message type unknown"},
                          {"details", "Message type is currently not supported."}};

  // message.json
  m["message.json/text"] = text_case("Body Text", 1697043223);
  m["message.json/image"] =
      media_case("image", 1697043379,
                 {{"id", "65463453"}, {"mimeType", "image/jpeg"}, {"sha256", "4654+8g="}}, "");
  m["message.json/media_with_url"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    EXPECT_EQ(e.content["type"], "image");
    EXPECT_EQ(e.content["media"]["url"],
              "https://lookaside.fbsbx.com/whatsapp_business/attachments/"
              "?mid=65463453&source=webhook&ext=487r9re&hash=heiwchueowbcew-dnedcw");
    EXPECT_EQ(e.content["media"]["id"], "65463453");
  };
  m["message.json/video"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    expect_std_inbound(e, "wamid.xyzxyz", 1697044362);
    EXPECT_EQ(e.content["type"], "video");
    EXPECT_EQ(e.content["text"], "caption");
    EXPECT_EQ(e.content["media"],
              json({{"id", "765756756"},
                    {"mimeType", "video/mp4"},
                    {"sha256", "Jh+2ij6PzUv/J2y+grrtegr/ZMzRxkEPwc24Oyib4s03w9Jc="},
                    {"caption", "caption"}}));
    EXPECT_EQ(e.content["forwarded"], true);
    EXPECT_EQ(e.content["context"], json({{"forwarded", true}}));
    EXPECT_FALSE(e.content.contains("replyTo"));
  };
  m["message.json/document"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    expect_std_inbound(e, "wamid.xyzxyz", 1697043666);
    EXPECT_EQ(e.content["type"], "document");
    EXPECT_EQ(e.content["text"], "caption");
    EXPECT_EQ(e.content["media"]["filename"], "filename.pdf");
    EXPECT_EQ(e.content["media"]["mimeType"], "application/pdf");
    EXPECT_EQ(e.content["media"]["id"], "1234567890987654321");
  };
  m["message.json/audio"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    expect_std_inbound(e, "wamid.xyzxyz", 1697043509);
    EXPECT_EQ(e.content["type"], "audio");
    EXPECT_EQ(e.content["media"]["voice"], false);
    EXPECT_EQ(e.content["media"]["mimeType"], "audio/ogg; codecs=opus");
  };
  m["message.json/voice"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    expect_std_inbound(e, "wamid.xyzxyz", 1697043473);
    EXPECT_EQ(e.content["type"], "audio");
    EXPECT_EQ(e.content["media"]["voice"], true);
  };
  m["message.json/static_sticker"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    expect_std_inbound(e, "wamid.xyzxyz", 1697043760);
    EXPECT_EQ(e.content["type"], "sticker");
    EXPECT_EQ(e.content["media"]["animated"], false);
    EXPECT_EQ(e.content["media"]["mimeType"], "image/webp");
  };
  m["message.json/animated_sticker"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    expect_std_inbound(e, "wamid.xyzxyz", 1697043785);
    EXPECT_EQ(e.content["media"]["animated"], true);
  };
  m["message.json/reaction"] = reaction_checker("\xF0\x9F\x98\xAE"); // U+1F62E
  m["message.json/unreaction_empty"] = reaction_checker("");
  m["message.json/unreaction_no_emoji"] = reaction_checker("");
  m["message.json/current_location"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    expect_std_inbound(e, "wamid.xyzxyz", 1697044557);
    EXPECT_EQ(e.content["type"], "location");
    EXPECT_EQ(e.content["location"], json({{"latitude", 12.25089}, {"longitude", 43.90539}}));
  };
  m["message.json/chosen_location"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    EXPECT_EQ(e.content["type"], "location");
    EXPECT_EQ(e.content["location"],
              json({{"latitude", 37.4611978},
                    {"longitude", -122.2164385},
                    {"name", "Facebook HQ"},
                    {"address", "1 Hacker Way, Menlo Park, CA 94025"},
                    {"url", "https://maps.google.com/?cid=2000000000000000000"}}));
  };
  m["message.json/contacts"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    expect_std_inbound(e, "wamid.xyzxyz", 1697044621);
    EXPECT_EQ(e.content["type"], "contacts");
    ASSERT_TRUE(e.content["contacts"].is_array());
    ASSERT_EQ(e.content["contacts"].size(), 3u);
    EXPECT_EQ(e.content["contacts"][0]["name"]["formatted_name"], "Chandler Bing");
    EXPECT_EQ(e.content["contacts"][2]["phones"][0]["phone"], "+1 777-777-7777");
  };
  m["message.json/order"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    expect_std_inbound(e, "wamid.xyzxyz", 1697044668);
    EXPECT_EQ(e.content["type"], "order");
    EXPECT_EQ(e.content["order"]["catalog_id"], "354160437058781");
    EXPECT_EQ(e.content["order"]["product_items"].size(), 3u);
    EXPECT_EQ(e.content["order"]["product_items"][0]["product_retailer_id"], "HAMBURGER");
  };
  m["message.json/unsupported"] = [std_error](const decoded_webhook& d) {
    const auto& e = single(d);
    expect_std_inbound(e, "wamid.xyzxyz", 1697044706);
    EXPECT_EQ(e.content["type"], "unsupported");
    EXPECT_EQ(e.content["error"], std_error);
    EXPECT_FALSE(e.content.contains("raw"));
  };
  m["message.json/unsupported_with_type"] = [std_error](const decoded_webhook& d) {
    const auto& e = single(d);
    EXPECT_EQ(e.content["type"], "unsupported");
    EXPECT_EQ(e.content["error"], std_error);
    EXPECT_EQ(e.content["raw"], json({{"type", "pool"}}));
  };
  m["message.json/reply"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    expect_std_inbound(e, "wamid.xyzxyz", 1697044746);
    EXPECT_EQ(e.content["text"], "replied text");
    EXPECT_EQ(e.content["context"], json({{"from", "972123456789"}, {"id", "wamid.xyzxyz=="}}));
    EXPECT_EQ(e.content["replyTo"], message_id_for_wamid("wamid.xyzxyz=="));
  };
  m["message.json/forwarded"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    EXPECT_EQ(e.content["text"], "forwarded text");
    EXPECT_EQ(e.content["forwarded"], true);
    EXPECT_FALSE(e.content.contains("frequentlyForwarded"));
  };
  m["message.json/forwarded_many_times"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    EXPECT_EQ(e.content["text"], "text forwarded many times");
    EXPECT_EQ(e.content["frequentlyForwarded"], true);
    EXPECT_EQ(e.content["context"]["frequentlyForwarded"], true);
  };
  m["message.json/interactive_message_with_err"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    EXPECT_EQ(e.wamid, "wamid.wegrchytvwcggt=");
    EXPECT_EQ(e.timestamp_ms, 1700505494000);
    EXPECT_EQ(e.content["type"], "interactive");
    EXPECT_FALSE(e.content.contains("interactive"));
    EXPECT_EQ(e.content["error"], json({{"code", 131000},
                                        {"title", "Something went wrong"},
                                        {"message", "Something went wrong"},
                                        {"details", "Unsupported webhook payload"}}));
    EXPECT_EQ(e.content["replyTo"], message_id_for_wamid("wamid.gvwegfretge=="));
  };
  m["message.json/referral"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    expect_std_inbound(e, "wamid.ID", 1697045000);
    EXPECT_EQ(e.content["text"], "BODY");
    EXPECT_EQ(e.content["referral"]["source_id"], "ADID");
    EXPECT_EQ(e.content["referral"]["ctwa_clid"], "CTWA_CLID");
  };

  // message_status.json
  m["message_status.json/sent"] = status_case("sent", 1698266945);
  m["message_status.json/delivered"] = status_case("delivered", 1698266945);
  m["message_status.json/read"] = status_case("read", 1689380458);
  m["message_status.json/played"] = status_case("played", 1689380458);
  m["message_status.json/with_tracker"] = status_case("sent", 1698266945);
  m["message_status.json/failed"] = [](const decoded_webhook& d) {
    const auto& e = single(d, wa_event_kind::status);
    EXPECT_EQ(e.status, "failed");
    EXPECT_EQ(e.target_wamid, "wamid.xyzxyz");
    EXPECT_EQ(e.content["error"]["code"], 130472);
    EXPECT_EQ(e.content["error"]["title"], "User's number is part of an experiment");
    EXPECT_EQ(e.content["error"]["details"],
              "Failed to send message because this user's phone number is part of an experiment");
  };
  m["message_status.json/group"] = [](const decoded_webhook& d) {
    const auto& e = single(d, wa_event_kind::status);
    EXPECT_EQ(e.phone_number_id, "<BUSINESS_PHONE_NUMBER_ID>");
    EXPECT_EQ(e.target_wamid, "<WHATSAPP_MESSAGE_ID>");
    EXPECT_EQ(e.status, "read");
    EXPECT_EQ(e.contact_phone, ""); // recipient_id is a group id, not a phone
    EXPECT_EQ(d.phone_number_ids, std::vector<std::string>{"<BUSINESS_PHONE_NUMBER_ID>"});
  };

  // system.json
  m["system.json/phone_number_change"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    EXPECT_EQ(e.contact_phone, kContact);
    EXPECT_EQ(e.profile_name, ""); // no contacts in this payload
    EXPECT_EQ(e.wamid, "wamid.xyzxyz==");
    EXPECT_EQ(e.timestamp_ms, 1753851315000);
    EXPECT_EQ(e.new_phone, "972912345678");
    EXPECT_EQ(e.content["type"], "system");
    EXPECT_EQ(e.content["text"], "User A changed from 972987654321 to 972912345678");
    EXPECT_EQ(e.content["system"],
              json({{"type", "user_changed_number"},
                    {"body", "User A changed from 972987654321 to 972912345678"},
                    {"waId", "972912345678"}}));
  };
  m["system.json/identity_change"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    EXPECT_EQ(e.profile_name, "User A");
    EXPECT_TRUE(e.new_phone.empty());
    EXPECT_EQ(e.content["system"]["type"], "customer_identity_changed");
    EXPECT_EQ(e.content["text"], "User identity changed");
  };

  // callback_button.json
  m["callback_button.json/button"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    expect_std_inbound(e, "wamid.xyzxyz", 1698266730);
    EXPECT_EQ(e.content["type"], "interactive");
    EXPECT_EQ(e.content["text"], "title");
    EXPECT_EQ(e.content["interactive"],
              json({{"type", "button_reply"}, {"id", "callback_data"}, {"title", "title"}}));
    EXPECT_EQ(e.content["replyTo"], message_id_for_wamid("wamid.xyzxyz"));
  };
  m["callback_button.json/quick_reply"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    expect_std_inbound(e, "wamid.xsidjw", 1698269027);
    EXPECT_EQ(e.content["type"], "button");
    EXPECT_EQ(e.content["text"], "title");
    EXPECT_EQ(e.content["button"], json({{"payload", "callback_data"}, {"text", "title"}}));
    EXPECT_EQ(e.content["replyTo"], message_id_for_wamid("wamid.xyzxyz=="));
  };
  m["callback_button.json/quick_reply_without_context"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    expect_std_inbound(e, "wamid.xsidjx", 1698269027);
    EXPECT_EQ(e.content["button"]["payload"], "callback_data");
    EXPECT_FALSE(e.content.contains("context"));
    EXPECT_FALSE(e.content.contains("replyTo"));
  };

  // callback_selection.json
  m["callback_selection.json/callback"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    expect_std_inbound(e, "wamid.zyzxyz", 1698266905);
    EXPECT_EQ(e.content["interactive"],
              json({{"type", "list_reply"}, {"id", "callback_data"}, {"title", "title"}}));
  };
  m["callback_selection.json/description"] = [](const decoded_webhook& d) {
    const auto& e = single(d);
    EXPECT_EQ(e.content["interactive"]["description"], "description");
    EXPECT_EQ(e.content["text"], "title");
  };

  // flow_completion.json
  auto flow = [](bool token) {
    return [token](const decoded_webhook& d) {
      const auto& e = single(d);
      expect_std_inbound(e, "wamid.wegrchytvwcggt==", 1702502473);
      const auto& i = e.content["interactive"];
      EXPECT_EQ(i["type"], "nfm_reply");
      EXPECT_EQ(i["id"], "flow");
      EXPECT_EQ(i["title"], "Sent");
      ASSERT_TRUE(i["responseJson"].is_string());
      auto response = json::parse(i["responseJson"].get<std::string>());
      EXPECT_EQ(response["comment_text"], "Comment Text");
      EXPECT_EQ(response.contains("flow_token"), token);
    };
  };
  m["flow_completion.json/completion"] = flow(true);
  m["flow_completion.json/without_flow_token"] = flow(false);

  // outgoing_message.json (smb_message_echoes)
  m["outgoing_message.json/text"] = [](const decoded_webhook& d) {
    const auto& e = single(d, wa_event_kind::echo);
    EXPECT_EQ(e.phone_number_id, kPnid);
    EXPECT_EQ(e.contact_phone, kContact); // contacts[0].wa_id: `to` is a placeholder
    EXPECT_EQ(e.wamid, "<WHATSAPP_MESSAGE_ID>");
    EXPECT_EQ(e.origin, "business_app");
    EXPECT_EQ(e.status, "sent");
    EXPECT_EQ(e.timestamp_ms, 1697043223000);
    EXPECT_EQ(e.content["type"], "text");
    EXPECT_EQ(e.content["text"], "Test message");
  };
  m["outgoing_message.json/delete"] = [](const decoded_webhook& d) {
    const auto& e = single(d, wa_event_kind::revoke);
    EXPECT_EQ(e.contact_phone, kContact);
    EXPECT_EQ(e.wamid, "wamid.yyyyyy");
    EXPECT_EQ(e.target_wamid, "wamid.zzzzzz");
    EXPECT_EQ(e.origin, "business_app");
  };
  m["outgoing_message.json/edit"] = [](const decoded_webhook& d) {
    const auto& e = single(d, wa_event_kind::edit);
    EXPECT_EQ(e.contact_phone, kContact);
    EXPECT_EQ(e.target_wamid, "wamid.zzzzzz");
    EXPECT_EQ(e.origin, "business_app");
    EXPECT_EQ(e.content["type"], "text");
    EXPECT_EQ(e.content["text"], "Text was edited");
  };

  // deleted_message.json / edited_message.json
  m["deleted_message.json/revoke"] = [](const decoded_webhook& d) {
    const auto& e = single(d, wa_event_kind::revoke);
    EXPECT_EQ(e.phone_number_id, "<BUSINESS_PHONE_NUMBER_ID>");
    EXPECT_EQ(e.contact_phone, kContact); // `from` is a placeholder: contacts[0].wa_id
    EXPECT_EQ(e.profile_name, "Test Name");
    EXPECT_EQ(e.wamid, "<WHATSAPP_MESSAGE_ID>");
    EXPECT_EQ(e.target_wamid, "<ORIGINAL_WHATSAPP_MESSAGE_ID>");
    EXPECT_EQ(e.timestamp_ms, 1697043223000);
  };
  m["edited_message.json/image"] = [](const decoded_webhook& d) {
    const auto& e = single(d, wa_event_kind::edit);
    EXPECT_EQ(e.phone_number_id, "106540352242922");
    EXPECT_EQ(e.contact_phone, "16505551234");
    EXPECT_EQ(e.wamid, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=");
    EXPECT_EQ(e.target_wamid, "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=");
    EXPECT_EQ(e.timestamp_ms, 1749854575000);
    EXPECT_EQ(e.content["type"], "image");
    EXPECT_EQ(e.content["text"], "Updated image caption");
    EXPECT_EQ(e.content["media"]["id"], "1234567890");
    EXPECT_EQ(e.content["media"]["url"], "https://media.example.com/updated-image.jpg");
    EXPECT_EQ(e.content["replyTo"], message_id_for_wamid("M0"));
  };

  // user_marketing_preferences.json: the user's (user_preferences[].wa_id) marketing preference
  auto prefs = [](const std::string& value) {
    return [value](const decoded_webhook& d) {
      EXPECT_EQ(d.phone_number_ids, std::vector<std::string>{"106540352242922"});
      ASSERT_EQ(d.events.size(), 1u);
      auto& e = d.events[0];
      EXPECT_EQ(e.kind, wa_event_kind::preference);
      EXPECT_EQ(e.phone_number_id, "106540352242922");
      EXPECT_EQ(e.contact_phone, "16505551234");
      EXPECT_EQ(e.timestamp_ms, 1731705721000);
      EXPECT_EQ(e.content, json({{"category", "marketing_messages"}, {"value", value}}));
    };
  };
  m["user_marketing_preferences.json/resume"] = prefs("resume");
  m["user_marketing_preferences.json/signup"] = prefs("signup");
  return m;
}

} // namespace

TEST(MetaDecoder, DecodesEveryFixtureCase) {
  auto expected = expectations();
  size_t seen = 0;
  auto files = test::meta_fixture_files();
  ASSERT_FALSE(files.empty());
  for (const auto& file : files) {
    json cases = test::load_fixture(std::filesystem::path("meta") / file);
    for (auto& [name, body] : cases.items()) {
      std::string key = file + "/" + name;
      SCOPED_TRACE(key);
      // Through the raw-bytes path too: parse_json_bounded then decode.
      json parsed;
      std::string err;
      ASSERT_TRUE(parse_json_bounded(body.dump(), parsed, err)) << err;
      auto r = decode_meta(parsed);
      ASSERT_TRUE(r.ok) << r.error;
      auto it = expected.find(key);
      ASSERT_NE(it, expected.end()) << "no expectation for fixture case " << key;
      it->second(r.value);
      if (key != "message_status.json/group" && key.rfind("user_marketing", 0) != 0 &&
          key.rfind("deleted_message", 0) != 0 && key.rfind("edited_message", 0) != 0) {
        EXPECT_EQ(r.value.phone_number_ids, std::vector<std::string>{kPnid});
      }
      EXPECT_EQ(phone_number_ids_of(parsed), r.value.phone_number_ids);
      // Kapso forwards raw Meta payloads: same result through decode_kapso.
      auto k = decode_kapso(parsed, "");
      ASSERT_TRUE(k.ok) << k.error;
      EXPECT_EQ(k.value.events.size(), r.value.events.size());
      ++seen;
    }
  }
  EXPECT_EQ(seen, expected.size()) << "every expectation must match a fixture case";
}

// ---- multiple items, numeric timestamps -------------------------------------------------------

namespace {

json text_message(const std::string& id, const json& from = kContact) {
  return {{"from", from},
          {"id", id},
          {"timestamp", "1700000000"},
          {"type", "text"},
          {"text", {{"body", "hi"}}}};
}

json meta_body(json value, const std::string& field = "messages") {
  if (!value.contains("metadata"))
    value["metadata"] = {{"display_phone_number", "15550001111"}, {"phone_number_id", kPnid}};
  return {
      {"object", "whatsapp_business_account"},
      {"entry", json::array({{{"id", "WABA"},
                              {"changes", json::array({{{"field", field}, {"value", value}}})}}})}};
}

json messages_value(json messages) {
  return {{"messaging_product", "whatsapp"},
          {"contacts", json::array({{{"profile", {{"name", "Test Name"}}}, {"wa_id", kContact}}})},
          {"messages", std::move(messages)}};
}

} // namespace

TEST(MetaDecoder, IteratesEveryEntryChangeMessageAndStatus) {
  json body = meta_body(messages_value(json::array({text_message("w1"), text_message("w2")})));
  json change2 = {{"field", "messages"},
                  {"value",
                   {{"metadata", {{"phone_number_id", "999"}}},
                    {"statuses", json::array({{{"id", "w0"},
                                               {"status", "read"},
                                               {"timestamp", 1700000001},
                                               {"recipient_id", "15551234567"}}})}}}};
  body["entry"][0]["changes"].push_back(change2);
  body["entry"].push_back({{"id", "WABA2"}, {"changes", json::array({change2})}});
  auto r = decode_meta(body);
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.value.events.size(), 4u);
  EXPECT_EQ(r.value.events[0].wamid, "w1");
  EXPECT_EQ(r.value.events[1].wamid, "w2");
  EXPECT_EQ(r.value.events[2].kind, wa_event_kind::status);
  EXPECT_EQ(r.value.events[2].timestamp_ms, 1700000001000); // numeric timestamp
  EXPECT_EQ(r.value.events[2].phone_number_id, "999");
  EXPECT_EQ(r.value.events[3].contact_phone, "15551234567");
  EXPECT_EQ(r.value.phone_number_ids, (std::vector<std::string>{kPnid, "999"}));
}

TEST(MetaDecoder, ProfileNameMatchesTheSendersContact) {
  json value = messages_value(json::array({text_message("w1", "15550002222")}));
  value["contacts"].push_back({{"profile", {{"name", "Second"}}}, {"wa_id", "15550002222"}});
  auto r = decode_meta(meta_body(value));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.value.events[0].profile_name, "Second");
  EXPECT_EQ(r.value.events[0].contact_phone, "15550002222");
}

TEST(MetaDecoder, UnknownTypeKeepsItsRawObject) {
  json msg = text_message("w1");
  msg.erase("text");
  msg["type"] = "poll";
  msg["poll"] = {{"question", "?"}};
  auto r = decode_meta(meta_body(messages_value(json::array({msg}))));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.value.events[0].content["type"], "poll");
  EXPECT_EQ(r.value.events[0].content["raw"], json({{"question", "?"}}));
  EXPECT_EQ(r.value.events[0].content["text"], "");
}

TEST(MetaDecoder, MessageWithoutTypeIsUnsupported) {
  json msg = text_message("w1");
  msg.erase("type");
  auto r = decode_meta(meta_body(messages_value(json::array({msg}))));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.value.events[0].content["type"], "unsupported");
}

// ---- rejected bodies ----------------------------------------------------------------------------

namespace {

void expect_rejected(const json& body, const std::string& why) {
  SCOPED_TRACE(why + ": " + body.dump().substr(0, 300));
  decode_result r;
  EXPECT_NO_THROW(r = decode_meta(body));
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.error.empty());
  EXPECT_TRUE(r.value.events.empty());
}

} // namespace

TEST(MetaDecoder, RejectsWrongShapes) {
  expect_rejected(json::array(), "array top level");
  expect_rejected("string", "string top level");
  expect_rejected(5, "number top level");
  expect_rejected(nullptr, "null");
  expect_rejected(json::object(), "empty object");

  json good = meta_body(messages_value(json::array({text_message("w1")})));
  ASSERT_TRUE(decode_meta(good).ok);

  json b = good;
  b.erase("object");
  expect_rejected(b, "missing object");
  b = good;
  b["object"] = "page";
  expect_rejected(b, "object page");
  b = good;
  b["object"] = 5;
  expect_rejected(b, "object number");
  b = good;
  b.erase("entry");
  expect_rejected(b, "missing entry");
  b = good;
  b["entry"] = 5;
  expect_rejected(b, "entry 5");
  b = good;
  b["entry"] = json::array({5});
  expect_rejected(b, "entry [5]");
  b = good;
  b["entry"][0].erase("changes");
  expect_rejected(b, "missing changes");
  b = good;
  b["entry"][0]["changes"] = "x";
  expect_rejected(b, "changes string");
  b = good;
  b["entry"][0]["changes"][0]["field"] = 7;
  expect_rejected(b, "field number");
  b = good;
  b["entry"][0]["changes"][0]["value"] = json::array();
  expect_rejected(b, "value array");
  b = good;
  b["entry"][0]["changes"][0]["value"]["messages"] = json::object();
  expect_rejected(b, "messages object");
  b = good;
  b["entry"][0]["changes"][0]["value"].erase("messages");
  expect_rejected(b, "no messages nor statuses");
  b = good;
  b["entry"][0]["changes"][0]["value"]["messages"][0] = "msg";
  expect_rejected(b, "message string");
  b = good;
  b["entry"][0]["changes"][0]["value"]["messages"][0]["type"] = 3;
  expect_rejected(b, "type number");
  b = good;
  b["entry"][0]["changes"][0]["value"]["messages"][0]["text"] = "hi";
  expect_rejected(b, "text string");
  b = good;
  b["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = json::object();
  expect_rejected(b, "timestamp object");
  b = good;
  b["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = "17e9";
  expect_rejected(b, "timestamp not digits");
  b = good;
  b["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = "-5";
  expect_rejected(b, "timestamp negative");
  b = good;
  b["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = "99999999999999999999999";
  expect_rejected(b, "timestamp overflow");
  b = good;
  b["entry"][0]["changes"][0]["value"]["metadata"].erase("phone_number_id");
  expect_rejected(b, "missing phone_number_id");
  b = good;
  b["entry"][0]["changes"][0]["value"]["contacts"] = "x";
  expect_rejected(b, "contacts string");
}

TEST(MetaDecoder, RejectsItemsWithoutIdOrContact) {
  // Decision: all-or-nothing. An item the store cannot key (no id) or route (no contact phone)
  // rejects the whole body with 400 instead of being dropped silently.
  json good = meta_body(messages_value(json::array({text_message("w1"), text_message("w2")})));
  json b = good;
  b["entry"][0]["changes"][0]["value"]["messages"][1].erase("id");
  expect_rejected(b, "message without id");
  b = good;
  b["entry"][0]["changes"][0]["value"]["messages"][1]["id"] = "";
  expect_rejected(b, "message with empty id");

  json no_contacts =
      messages_value(json::array({text_message("w1", "<WHATSAPP_USER_PHONE_NUMBER>")}));
  no_contacts.erase("contacts");
  expect_rejected(meta_body(no_contacts), "placeholder from, no contacts");

  json status_value = {
      {"statuses", json::array({{{"status", "read"}, {"recipient_id", kContact}}})}};
  expect_rejected(meta_body(status_value), "status without id");
  status_value = {{"statuses", json::array({{{"id", "w"}, {"recipient_id", kContact}}})}};
  expect_rejected(meta_body(status_value), "status without status");

  json reaction = text_message("w1");
  reaction["type"] = "reaction";
  reaction["reaction"] = {{"emoji", "x"}};
  expect_rejected(meta_body(messages_value(json::array({reaction}))), "reaction without target");
  json revoke = text_message("w1");
  revoke["type"] = "revoke";
  expect_rejected(meta_body(messages_value(json::array({revoke}))), "revoke without object");
  json edit = text_message("w1");
  edit["type"] = "edit";
  edit["edit"] = {{"original_message_id", "w0"}};
  expect_rejected(meta_body(messages_value(json::array({edit}))), "edit without message");

  json change_number = text_message("w1");
  change_number["type"] = "system";
  change_number["system"] = {{"type", "user_changed_number"}, {"body", "changed"}};
  expect_rejected(meta_body(messages_value(json::array({change_number}))),
                  "number change without wa_id");

  json echo_value = {
      {"message_echoes", json::array({{{"id", "e1"}, {"to", "<X>"}, {"type", "text"}}})}};
  expect_rejected(meta_body(echo_value, "smb_message_echoes"), "echo without contact");
  expect_rejected(meta_body(json::object(), "smb_message_echoes"), "echoes missing");
}

TEST(MetaDecoder, OtherFieldsYieldNothing) {
  json body = meta_body({{"whatever", 1}}, "account_update");
  auto r = decode_meta(body);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.value.events.empty());
}

TEST(MetaDecoder, MarketingPreferencesAreCheckedAndOthersIgnored) {
  auto pref = [](json p) {
    return meta_body({{"user_preferences", json::array({std::move(p)})}}, "user_preferences");
  };
  json stop = {{"wa_id", "+1 650 555 1234"},
               {"detail", "User requested to stop marketing messages"},
               {"category", "marketing_messages"},
               {"value", "stop"},
               {"timestamp", 1731705721}};
  auto r = decode_meta(pref(stop));
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.value.events.size(), 1u);
  EXPECT_EQ(r.value.events[0].kind, wa_event_kind::preference);
  EXPECT_EQ(r.value.events[0].contact_phone, "16505551234");
  EXPECT_EQ(r.value.events[0].content["value"], "stop");

  json other = stop;
  other["category"] = "offers_and_announcements";
  r = decode_meta(pref(other));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.value.events.empty()) << "another category: nothing the inbox keeps";

  json bad = stop;
  bad["value"] = "maybe";
  expect_rejected(pref(bad), "unknown marketing value");
  bad = stop;
  bad.erase("wa_id");
  expect_rejected(pref(bad), "preference without wa_id");
  bad = stop;
  bad.erase("category");
  expect_rejected(pref(bad), "preference without category");
  expect_rejected(meta_body(json::object(), "user_preferences"), "user_preferences missing");
}

TEST(MetaDecoder, EchoFallsBackToTo) {
  json echo = {{"from", "15550001111"},
               {"to", "+1 555 000 2222"},
               {"id", "e1"},
               {"timestamp", 1700000000},
               {"type", "image"},
               {"image", {{"id", "m1"}, {"mime_type", "image/png"}, {"sha256", "x"}}}};
  auto r = decode_meta(meta_body({{"message_echoes", json::array({echo})}}, "smb_message_echoes"));
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.value.events.size(), 1u);
  EXPECT_EQ(r.value.events[0].kind, wa_event_kind::echo);
  EXPECT_EQ(r.value.events[0].contact_phone, "15550002222");
  EXPECT_EQ(r.value.events[0].content["media"]["mimeType"], "image/png");
}

// Replaces every value in every fixture with values of other types: the decoders may accept or
// reject, but must never throw or crash.
TEST(MetaDecoder, NeverThrowsOnMutatedFixtures) {
  const json replacements[] = {
      nullptr,         5, -1, 1.5, "x", "", true, json::array(), json::object(), json::array({1}),
      json({{"a", 1}})};
  size_t runs = 0;
  for (const auto& file : test::meta_fixture_files()) {
    json cases = test::load_fixture(std::filesystem::path("meta") / file);
    for (auto& [name, body] : cases.items()) {
      // Every leaf and every ancestor of a leaf, once.
      std::set<std::string> pointers;
      const json flat = body.flatten();
      for (auto& [pointer, _] : flat.items())
        for (json::json_pointer p(pointer); !p.empty(); p = p.parent_pointer())
          pointers.insert(p.to_string());
      for (const auto& pointer : pointers) {
        json::json_pointer ptr(pointer);
        for (const auto& rep : replacements) {
          json mutated = body;
          mutated[ptr] = rep;
          EXPECT_NO_THROW({
            auto r = decode_meta(mutated);
            auto k = decode_kapso(mutated, "");
            (void)phone_number_ids_of(mutated);
            if (!r.ok) {
              EXPECT_TRUE(r.value.events.empty());
            }
            if (!k.ok) {
              EXPECT_TRUE(k.value.events.empty());
            }
          }) << file
             << "/" << name << " " << pointer;
          ++runs;
        }
      }
    }
  }
  EXPECT_GT(runs, 1000u);
}

// ---- identity without phone numbers (tests/fixtures/identity/meta.json) -----------------------

namespace {

constexpr const char* kUserId = "BR.1502984716392054";

// Case `name` of the project fixture `file`, decoded.
decode_result fixture_case(const std::string& file, const std::string& name) {
  return decode_meta(test::load_fixture(file).at(name));
}

decode_result identity_case(const std::string& name) {
  return fixture_case("identity/meta.json", name);
}

} // namespace

TEST(MetaDecoder, ABsuidOnlyMessageNamesItsContactByUserIdAndUsername) {
  auto r = identity_case("bsuid_only_text");
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.value.events.size(), 1u);
  auto& e = r.value.events[0];
  EXPECT_EQ(e.kind, wa_event_kind::message);
  EXPECT_EQ(e.contact_phone, "");
  EXPECT_EQ(e.contact_user_id, kUserId);
  EXPECT_EQ(e.contact_username, "maria.gourmet");
  EXPECT_EQ(e.profile_name, "Maria Souza");
  EXPECT_EQ(e.content["text"], "Oi, vocês fazem entrega?");
}

TEST(MetaDecoder, APayloadWithPhoneAndUserIdCarriesBoth) {
  auto r = identity_case("phone_and_bsuid_text");
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.value.events.size(), 1u);
  EXPECT_EQ(r.value.events[0].contact_phone, "5511976543210");
  EXPECT_EQ(r.value.events[0].contact_user_id, kUserId);
  // The shared fixtures' 2026 payloads carry the user id beside the phone too.
  auto shared = decode_meta(test::load_fixture("meta/message.json").at("text"));
  ASSERT_TRUE(shared.ok) << shared.error;
  EXPECT_EQ(shared.value.events[0].contact_user_id, "US.13491208655302741918");
}

TEST(MetaDecoder, AStatusAddressedByUserIdNamesItsContact) {
  auto r = identity_case("status_by_user_id");
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.value.events.size(), 1u);
  EXPECT_EQ(r.value.events[0].kind, wa_event_kind::status);
  EXPECT_EQ(r.value.events[0].contact_phone, "");
  EXPECT_EQ(r.value.events[0].contact_user_id, kUserId);
  // A group's status names no contact, even with a participant's user id.
  auto group = decode_meta(test::load_fixture("meta/message_status.json").at("group"));
  ASSERT_TRUE(group.ok) << group.error;
  EXPECT_EQ(group.value.events[0].contact_phone, "");
  EXPECT_EQ(group.value.events[0].contact_user_id, "");
}

TEST(MetaDecoder, UserChangedUserIdNamesTheContactByItsPreviousId) {
  auto r = identity_case("user_changed_user_id");
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.value.events.size(), 1u);
  auto& e = r.value.events[0];
  EXPECT_EQ(e.kind, wa_event_kind::message);
  EXPECT_EQ(e.content["type"], "system");
  EXPECT_EQ(e.contact_user_id, kUserId); // system.previous_user_id
  EXPECT_EQ(e.new_user_id, "BR.1502984716399999");
  EXPECT_EQ(e.new_phone, "");
}

TEST(MetaDecoder, APreferenceAddressedByUserId) {
  auto r = identity_case("bsuid_only_preference");
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.value.events.size(), 1u);
  EXPECT_EQ(r.value.events[0].kind, wa_event_kind::preference);
  EXPECT_EQ(r.value.events[0].contact_user_id, kUserId);
}

TEST(MetaDecoder, RejectsMalformedUserIdsAndUsernames) {
  json good = test::load_fixture("identity/meta.json").at("bsuid_only_text");
  ASSERT_TRUE(decode_meta(good).ok);
  auto with = [&](const std::function<void(json&)>& change) {
    json b = good;
    change(b["entry"][0]["changes"][0]["value"]);
    return b;
  };
  expect_rejected(with([](json& v) { v["messages"][0]["from_user_id"] = "BR 1502"; }),
                  "user id with a space");
  expect_rejected(with([](json& v) { v["messages"][0]["from_user_id"] = std::string(129, 'A'); }),
                  "user id over 128 characters");
  expect_rejected(with([](json& v) { v["messages"][0]["from_user_id"] = json::object(); }),
                  "user id not a string");
  expect_rejected(with([](json& v) { v["contacts"][0]["profile"]["username"] = "a\nb"; }),
                  "username with a control character");
  expect_rejected(with([](json& v) {
                    v["messages"][0].erase("from_user_id");
                    v["contacts"][0].erase("user_id");
                  }),
                  "neither a phone nor a user id");
  json max = with([](json& v) {
    v["messages"][0]["from_user_id"] = std::string(128, 'A');
    v["contacts"][0]["user_id"] = std::string(128, 'A');
  });
  auto r = decode_meta(max);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.value.events[0].contact_user_id, std::string(128, 'A'));
}

TEST(MetaDecoder, AnEchoNamesItsContactByContactsElseByItsRecipient) {
  // With contacts[] (Meta's samples; its edit and revoke echoes name the business in `to`).
  json echo = test::load_fixture("meta/outgoing_message.json").at("text");
  auto r = decode_meta(echo);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.value.events[0].contact_phone, "972987654321");
  EXPECT_EQ(r.value.events[0].contact_user_id, "US.13491208655302741918");
  // Without: `to` and `to_user_id`; a username-only contact has only the user id.
  auto& value = echo["entry"][0]["changes"][0]["value"];
  value.erase("contacts");
  value["message_echoes"][0]["to"] = "5511976543210";
  value["message_echoes"][0]["to_user_id"] = kUserId;
  r = decode_meta(echo);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.value.events[0].contact_phone, "5511976543210");
  EXPECT_EQ(r.value.events[0].contact_user_id, kUserId);
  value["message_echoes"][0].erase("to");
  r = decode_meta(echo);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.value.events[0].contact_phone, "");
  EXPECT_EQ(r.value.events[0].contact_user_id, kUserId);
  value["message_echoes"][0].erase("to_user_id");
  expect_rejected(echo, "an echo naming nobody");
}

TEST(MetaDecoder, AMessageFromAnotherPhoneThanItsContactsEntryTakesNotThatEntrysUserId) {
  json body = test::load_fixture("meta/message.json").at("text");
  auto& value = body["entry"][0]["changes"][0]["value"];
  value["messages"][0]["from"] = "4915100100001";
  auto r = decode_meta(body);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.value.events[0].contact_phone, "4915100100001");
  EXPECT_EQ(r.value.events[0].contact_user_id, "") << "contacts[0]'s is another customer's";
  EXPECT_EQ(r.value.events[0].profile_name, "Test Name"); // as before: contacts[0]'s
}

// ---- the business app's history and address book (tests/fixtures/coexistence/meta.json) -----

constexpr const char* kCoexistence = "coexistence/meta.json";

TEST(MetaDecoder, HistoryThreadsAreMessagesOfEachThreadsContactWithTheirLastStatus) {
  auto r = fixture_case(kCoexistence, "history_threads");
  ASSERT_TRUE(r.ok) << r.error;
  auto& ev = r.value.events;
  ASSERT_EQ(ev.size(), 6u);
  for (auto& e : ev) {
    EXPECT_EQ(e.origin, "history") << e.wamid;
    EXPECT_EQ(e.phone_number_id, "1122334455667");
  }
  EXPECT_EQ(ev[0].kind, wa_event_kind::echo) << "from the business number";
  EXPECT_EQ(ev[0].contact_phone, "16505551234") << "the thread's contact";
  EXPECT_EQ(ev[0].status, "read");
  EXPECT_EQ(ev[0].timestamp_ms, 1739230955000);
  EXPECT_EQ(ev[0].content["text"], "Here's the info you requested!");
  EXPECT_EQ(ev[1].content["type"], "media_placeholder");
  EXPECT_EQ(ev[1].status, "played");
  EXPECT_EQ(ev[2].kind, wa_event_kind::message);
  EXPECT_EQ(ev[2].status, "read");
  EXPECT_EQ(ev[3].kind, wa_event_kind::message);
  EXPECT_EQ(ev[3].status, "delivered");
  EXPECT_EQ(ev[3].content["replyTo"], message_id_for_wamid("wamid.HIST-0001"));
  EXPECT_EQ(ev[4].contact_phone, "12125557890");
  EXPECT_EQ(ev[5].status, "failed") << "ERROR";
}

TEST(MetaDecoder, TheHistoryMediaWebhookDescribesThePlaceholderForItsRecipient) {
  auto r = fixture_case(kCoexistence, "history_media");
  ASSERT_TRUE(r.ok) << r.error;
  auto& e = single(r.value, wa_event_kind::echo);
  EXPECT_EQ(e.wamid, "wamid.HIST-0002");
  EXPECT_EQ(e.origin, "history");
  EXPECT_EQ(e.contact_phone, "16505551234");
  EXPECT_EQ(e.content["type"], "image");
  EXPECT_EQ(e.content["media"]["id"], "24230790383178626");
  EXPECT_EQ(e.status, "sent");
}

TEST(MetaDecoder, DeclinedHistoryIsAcknowledgedWithNothingToStore) {
  auto r = fixture_case(kCoexistence, "history_declined");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.value.events.empty());
  EXPECT_EQ(r.value.phone_number_ids, std::vector<std::string>{"1122334455667"});
}

TEST(MetaDecoder, HistoryThreadsByUserIdAndBadShapes) {
  json thread = {{"id", "BR.1502984716392054"},
                 {"messages", json::array({text_message("wamid.H", "BR.1502984716392054")})}};
  thread["messages"][0].erase("from");
  auto r = decode_meta(meta_body({{"history", json::array({{{"threads", {thread}}}})}}, "history"));
  ASSERT_TRUE(r.ok) << r.error;
  auto& e = single(r.value);
  EXPECT_EQ(e.contact_user_id, "BR.1502984716392054");
  EXPECT_TRUE(e.contact_phone.empty());
  EXPECT_EQ(e.kind, wa_event_kind::message);

  expect_rejected(meta_body({{"nothing", 1}}, "history"), "no history or messages");
  expect_rejected(
      meta_body({{"history", json::array({{{"threads", {{{"id", "not a phone!"}}}}}})}}, "history"),
      "thread id neither phone nor user id");
  json no_id = text_message("x");
  no_id.erase("id");
  expect_rejected(
      meta_body(
          {{"history", json::array({{{"threads", {{{"id", "5511"}, {"messages", {no_id}}}}}}})}},
          "history"),
      "history message without id");
  expect_rejected(meta_body({{"history", "x"}}, "history"), "history not an array");
}

TEST(MetaDecoder, AddressBookAdditionsNameContactsAndRemovalsClearThem) {
  auto added = fixture_case(kCoexistence, "state_sync_add");
  ASSERT_TRUE(added.ok) << added.error;
  ASSERT_EQ(added.value.events.size(), 2u);
  auto& a = added.value.events[0];
  EXPECT_EQ(a.kind, wa_event_kind::address_book);
  EXPECT_EQ(a.contact_phone, "16505551234");
  EXPECT_EQ(a.content["name"], "Pablo Morales");
  EXPECT_EQ(a.timestamp_ms, 1739321024000);
  EXPECT_EQ(added.value.events[1].content["name"], "Ana") << "first_name when no full_name";
  EXPECT_EQ(added.value.events[1].contact_phone, "12125557890");

  auto removed = fixture_case(kCoexistence, "state_sync_remove");
  ASSERT_TRUE(removed.ok) << removed.error;
  auto& rm = single(removed.value, wa_event_kind::address_book);
  EXPECT_EQ(rm.content["name"], "");

  json item = {
      {"type", "contact"},
      {"contact", {{"full_name", std::string(300, 'a') + "\xc3\xa9"}, {"phone_number", "5511"}}},
      {"action", "add"}};
  auto long_name = decode_meta(meta_body({{"state_sync", {item}}}, "smb_app_state_sync"));
  ASSERT_TRUE(long_name.ok) << long_name.error;
  EXPECT_EQ(single(long_name.value, wa_event_kind::address_book).content["name"],
            std::string(200, 'a'))
      << "cut to 200 bytes";
  item["action"] = "archive";
  EXPECT_TRUE(
      decode_meta(meta_body({{"state_sync", {item}}}, "smb_app_state_sync")).value.events.empty())
      << "unknown actions are acknowledged, not kept";
  item["type"] = "label";
  EXPECT_TRUE(decode_meta(meta_body({{"state_sync", {item}}}, "smb_app_state_sync")).ok);
  item = {{"type", "contact"}, {"contact", {{"full_name", "X"}}}, {"action", "add"}};
  expect_rejected(meta_body({{"state_sync", {item}}}, "smb_app_state_sync"), "no phone_number");
  expect_rejected(meta_body({{"other", 1}}, "smb_app_state_sync"), "no state_sync");
}

TEST(MetaDecoder, AnEchoKeepsItsReplyContext) {
  auto r = fixture_case(kCoexistence, "echo_reply");
  ASSERT_TRUE(r.ok) << r.error;
  auto& e = single(r.value, wa_event_kind::echo);
  EXPECT_EQ(e.origin, "business_app");
  EXPECT_EQ(e.content["replyTo"], message_id_for_wamid("wamid.HIST-0004"));
  EXPECT_EQ(e.content["context"]["id"], "wamid.HIST-0004");
}
