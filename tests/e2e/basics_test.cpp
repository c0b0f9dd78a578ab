// End-to-end: operations endpoints, routing errors, request ids, admin API and API keys.

#include <atomic>
#include <chrono>
#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "messages/crypto.hpp"
#include "tests/e2e/e2e_test.hpp"

namespace inboxd::test {
namespace {

using json = nlohmann::json;

TEST_F(e2e_test, healthz_and_readyz) {
  auto h = client().get("/healthz");
  EXPECT_EQ(h.status, 200) << h.body;
  EXPECT_FALSE(h.header("x-request-id").empty());
  auto r = client().get("/readyz");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(e2e_test, readyz_is_503_while_redis_is_down_and_recovers) {
  redis_->stop();
  http_response r;
  for (int i = 0; i < 100; ++i) { // the client notices the lost connection within a few seconds
    r = client().get("/readyz");
    if (r.status == 503)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  expect_error(r, 503, "unavailable");
  EXPECT_EQ(client().get("/healthz").status, 200);
  redis_->start();
  for (int i = 0; i < 300; ++i) { // API.md: service resumes within 30 s
    r = client().get("/readyz");
    if (r.status == 200)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(e2e_test, unknown_route_is_404_with_error_shape) {
  expect_error(client().get("/nope"), 404, "not_found");
  expect_error(client().get("/api/conversations/x/y/z", api_headers()), 404, "not_found");
}

TEST_F(e2e_test, wrong_method_is_405_with_allow_header) {
  auto r = client().request("DELETE", "/api/webhook/whatsapp");
  expect_error(r, 405, "method_not_allowed");
  auto allow = r.header("allow");
  EXPECT_NE(allow.find("GET"), std::string::npos) << allow;
  EXPECT_NE(allow.find("POST"), std::string::npos) << allow;
  expect_error(client().request("POST", "/healthz", "", {}), 405, "method_not_allowed");
}

TEST_F(e2e_test, request_id_is_echoed_when_valid_and_generated_otherwise) {
  auto r = client().get("/healthz", {{"X-Request-Id", "abc-123_x.Y"}});
  EXPECT_EQ(r.header("x-request-id"), "abc-123_x.Y");
  auto bad = client().get("/healthz", {{"X-Request-Id", "has space!"}});
  EXPECT_FALSE(bad.header("x-request-id").empty());
  EXPECT_NE(bad.header("x-request-id"), "has space!");
  std::string too_long(129, 'a');
  auto longer = client().get("/healthz", {{"X-Request-Id", too_long}});
  EXPECT_FALSE(longer.header("x-request-id").empty());
  EXPECT_NE(longer.header("x-request-id"), too_long);
  // Errors carry it too.
  auto e = client().get("/nope", {{"X-Request-Id", "err-1"}});
  EXPECT_EQ(e.header("x-request-id"), "err-1");
}

TEST_F(e2e_test, keep_alive_serves_several_requests_on_one_connection) {
  auto c = client(true);
  for (int i = 0; i < 5; ++i) {
    auto r = c.get("/healthz");
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(c.connected());
  }
  auto l = c.get("/api/conversations", api_headers());
  EXPECT_EQ(l.status, 200) << l.body;
  expect_error(c.get("/nope"), 404, "not_found");
  EXPECT_EQ(c.get("/healthz").status, 200);
}

TEST_F(e2e_test, admin_api_requires_the_admin_token) {
  json body = {{"name", "B"}, {"slug", "b"}, {"phoneNumberId", "2233445566778"}};
  expect_error(client().post_json("/api/admin/workspaces", body), 401, "unauthorized");
  expect_error(
      client().post_json("/api/admin/workspaces", body, {{"Authorization", "Bearer wrong-token"}}),
      401, "unauthorized");
  expect_error(client().post_json("/api/admin/workspaces", body,
                                  {{"Authorization", std::string(kAdminToken)}}),
               401, "unauthorized");
  expect_error(client().get("/api/admin/dead-letters"), 401, "unauthorized");
  // The API key is not an admin credential.
  auto r = client().get("/api/admin/workspaces/" + ws_id_, api_headers());
  EXPECT_TRUE(r.status == 401 || r.status == 403) << r.status << " " << r.body;
}

TEST_F(e2e_test, workspace_is_created_and_read_back_without_secrets) {
  auto r = create_workspace("Beta Store", "beta", "2233445566778",
                            {{"metaAppSecret", "very-secret-app"},
                             {"verifyToken", "very-secret-verify"},
                             {"kapsoWebhookSecret", "very-secret-kapso"}});
  ASSERT_EQ(r.status, 201) << r.body;
  auto ws = r.json();
  EXPECT_EQ(ws.value("name", ""), "Beta Store");
  EXPECT_EQ(ws.value("slug", ""), "beta");
  EXPECT_EQ(ws.value("phoneNumberId", ""), "2233445566778");
  EXPECT_TRUE(ws.contains("createdAt") && ws["createdAt"].is_number_integer()) << r.body;
  EXPECT_TRUE(ws.contains("sendConfigured")) << r.body;
  auto id = ws.value("id", "");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(r.body.find("very-secret"), std::string::npos) << r.body;

  auto g = client().get("/api/admin/workspaces/" + id, admin_headers());
  ASSERT_EQ(g.status, 200) << g.body;
  EXPECT_EQ(g.json().value("id", ""), id);
  EXPECT_EQ(g.json().value("slug", ""), "beta");
  EXPECT_EQ(g.body.find("very-secret"), std::string::npos) << g.body;

  expect_error(client().get("/api/admin/workspaces/ws_doesnotexist", admin_headers()), 404,
               "not_found");
}

// The directory handles one create or patch at a time: requests that overlap are each checked
// and applied against what the previous ones stored.
TEST_F(e2e_test, overlapping_creates_and_patches_neither_duplicate_nor_lose_anything) {
  constexpr int n = 8;
  std::atomic<int> created{0}, conflicts{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      auto r = create_workspace("Race", "race", "99900" + std::to_string(i));
      created += r.status == 201;
      conflicts += r.status == 409;
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(created, 1);
  EXPECT_EQ(conflicts, n - 1);
  EXPECT_EQ(redis_->cli("HLEN {inboxd}:ws"), "2\n");
  EXPECT_EQ(redis_->cli("HLEN {inboxd}:ws:slug"), "2\n");
  EXPECT_EQ(redis_->cli("HLEN {inboxd}:ws:pid"), "2\n");

  // Patches of different fields at once: each keeps the others' changes.
  const std::vector<json> patches = {{{"name", "Renamed"}},
                                     {{"displayPhoneNumber", "+1 555 0100"}},
                                     {{"defaultMode", "ai"}},
                                     {{"slug", "acme-2"}}};
  threads.clear();
  std::atomic<int> ok{0};
  for (auto& p : patches)
    threads.emplace_back([&, p] {
      auto r = client().request("PATCH", "/api/admin/workspaces/" + ws_id_, p.dump(),
                                {{"Authorization", std::string("Bearer ") + kAdminToken},
                                 {"Content-Type", "application/json"}});
      ok += r.status == 200;
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(ok, static_cast<int>(patches.size()));
  auto ws = client().get("/api/admin/workspaces/" + ws_id_, admin_headers()).json();
  EXPECT_EQ(ws["name"], "Renamed") << ws.dump();
  EXPECT_EQ(ws["displayPhoneNumber"], "+1 555 0100") << ws.dump();
  EXPECT_EQ(ws["defaultMode"], "ai") << ws.dump();
  EXPECT_EQ(ws["slug"], "acme-2") << ws.dump();
  auto stored = json::parse(redis_->cli("HGET {inboxd}:ws " + ws_id_));
  EXPECT_EQ(stored["name"], "Renamed");
  EXPECT_EQ(stored["displayPhoneNumber"], "+1 555 0100");
  EXPECT_EQ(stored["defaultMode"], "ai");
  EXPECT_EQ(stored["slug"], "acme-2");
}

TEST_F(e2e_test, workspace_slug_and_phone_number_id_are_unique) {
  expect_error(create_workspace("Other", "acme", "9988776655443"), 409, "conflict");
  expect_error(create_workspace("Other", "other", kPhoneNumberId), 409, "conflict");
  EXPECT_EQ(create_workspace("Other", "other", "9988776655443").status, 201);
}

TEST_F(e2e_test, workspace_create_rejects_bad_bodies) {
  auto c = client();
  expect_error(c.request("POST", "/api/admin/workspaces", R"({"name":"x"})",
                         {{"Content-Type", "text/plain"}, admin_headers()[0]}),
               415, "unsupported_media_type");
  expect_error(
      client().post_json("/api/admin/workspaces", std::string_view("{nope"), admin_headers()), 400,
      "bad_request");
  expect_error(
      client().post_json("/api/admin/workspaces", std::string_view("[1,2]"), admin_headers()), 400,
      "bad_request");
  auto missing = client().post_json("/api/admin/workspaces", json{{"name", "x"}}, admin_headers());
  EXPECT_TRUE(missing.status == 400 || missing.status == 422) << missing.status << missing.body;
}

TEST_F(e2e_test, api_key_is_required_and_revocable) {
  expect_error(client().get("/api/conversations"), 401, "unauthorized");
  expect_error(client().get("/api/conversations", {{"X-API-Key", "nonsense"}}), 401,
               "unauthorized");
  expect_error(client().get("/api/conversations", {{"X-API-Key", api_key_ + "x"}}), 401,
               "unauthorized");
  EXPECT_EQ(client().get("/api/conversations", api_headers()).status, 200);

  auto d =
      client().request("DELETE", "/api/admin/workspaces/" + ws_id_ + "/api-keys/" + api_key_id_, {},
                       admin_headers());
  EXPECT_EQ(d.status, 204) << d.body;
  expect_error(client().get("/api/conversations", api_headers()), 401, "unauthorized");
}

// API.md "Scale-out": a key is ibx_<workspaceId>_<secret>, so a balancer can route by it. Keys
// of the earlier form ibx.<workspaceId>.<keyId>.<secret>, stored before, keep working.
TEST_F(e2e_test, api_keys_name_their_workspace_and_earlier_keys_still_work) {
  ASSERT_EQ(api_key_.rfind("ibx_" + ws_id_ + "_", 0), 0u) << api_key_;
  auto secret = api_key_.substr(4 + ws_id_.size() + 1);
  EXPECT_EQ(secret.size(), 48u) << api_key_;
  EXPECT_EQ(secret.find_first_not_of("0123456789abcdef"), std::string::npos) << api_key_;
  // The same secret under another workspace's id names that workspace, where it is no key.
  auto other = create_workspace("Other", "other", "109876543210");
  ASSERT_EQ(other.status, 201) << other.body;
  auto other_id = other.json().at("id").get<std::string>();
  expect_error(
      client().get("/api/conversations", {{"X-API-Key", "ibx_" + other_id + "_" + secret}}), 401,
      "unauthorized");
  expect_error(client().get("/api/conversations", {{"X-API-Key", "ibx__" + secret}}), 401,
               "unauthorized");

  // An earlier key, as it was stored (by the SHA-256 of the whole key), seen after a restart.
  auto old_key = "ibx." + ws_id_ + ".key_earlier." + std::string(48, 'a');
  EXPECT_EQ(redis_->cli("HSET {ws:" + ws_id_ + "}:apikeys key_earlier " + sha256_hex(old_key)),
            "1\n");
  EXPECT_EQ(inboxd_->stop(), 0) << inboxd_->log();
  inboxd_ = std::make_unique<inboxd_process>(base_env());
  wait_ready();
  EXPECT_EQ(client().get("/api/conversations", {{"X-API-Key", old_key}}).status, 200);
  expect_error(client().get("/api/conversations", {{"X-API-Key", old_key + "b"}}), 401,
               "unauthorized");
  EXPECT_EQ(client().get("/api/conversations", api_headers()).status, 200);
}

TEST_F(e2e_test, empty_workspace_lists_are_empty) {
  auto l = api_get("/api/conversations");
  EXPECT_EQ(l.value("total", -1), 0) << l.dump();
  EXPECT_TRUE(l["conversations"].is_array() && l["conversations"].empty()) << l.dump();
  EXPECT_EQ(l.value("page", -1), 1);
  EXPECT_EQ(l.value("limit", -1), 25);
  ASSERT_TRUE(l.contains("counts")) << l.dump();
  EXPECT_EQ(l["counts"].value("all", -1), 0);
  auto c = api_get("/api/contacts");
  EXPECT_EQ(c.value("total", -1), 0) << c.dump();
  expect_error(client().get("/api/contacts/by-phone?phone=972987654321", api_headers()), 404,
               "not_found");
  expect_error(client().get("/api/conversations/cv_nope", api_headers()), 404, "not_found");
}

TEST_F(e2e_test, list_parameters_are_validated) {
  for (auto target :
       {"/api/conversations?limit=101", "/api/conversations?limit=0",
        "/api/conversations?limit=abc", "/api/conversations?status=bogus",
        "/api/conversations?mode=robot", "/api/conversations?page=0", "/api/contacts?limit=1000"})
    expect_error(client().get(target, api_headers()), 400, "bad_request");
  EXPECT_EQ(client().get("/api/conversations?limit=100", api_headers()).status, 200);
}

TEST_F(e2e_test, sigterm_stops_cleanly_with_exit_code_zero) {
  EXPECT_EQ(client().get("/healthz").status, 200);
  // A live conversation actor (and the workspace's outbound actor) must stop with the rest.
  auto body = with_unique_wamids(fixture_case("meta/message.json", "text"));
  ASSERT_EQ(post_meta(body.dump()).status, 200);
  EXPECT_EQ(inboxd_->stop(), 0) << inboxd_->log();
}

} // namespace
} // namespace inboxd::test
