#include <set>
#include <string>

#include <gtest/gtest.h>

#include "tests/whatsapp/fixture_files.hpp"
#include "whatsapp/webhook_decoder.hpp"

using namespace inboxd;
using nlohmann::json;

namespace {

constexpr const char* kPnid = "1122334455667";
constexpr const char* kPhone = "5511987654321";
const std::string kText =
    "Oi! Voc\xC3\xAAs entregam no s\xC3\xA1"
    "bado?";
const std::string kReply =
    "Sim, entregamos aos s\xC3\xA1"
    "bados at\xC3\xA9 14h.";

json fixtures() {
  return test::load_fixture("kapso/events_v2.json");
}

decode_result decode_case(const json& c) {
  std::string header = c["headers"].value("X-Webhook-Event", "");
  // Through the raw-bytes path, as the HTTP layer does.
  json parsed;
  std::string err;
  EXPECT_TRUE(parse_json_bounded(c["body"].dump(), parsed, err)) << err;
  return decode_kapso(parsed, header);
}

void expect_common(const wa_event& e) {
  EXPECT_EQ(e.phone_number_id, kPnid);
  EXPECT_EQ(e.contact_phone, kPhone);
}

void expect_received_text(const wa_event& e) {
  expect_common(e);
  EXPECT_EQ(e.kind, wa_event_kind::message);
  EXPECT_EQ(e.profile_name, "Ana Souza");
  EXPECT_EQ(e.wamid, "wamid.KAPSO-IN-0001");
  EXPECT_EQ(e.timestamp_ms, 1763647391000);
  EXPECT_EQ(e.origin, "whatsapp");
  EXPECT_EQ(e.content["type"], "text");
  EXPECT_EQ(e.content["text"], kText);
}

void expect_received_image(const wa_event& e) {
  expect_common(e);
  EXPECT_EQ(e.kind, wa_event_kind::message);
  EXPECT_EQ(e.wamid, "wamid.KAPSO-IN-0002");
  EXPECT_EQ(e.timestamp_ms, 1763647395000);
  EXPECT_EQ(e.content["type"], "image");
  EXPECT_EQ(e.content["text"], "este modelo");
  EXPECT_EQ(e.content["media"], json({{"id", "881234567001"},
                                      {"mimeType", "image/jpeg"},
                                      {"sha256", "5c8f0b4d1e"},
                                      {"caption", "este modelo"},
                                      {"url", "https://media.example.invalid/881234567001.jpg"}}));
}

// echo + statuses for the outbound message in the sent/delivered/read cases.
void expect_outbound(const decoded_webhook& d, const std::string& status,
                     const std::vector<std::pair<std::string, int64_t>>& statuses) {
  ASSERT_EQ(d.events.size(), 1 + statuses.size());
  const auto& echo = d.events[0];
  expect_common(echo);
  EXPECT_EQ(echo.kind, wa_event_kind::echo);
  EXPECT_EQ(echo.origin, "api");
  EXPECT_EQ(echo.status, status);
  EXPECT_EQ(echo.wamid, "wamid.KAPSO-OUT-0001");
  EXPECT_EQ(echo.timestamp_ms, 1763647500000);
  EXPECT_EQ(echo.profile_name, "Ana Souza");
  EXPECT_EQ(echo.content["type"], "text");
  EXPECT_EQ(echo.content["text"], kReply);
  for (size_t i = 0; i < statuses.size(); ++i) {
    const auto& s = d.events[i + 1];
    expect_common(s);
    EXPECT_EQ(s.kind, wa_event_kind::status);
    EXPECT_EQ(s.target_wamid, "wamid.KAPSO-OUT-0001");
    EXPECT_EQ(s.status, statuses[i].first);
    EXPECT_EQ(s.timestamp_ms, statuses[i].second * 1000);
  }
}

} // namespace

TEST(KapsoDecoder, DecodesEveryFixtureCase) {
  json all = fixtures();
  std::set<std::string> checked;
  for (auto& [name, c] : all.items()) {
    SCOPED_TRACE(name);
    auto r = decode_case(c);
    ASSERT_TRUE(r.ok) << r.error;
    const auto& d = r.value;
    EXPECT_EQ(d.phone_number_ids, std::vector<std::string>{kPnid});
    EXPECT_EQ(phone_number_ids_of(c["body"]), std::vector<std::string>{kPnid});
    if (name == "message_received_text") {
      ASSERT_EQ(d.events.size(), 1u);
      expect_received_text(d.events[0]);
    } else if (name == "message_received_image") {
      ASSERT_EQ(d.events.size(), 1u);
      expect_received_image(d.events[0]);
    } else if (name == "message_received_batch") {
      ASSERT_EQ(d.events.size(), 2u);
      expect_received_text(d.events[0]);
      expect_received_image(d.events[1]);
    } else if (name == "message_sent") {
      expect_outbound(d, "sent", {{"sent", 1763647501}});
    } else if (name == "message_delivered") {
      expect_outbound(d, "delivered", {{"sent", 1763647501}, {"delivered", 1763647503}});
    } else if (name == "message_read") {
      expect_outbound(d, "read",
                      {{"sent", 1763647501}, {"delivered", 1763647503}, {"read", 1763647560}});
    } else if (name == "message_failed") {
      expect_outbound(d, "failed", {{"failed", 1763647502}});
      ASSERT_EQ(d.events.size(), 2u);
      EXPECT_EQ(d.events[1].content["error"]["code"], 131047);
      EXPECT_EQ(d.events[1].content["error"]["title"], "Re-engagement message");
      EXPECT_TRUE(d.events[1].content["error"].contains("details"));
      EXPECT_EQ(d.events[0].content["error"]["code"], 131047); // the echo carries it too
    } else if (name == "conversation_created" || name == "conversation_ended") {
      ASSERT_EQ(d.events.size(), 1u);
      expect_common(d.events[0]);
      EXPECT_EQ(d.events[0].kind, wa_event_kind::contact_seen);
      EXPECT_EQ(d.events[0].profile_name, "Ana Souza");
    } else {
      ADD_FAILURE() << "no expectation for Kapso fixture case " << name;
    }
    checked.insert(name);
  }
  EXPECT_EQ(checked.size(), 9u);
}

TEST(KapsoDecoder, EventNameFromBatchTypeOrDirectionWithoutHeader) {
  json all = fixtures();
  auto batch = decode_kapso(all["message_received_batch"]["body"], "");
  ASSERT_TRUE(batch.ok) << batch.error;
  EXPECT_EQ(batch.value.events.size(), 2u);

  auto inbound = decode_kapso(all["message_received_text"]["body"], "");
  ASSERT_TRUE(inbound.ok) << inbound.error;
  ASSERT_EQ(inbound.value.events.size(), 1u);
  EXPECT_EQ(inbound.value.events[0].kind, wa_event_kind::message);

  auto outbound = decode_kapso(all["message_read"]["body"], "");
  ASSERT_TRUE(outbound.ok) << outbound.error;
  ASSERT_EQ(outbound.value.events.size(), 4u);
  EXPECT_EQ(outbound.value.events[0].kind, wa_event_kind::echo);
  EXPECT_EQ(outbound.value.events[0].status, "read");

  auto conv = decode_kapso(all["conversation_created"]["body"], "");
  ASSERT_TRUE(conv.ok) << conv.error;
  EXPECT_EQ(conv.value.events.at(0).kind, wa_event_kind::contact_seen);
}

TEST(KapsoDecoder, UnknownEventsYieldNothing) {
  json all = fixtures();
  auto r = decode_kapso(all["message_received_text"]["body"], "whatsapp.phone_number.updated");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.value.events.empty());
}

TEST(KapsoDecoder, SynthesizesAStatusWhenKapsoListsNone) {
  json body = fixtures()["message_sent"]["body"];
  body["message"]["kapso"].erase("statuses");
  auto r = decode_kapso(body, "whatsapp.message.delivered");
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.value.events.size(), 2u);
  EXPECT_EQ(r.value.events[1].kind, wa_event_kind::status);
  EXPECT_EQ(r.value.events[1].status, "sent"); // kapso.status wins over the event name
  EXPECT_EQ(r.value.events[1].target_wamid, "wamid.KAPSO-OUT-0001");
}

TEST(KapsoDecoder, ReceivedReactionBecomesReaction) {
  json body = fixtures()["message_received_text"]["body"];
  body["message"]["type"] = "reaction";
  body["message"]["reaction"] = {{"message_id", "wamid.T"}, {"emoji", "x"}};
  auto r = decode_kapso(body, "whatsapp.message.received");
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.value.events.size(), 1u);
  EXPECT_EQ(r.value.events[0].kind, wa_event_kind::reaction);
  EXPECT_EQ(r.value.events[0].target_wamid, "wamid.T");
}

TEST(KapsoDecoder, RejectsMalformedEvents) {
  json all = fixtures();
  auto rejected = [](const json& body, std::string_view header, const char* why) {
    SCOPED_TRACE(why);
    decode_result r;
    EXPECT_NO_THROW(r = decode_kapso(body, header));
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.error.empty());
    EXPECT_TRUE(r.value.events.empty());
  };
  const std::string received = "whatsapp.message.received";
  rejected(json::array(), received, "array");
  rejected("x", received, "string");
  rejected(json::object(), received, "empty object");
  rejected(json::object(), "", "empty object, no header");

  json b = all["message_received_text"]["body"];
  b.erase("phone_number_id");
  b["conversation"].erase("phone_number_id");
  rejected(b, received, "no phone_number_id");
  b = all["message_received_text"]["body"];
  b["conversation"]["phone_number"] = "not a phone";
  rejected(b, received, "no usable phone");
  b = all["message_received_text"]["body"];
  b["message"].erase("id");
  rejected(b, received, "message without id");
  b = all["message_received_text"]["body"];
  b.erase("message");
  rejected(b, received, "received without message");
  b = all["message_received_text"]["body"];
  b["message"] = 5;
  rejected(b, received, "message number");
  b = all["message_received_batch"]["body"];
  b["data"] = 5;
  rejected(b, received, "batch data number");
  b = all["message_received_batch"]["body"];
  b["data"][1] = "x";
  rejected(b, received, "batch item string");
  b = all["message_sent"]["body"];
  b["message"]["kapso"]["statuses"] = "x";
  rejected(b, "whatsapp.message.sent", "statuses string");
  b = all["message_sent"]["body"];
  b["message"]["kapso"]["statuses"][0].erase("status");
  rejected(b, "whatsapp.message.sent", "status without status");
  // A Meta forward with a wrong object is still a Meta payload, and rejected.
  rejected(json({{"object", "page"}, {"entry", json::array()}}), "", "meta forward, wrong object");
}

TEST(KapsoDecoder, NeverThrowsOnMutatedFixtures) {
  const json replacements[] = {nullptr,         5, "x", "", true, json::array(), json::object(),
                               json::array({1})};
  json all = fixtures();
  size_t runs = 0;
  for (auto& [name, c] : all.items()) {
    const json& body = c["body"];
    std::set<std::string> pointers;
    const json flat = body.flatten();
    for (auto& [pointer, _] : flat.items())
      for (json::json_pointer p(pointer); !p.empty(); p = p.parent_pointer())
        pointers.insert(p.to_string());
    for (const auto& pointer : pointers) {
      for (const auto& rep : replacements) {
        json mutated = body;
        mutated[json::json_pointer(pointer)] = rep;
        for (std::string_view header :
             {std::string_view(), std::string_view("whatsapp.message.sent")}) {
          EXPECT_NO_THROW({
            auto r = decode_kapso(mutated, header);
            (void)phone_number_ids_of(mutated);
            if (!r.ok) {
              EXPECT_TRUE(r.value.events.empty());
            }
          }) << name
             << " " << pointer;
          ++runs;
        }
      }
    }
  }
  EXPECT_GT(runs, 1000u);
}

TEST(KapsoDecoder, AConversationWithoutPhoneIsNamedByItsUserIdAndUsername) {
  json c = test::load_fixture("identity/kapso.json")["message_received_bsuid_only"];
  auto r = decode_case(c);
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.value.events.size(), 1u);
  auto& e = r.value.events[0];
  EXPECT_EQ(e.kind, wa_event_kind::message);
  EXPECT_EQ(e.contact_phone, "");
  EXPECT_EQ(e.contact_user_id, "BR.9918273645546372");
  EXPECT_EQ(e.contact_username, "joao.bikes");
  EXPECT_EQ(e.profile_name, "João Lima");

  json body = c["body"];
  body["conversation"].erase("business_scoped_user_id");
  r = decode_kapso(body, "whatsapp.message.received");
  EXPECT_FALSE(r.ok) << "neither a phone nor a user id";
  body["message"]["from_user_id"] = "BR.1";
  r = decode_kapso(body, "whatsapp.message.received");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.value.events[0].contact_user_id, "BR.1");
}

TEST(KapsoDecoder, HistorySyncMessagesAreHistoryWithTheirLastStatusAndNoStatusEvents) {
  auto fixtures = test::load_fixture("coexistence/kapso.json");
  auto in = decode_case(fixtures["message_received_history_sync"]);
  ASSERT_TRUE(in.ok) << in.error;
  ASSERT_EQ(in.value.events.size(), 1u);
  EXPECT_EQ(in.value.events[0].kind, wa_event_kind::message);
  EXPECT_EQ(in.value.events[0].origin, "history");
  EXPECT_EQ(in.value.events[0].status, "read");
  EXPECT_EQ(in.value.events[0].contact_phone, "16505551234");

  auto out = decode_case(fixtures["message_sent_history_sync"]);
  ASSERT_TRUE(out.ok) << out.error;
  ASSERT_EQ(out.value.events.size(), 1u) << "no status events of its own";
  EXPECT_EQ(out.value.events[0].kind, wa_event_kind::echo);
  EXPECT_EQ(out.value.events[0].origin, "history");
  EXPECT_EQ(out.value.events[0].status, "delivered");

  json app = fixtures["message_sent_history_sync"];
  app["body"]["message"]["kapso"]["origin"] = "business_app";
  auto phone_app = decode_case(app);
  ASSERT_TRUE(phone_app.ok) << phone_app.error;
  EXPECT_EQ(phone_app.value.events[0].origin, "business_app");
  EXPECT_EQ(phone_app.value.events.size(), 2u) << "live: the message and its status";
}
