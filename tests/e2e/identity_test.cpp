// End-to-end: contacts without phone numbers (API.md, "Identity without phone numbers") through
// the real binary, a real redis-server and a local HTTPS fake of the Cloud API, with the
// project's fixtures (tests/fixtures/identity): a contact who writes by username is found by its
// business-scoped user id, a later payload with its phone links both to the same contact (also
// when they arrive at once), username and user id changes keep its history, a restart keeps it
// all, statuses addressed by user id find their message and sends go out by user id.

#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/e2e_test.hpp"
#include "tests/support/fake_cloud_api.hpp"

namespace inboxd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kUserId = "BR.1502984716392054";
constexpr const char* kPhone = "5511976543210";

std::string seconds_ago(int64_t s) {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return std::to_string(now - s);
}

// A case of tests/fixtures/identity/meta.json with fresh wamids, sent `age_s` seconds ago.
json identity_case(const std::string& name, int64_t age_s = 10) {
  auto body = with_unique_wamids(fixture_case("identity/meta.json", name));
  auto& value = body["entry"][0]["changes"][0]["value"];
  if (value.contains("messages"))
    value["messages"][0]["timestamp"] = seconds_ago(age_s);
  return body;
}

// `body` with the customer's user id and phone replaced.
json as_customer(json body, const std::string& user_id, const std::string& phone) {
  return replace_strings(replace_strings(std::move(body), kUserId, user_id), kPhone, phone);
}

class identity_test : public e2e_test {
protected:
  inboxd_process::env_map extra_env() const override {
    return {{"INBOXD_TLS_CA_FILE", fake_.ca_file()}};
  }

  json contact_by_user_id(const std::string& user_id) {
    return api_get("/api/contacts/by-user-id?userId=" + user_id).value("contact", json());
  }

  http_response post_kapso(const json& c) {
    auto body = c["body"].dump();
    header_list h{{"Content-Type", "application/json"},
                  {"X-Webhook-Event", c["headers"]["X-Webhook-Event"].get<std::string>()},
                  {"X-Webhook-Signature", kapso_signature(kKapsoSecret, body)}};
    return client().request("POST", "/api/webhook/kapso", body, h);
  }

  json messages_of(const std::string& conv) {
    return api_get("/api/conversations/" + conv + "/messages?limit=100")
        .value("messages", json::array());
  }

  fake_cloud_api fake_;
};

TEST_F(identity_test, a_contact_without_phone_is_found_by_user_id_then_linked_to_its_phone) {
  ASSERT_EQ(post_meta(identity_case("bsuid_only_text")).status, 200);
  auto ct = contact_by_user_id(kUserId);
  ASSERT_TRUE(ct.is_object()) << ct.dump();
  EXPECT_TRUE(ct["phone"].is_null()) << ct.dump();
  EXPECT_EQ(ct["waUserId"], kUserId);
  EXPECT_EQ(ct["username"], "maria.gourmet");
  EXPECT_EQ(ct["name"], "Maria Souza");
  auto list = all_conversations();
  ASSERT_EQ(list["total"], 1) << list.dump();
  auto conv = list["conversations"][0];
  EXPECT_TRUE(conv["contact"]["phone"].is_null()) << conv.dump();
  EXPECT_EQ(conv["contact"]["waUserId"], kUserId);
  EXPECT_EQ(conv["contact"]["username"], "maria.gourmet");
  EXPECT_EQ(conv["unreadCount"], 1);
  EXPECT_EQ(api_get("/api/conversations?q=GOURMET")["total"], 1) << "q matches the username";
  EXPECT_EQ(api_get("/api/contacts?q=gourmet")["total"], 1);

  // The payload that carries both names: the same contact gains the phone.
  ASSERT_EQ(post_meta(identity_case("phone_and_bsuid_text")).status, 200);
  auto by_phone = api_get(std::string("/api/contacts/by-phone?phone=") + kPhone)["contact"];
  EXPECT_EQ(by_phone["id"], ct["id"]) << by_phone.dump();
  EXPECT_EQ(by_phone["waUserId"], kUserId);
  EXPECT_EQ(contact_by_user_id(kUserId)["phone"], kPhone);

  // A new username replaces the old one on the same contact.
  ASSERT_EQ(post_meta(identity_case("username_change")).status, 200);
  EXPECT_EQ(contact_by_user_id(kUserId)["username"], "maria.confeitaria");
  EXPECT_EQ(api_get("/api/conversations?q=gourmet&status=all")["total"], 0);

  // A new business-scoped user id: the same contact, its history kept.
  ASSERT_EQ(post_meta(identity_case("user_changed_user_id")).status, 200);
  expect_error(
      client().get(std::string("/api/contacts/by-user-id?userId=") + kUserId, api_headers()), 404,
      "not_found");
  auto renamed = contact_by_user_id("BR.1502984716399999");
  EXPECT_EQ(renamed["id"], ct["id"]) << renamed.dump();
  EXPECT_EQ(renamed["phone"], kPhone);
  list = all_conversations();
  ASSERT_EQ(list["total"], 1) << list.dump();
  auto msgs = messages_of(list["conversations"][0]["id"]);
  ASSERT_EQ(msgs.size(), 4u) << msgs.dump();
  EXPECT_EQ(msgs[3]["type"], "system");

  // Everything above is in the store: a restart finds the contact by each of its names.
  inboxd_->restart(/*crash=*/true);
  wait_ready();
  EXPECT_EQ(contact_by_user_id("BR.1502984716399999")["id"], ct["id"]);
  EXPECT_EQ(api_get(std::string("/api/contacts/by-phone?phone=") + kPhone)["contact"]["id"],
            ct["id"]);
  // A message by the new user id alone still reaches the same conversation.
  auto later = as_customer(identity_case("bsuid_only_text", 5), "BR.1502984716399999", kPhone);
  ASSERT_EQ(post_meta(later).status, 200);
  EXPECT_EQ(all_conversations()["total"], 1);
  EXPECT_EQ(contact_by_user_id("BR.1502984716399999")["username"], "maria.gourmet");
}

// A customer's first messages arrive at once, some by user id only and some with the phone too:
// whichever the workspace sees first, there is one contact with both names. (All carry the
// fixture's username, which moves from customer to customer: it never joins two of them.)
TEST_F(identity_test, concurrent_first_messages_by_user_id_and_by_phone_make_one_contact) {
  constexpr int kCustomers = 12;
  std::vector<std::thread> threads;
  std::vector<int> statuses(kCustomers * 4, 0);
  for (int c = 0; c < kCustomers; ++c) {
    auto user_id = "BR.77" + std::to_string(1000 + c);
    auto phone = "55119" + std::to_string(10000000 + c);
    for (int k = 0; k < 4; ++k) {
      auto body = as_customer(identity_case(k % 2 ? "phone_and_bsuid_text" : "bsuid_only_text"),
                              user_id, phone)
                      .dump();
      threads.emplace_back(
          [this, body, slot = &statuses[c * 4 + k]] { *slot = post_meta(body).status; });
    }
  }
  for (auto& t : threads)
    t.join();
  for (auto s : statuses)
    EXPECT_EQ(s, 200);
  auto contacts = api_get("/api/contacts?limit=100");
  EXPECT_EQ(contacts["total"], kCustomers) << contacts.dump();
  for (auto& ct : contacts.value("contacts", json::array())) {
    EXPECT_FALSE(ct["phone"].is_null()) << ct.dump();
    EXPECT_FALSE(ct["waUserId"].is_null()) << ct.dump();
  }
  auto list = all_conversations();
  EXPECT_EQ(list["total"], kCustomers);
  for (auto& conv : list.value("conversations", json::array()))
    EXPECT_EQ(conv["unreadCount"], 4) << conv.dump();
}

TEST_F(identity_test, a_contact_without_phone_is_sent_to_by_user_id_and_its_statuses_apply) {
  auto r = client().request("PATCH", "/api/admin/workspaces/" + ws_id_,
                            json{{"send",
                                  {{"baseUrl", "https://127.0.0.1:" + std::to_string(fake_.port())},
                                   {"accessToken", "t"}}}}
                                .dump(),
                            {{"Authorization", std::string("Bearer ") + kAdminToken},
                             {"Content-Type", "application/json"}});
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(post_meta(identity_case("bsuid_only_text")).status, 200);
  auto conv = all_conversations()["conversations"][0]["id"].get<std::string>();
  auto sent = client().post_json("/api/messages/send", {{"conversationId", conv}, {"text", "Oi!"}},
                                 api_headers());
  ASSERT_EQ(sent.status, 202) << sent.body;
  auto id = sent.json()["message"]["id"].get<std::string>();
  ASSERT_TRUE(fake_.wait_for(1, 10s));
  auto wire = json::parse(fake_.requests()[0].body);
  EXPECT_EQ(wire["recipient"], kUserId) << wire.dump();
  EXPECT_FALSE(wire.contains("to")) << wire.dump();

  auto status_of = [&] {
    for (auto& m : messages_of(conv))
      if (m["id"] == id)
        return m.value("status", "");
    return std::string();
  };
  for (int i = 0; i < 100 && status_of() != "sent"; ++i)
    std::this_thread::sleep_for(100ms);
  ASSERT_EQ(status_of(), "sent");
  // Meta's status names the recipient by user id only.
  auto st = fixture_case("identity/meta.json", "status_by_user_id");
  st = replace_strings(st, "<WHATSAPP_MESSAGE_ID>", "wamid.fake.1");
  ASSERT_EQ(post_meta(st).status, 200);
  EXPECT_EQ(status_of(), "delivered");
  EXPECT_EQ(all_conversations()["total"], 1);
}

TEST_F(identity_test, kapso_names_a_contact_by_its_business_scoped_user_id) {
  ASSERT_EQ(post_kapso(fixture_case("identity/kapso.json", "message_received_bsuid_only")).status,
            200);
  auto ct = contact_by_user_id("BR.9918273645546372");
  ASSERT_TRUE(ct.is_object());
  EXPECT_TRUE(ct["phone"].is_null());
  EXPECT_EQ(ct["username"], "joao.bikes");
  EXPECT_EQ(ct["name"], "João Lima");
}

TEST_F(identity_test, bad_user_ids_are_refused_and_store_nothing) {
  auto body = identity_case("bsuid_only_text");
  body["entry"][0]["changes"][0]["value"]["messages"][0]["from_user_id"] = "BR 15029";
  expect_error(post_meta(body), 400, "bad_request");
  EXPECT_EQ(all_conversations()["total"], 0);
  expect_error(client().get("/api/contacts/by-user-id", api_headers()), 400, "bad_request");
  expect_error(
      client().get("/api/contacts/by-user-id?userId=" + std::string(129, 'A'), api_headers()), 400,
      "bad_request");
  expect_error(client().get("/api/contacts/by-user-id?userId=BR.1", api_headers()), 404,
               "not_found");
  expect_error(client().get("/api/contacts/by-user-id?userId=BR.1"), 401, "unauthorized");
}

} // namespace
} // namespace inboxd::test
