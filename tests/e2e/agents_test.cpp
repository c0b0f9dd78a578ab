// End-to-end: agents act on conversations — user tokens (HS256 JWT), membership and roles,
// assignment, handover, read state, status, tags and contact edits — against the real binary.

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "http/jwt.hpp"
#include "messages/crypto.hpp"
#include "tests/e2e/e2e_test.hpp"

namespace inboxd::test {
namespace {

using json = nlohmann::json;
constexpr const char* kJwtSecret = "e2e-jwt-secret";

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

std::string jwt(const json& payload, const std::string& secret = kJwtSecret,
                const json& header = {{"alg", "HS256"}, {"typ", "JWT"}}) {
  auto head = base64url_encode(header.dump()) + "." + base64url_encode(payload.dump());
  return head + "." + base64url_encode(hmac_sha256_raw(secret, head));
}

std::string token_for(const std::string& user) {
  return jwt({{"sub", user}, {"exp", now_s() + 3600}, {"role", "authenticated"}});
}

json text_from(const std::string& phone, const std::string& body, int64_t ts) {
  auto b = with_unique_wamids(fixture_case("meta/message.json", "text"));
  auto& v = b["entry"][0]["changes"][0]["value"];
  v["contacts"][0]["wa_id"] = phone;
  v["contacts"][0].erase("user_id"); // the fixture's user id is one person's
  v["messages"][0]["from"] = phone;
  v["messages"][0]["text"]["body"] = body;
  v["messages"][0]["timestamp"] = std::to_string(ts);
  return b;
}

class agents_test : public e2e_test {
protected:
  void SetUp() override {
    e2e_test::SetUp();
    inboxd_->stop();
    inboxd_->set_env("INBOXD_JWT_SECRET", kJwtSecret);
    // The model test below makes 2,000 requests in a row; under ASan on a loaded 2-core CI
    // machine one once took over the default 2 s deadline (a 503). Nothing here tests that
    // deadline, and a reply that never comes still fails (503 after 10 s).
    inboxd_->set_env("INBOXD_REQUEST_TIMEOUT_MS", "10000");
    inboxd_->start();
    wait_ready();
    put_member("owner-1", "owner");
    put_member("admin-1", "admin");
    put_member("agent-1", "agent");
    put_member("agent-2", "agent");
  }

  void put_member(const std::string& user, const std::string& role) {
    auto r = client().request("PUT", "/api/admin/workspaces/" + ws_id_ + "/members/" + user,
                              json{{"role", role}}.dump(),
                              {{"Authorization", std::string("Bearer ") + kAdminToken},
                               {"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()["role"], role);
  }

  header_list as_user(const std::string& user) const {
    return {{"Authorization", "Bearer " + token_for(user)}, {"X-Workspace-Id", ws_id_}};
  }

  header_list with_json(header_list h) const {
    h.emplace_back("Content-Type", "application/json");
    return h;
  }

  // A conversation from a fresh contact; returns its id.
  std::string new_conversation(const std::string& phone = "5511900000001") {
    auto r = post_meta(text_from(phone, "hello", now_s()).dump());
    EXPECT_EQ(r.status, 200) << r.body;
    auto list = api_get("/api/conversations?status=all&limit=100&q=" + phone);
    EXPECT_EQ(list["conversations"].size(), 1u) << list.dump();
    return list["conversations"][0]["id"];
  }

  http_response act(const std::string& user, const std::string& conv, const std::string& action,
                    const json& body, const std::string& method = "POST") {
    return client().request(method, "/api/conversations/" + conv + "/" + action,
                            body.is_null() ? "" : body.dump(),
                            body.is_null() ? as_user(user) : with_json(as_user(user)));
  }
};

TEST_F(agents_test, token_cases) {
  auto conv = new_conversation();
  auto get = [&](const std::string& token, const std::string& ws) {
    header_list h{{"Authorization", "Bearer " + token}};
    if (!ws.empty())
      h.emplace_back("X-Workspace-Id", ws);
    return client().get("/api/conversations/" + conv, h);
  };
  auto assign_with = [&](const std::string& token) {
    return client().request("POST", "/api/conversations/" + conv + "/assign",
                            json{{"assignedTo", "agent-1"}}.dump(),
                            {{"Authorization", "Bearer " + token},
                             {"X-Workspace-Id", ws_id_},
                             {"Content-Type", "application/json"}});
  };
  EXPECT_EQ(get(token_for("agent-1"), ws_id_).status, 200);
  EXPECT_EQ(get(token_for("agent-1"), "acme").status, 200) << "workspace by slug";
  auto via_query = client().get("/api/conversations/" + conv + "?workspace=acme",
                                {{"Authorization", "Bearer " + token_for("agent-1")}});
  EXPECT_EQ(via_query.status, 200) << via_query.body;
  expect_error(get(token_for("agent-1"), ""), 400, "bad_request");
  struct bad_case {
    const char* name;
    std::string token;
    int status;
  };
  auto valid_payload = [](json extra) {
    json p{{"sub", "agent-1"}, {"exp", now_s() + 3600}};
    p.update(extra);
    return p;
  };
  std::vector<bad_case> cases = {
    {"expired", jwt(valid_payload({{"exp", now_s() - 10}})), 401},
    {"not yet valid", jwt(valid_payload({{"nbf", now_s() + 600}})), 401},
    {"wrong secret", jwt(valid_payload(json::object()), "other-secret"), 401},
    {"alg none", jwt(valid_payload(json::object()), kJwtSecret, {{"alg", "none"}}), 401},
    {"alg none unsigned",
     base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(valid_payload(json::object()).dump()) + ".",
     401},
    {"HS512", jwt(valid_payload(json::object()), kJwtSecret, {{"alg", "HS512"}}), 401},
    {"two segments", "abc.def", 401},
    {"bad base64", "!!.@@.##", 401},
    {"non-JSON", base64url_encode("nope") + "." + base64url_encode("nope") + ".sig", 401},
    {"missing sub", jwt({{"exp", now_s() + 3600}}), 401},
    {"not a member", token_for("stranger"), 403},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = get(c.token, ws_id_);
    expect_error(r, c.status, c.status == 401 ? "unauthorized" : "forbidden");
    auto w = assign_with(c.token);
    EXPECT_EQ(w.status, c.status) << w.body;
  }
  // Member removed mid-session: the next request is refused.
  EXPECT_EQ(assign_with(token_for("agent-1")).status, 200);
  auto del = client().request("DELETE", "/api/admin/workspaces/" + ws_id_ + "/members/agent-1", "",
                              admin_headers());
  EXPECT_EQ(del.status, 204) << del.body;
  expect_error(get(token_for("agent-1"), ws_id_), 403, "forbidden");
  EXPECT_EQ(act("agent-1", conv, "status", {{"status", "closed"}}).status, 403);
  // Nothing the refused requests tried was applied.
  auto cv = api_get("/api/conversations/" + conv);
  EXPECT_EQ(cv["assignedTo"], "agent-1");
  EXPECT_EQ(cv["status"], "open");
  auto members = client().get("/api/admin/workspaces/" + ws_id_ + "/members", admin_headers()).json();
  EXPECT_EQ(members["members"].size(), 3u) << members.dump();
}

// GET /api/members: any member (agents too) and any API key of the workspace read who
// conversations can be assigned to; others are refused; it follows the admin API's changes.
TEST_F(agents_test, members_are_listed_for_agents_and_api_keys) {
  auto ids_roles = [](const http_response& r) {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto& m : r.json().value("members", json::array()))
      out.emplace_back(m.value("userId", ""), m.value("role", ""));
    return out;
  };
  std::vector<std::pair<std::string, std::string>> all = {
      {"admin-1", "admin"}, {"agent-1", "agent"}, {"agent-2", "agent"}, {"owner-1", "owner"}};
  for (auto& h : {as_user("agent-2"), as_user("owner-1"), api_headers()}) {
    auto r = client().get("/api/members", h);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(ids_roles(r), all) << r.body;
    auto body = r.json();
    for (auto& m : body["members"])
      EXPECT_TRUE(m.contains("createdAt")) << m.dump();
  }
  expect_error(client().get("/api/members", as_user("stranger")), 403, "forbidden");
  expect_error(client().get("/api/members", {{"X-API-Key", "ibx_" + ws_id_ + "_nope"}}), 401,
               "unauthorized");
  expect_error(client().get("/api/members", {}), 401, "unauthorized");
  // An admin change shows at once.
  auto del = client().request("DELETE", "/api/admin/workspaces/" + ws_id_ + "/members/agent-1", "",
                              admin_headers());
  ASSERT_EQ(del.status, 204) << del.body;
  put_member("agent-3", "agent");
  auto r = client().get("/api/members", as_user("agent-2"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(
      ids_roles(r),
      (std::vector<std::pair<std::string, std::string>>{
          {"admin-1", "admin"}, {"agent-2", "agent"}, {"agent-3", "agent"}, {"owner-1", "owner"}}))
      << r.body;
}

// Memory changes only after Redis acknowledged: a removal Redis refused (503) leaves the member
// and the API key working, as they are still stored.
TEST_F(agents_test, a_removal_that_was_not_stored_changes_nothing) {
  auto member_path = "/api/admin/workspaces/" + ws_id_ + "/members/agent-1";
  auto key_path = "/api/admin/workspaces/" + ws_id_ + "/api-keys/" + api_key_id_;
  redis_->stop();
  expect_error(client().request("DELETE", member_path, "", admin_headers()), 503, "unavailable");
  expect_error(client().request("DELETE", key_path, "", admin_headers()), 503, "unavailable");
  redis_->start();
  wait_ready();
  auto members = client().get("/api/admin/workspaces/" + ws_id_ + "/members", admin_headers());
  ASSERT_EQ(members.status, 200) << members.body;
  EXPECT_EQ(members.json()["members"].size(), 4u) << members.body;
  auto as_agent = client().get("/api/conversations?status=all", as_user("agent-1"));
  EXPECT_EQ(as_agent.status, 200) << as_agent.body;
  EXPECT_EQ(client().get("/api/conversations?status=all", api_headers()).status, 200);
  // Stored, the removals take effect for the next request.
  EXPECT_EQ(client().request("DELETE", member_path, "", admin_headers()).status, 204);
  EXPECT_EQ(client().get("/api/conversations?status=all", as_user("agent-1")).status, 403);
  EXPECT_EQ(client().request("DELETE", key_path, "", admin_headers()).status, 204);
  EXPECT_EQ(client().get("/api/conversations?status=all", api_headers()).status, 401);
  // After a restart (everything read back from Redis) the same holds.
  inboxd_->restart();
  wait_ready();
  members = client().get("/api/admin/workspaces/" + ws_id_ + "/members", admin_headers());
  EXPECT_EQ(members.json()["members"].size(), 3u) << members.body;
  EXPECT_EQ(client().get("/api/conversations?status=all", api_headers()).status, 401);
}

TEST_F(agents_test, role_cases) {
  auto conv = new_conversation();
  auto r = act("agent-1", conv, "assign", {{"assignedTo", "agent-1"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["assignedTo"], "agent-1");
  expect_error(act("agent-1", conv, "assign", {{"assignedTo", "agent-2"}}), 403, "forbidden");
  expect_error(act("agent-2", conv, "assign", {{"assignedTo", nullptr}}), 403, "forbidden");
  r = act("admin-1", conv, "assign", {{"assignedTo", "agent-2"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["assignedTo"], "agent-2");
  expect_error(act("admin-1", conv, "assign", {{"assignedTo", "nobody"}}), 422, "unprocessable");
  r = act("agent-2", conv, "assign", {{"assignedTo", nullptr}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.json()["assignedTo"].is_null());
  // API keys act as admin.
  auto k = client().request("POST", "/api/conversations/" + conv + "/assign",
                            json{{"assignedTo", "owner-1"}}.dump(),
                            {{"X-API-Key", api_key_}, {"Content-Type", "application/json"}});
  EXPECT_EQ(k.status, 200) << k.body;
}

TEST_F(agents_test, actions_and_validation) {
  auto conv = new_conversation();
  auto r = act("agent-1", conv, "handover", {{"mode", "ai"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["mode"], "ai");
  expect_error(act("agent-1", conv, "handover", {{"mode", "robot"}}), 422, "unprocessable");
  expect_error(act("agent-1", conv, "handover", {{"mode", 5}}), 400, "bad_request");
  expect_error(act("agent-1", conv, "status", json::array()), 400, "bad_request");
  r = act("agent-1", conv, "status", {{"status", "closed"}});
  EXPECT_EQ(r.json()["status"], "closed");
  r = act("agent-1", conv, "tags", {{"tags", {"vip", "br", "vip"}}}, "PUT");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["tags"], json({"vip", "br"}));
  expect_error(act("agent-1", conv, "tags", {{"tags", {1}}}, "PUT"), 400, "bad_request");
  EXPECT_EQ(api_get("/api/conversations?tags=vip,br&status=closed")["total"], 1);
  // Unread counts inbound messages; read clears it and marks them read.
  EXPECT_EQ(api_get("/api/conversations/" + conv)["unreadCount"], 1);
  r = act("agent-1", conv, "read", nullptr);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["unreadCount"], 0);
  auto msgs = api_get("/api/conversations/" + conv + "/messages")["messages"];
  EXPECT_EQ(msgs[0]["status"], "read") << msgs.dump();
  // The contact writes again: the closed conversation reopens and counts one unread.
  ASSERT_EQ(post_meta(text_from("5511900000001", "again", now_s()).dump()).status, 200);
  auto cv = api_get("/api/conversations/" + conv);
  EXPECT_EQ(cv["status"], "open");
  EXPECT_EQ(cv["unreadCount"], 1);
  // Contact edits.
  auto contact_id = api_get("/api/contacts/by-phone?phone=5511900000001")["contact"]["id"];
  auto p = client().request("PATCH", "/api/contacts/" + contact_id.get<std::string>(),
                            json{{"name", "Ana (VIP)"}, {"tags", {"lead"}}}.dump(),
                            with_json(as_user("agent-1")));
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(p.json()["name"], "Ana (VIP)");
  EXPECT_EQ(p.json()["profileName"], "Test Name");
  EXPECT_EQ(api_get("/api/conversations/" + conv)["contact"]["name"], "Ana (VIP)");
  p = client().request("PATCH", "/api/contacts/" + contact_id.get<std::string>(),
                       json{{"name", nullptr}}.dump(), with_json(as_user("agent-1")));
  EXPECT_EQ(p.json()["name"], "Test Name");
  expect_error(client().request("PATCH", "/api/contacts/ct_nope", json{{"name", "x"}}.dump(),
                                with_json(as_user("agent-1"))),
               404, "not_found");
}

TEST_F(agents_test, another_workspace_sees_nothing) {
  auto conv = new_conversation();
  auto other = create_workspace("Other", "other", "999000111");
  ASSERT_EQ(other.status, 201);
  auto other_id = other.json()["id"].get<std::string>();
  auto key = create_api_key(other_id).json()["key"].get<std::string>();
  header_list h{{"X-API-Key", key}, {"Content-Type", "application/json"}};
  expect_error(client().get("/api/conversations/" + conv, h), 404, "not_found");
  expect_error(client().request("POST", "/api/conversations/" + conv + "/status",
                                json{{"status", "closed"}}.dump(), h),
               404, "not_found");
  expect_error(client().request("POST", "/api/conversations/" + conv + "/read", "", h), 404,
               "not_found");
  // A member of workspace A naming workspace B is not a member there.
  auto r = client().get("/api/conversations/" + conv,
                        {{"Authorization", "Bearer " + token_for("agent-1")},
                         {"X-Workspace-Id", other_id}});
  expect_error(r, 403, "forbidden");
  EXPECT_EQ(api_get("/api/conversations/" + conv)["status"], "open");
}

// 100 concurrent actions on one conversation while webhooks for it arrive: nothing is lost and
// the final state is the one the conversation actor applied last.
TEST_F(agents_test, concurrent_actions_and_webhooks_on_one_conversation) {
  auto conv = new_conversation("5511900000009");
  constexpr int kThreads = 10, kPerThread = 10, kWebhooks = 30;
  std::mutex mtx;
  std::vector<json> results; // responses of successful actions
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        http_response r;
        switch ((t + i) % 4) {
          case 0: r = act("admin-1", conv, "assign", {{"assignedTo", (i % 2) ? "agent-1" : "agent-2"}}); break;
          case 1: r = act("admin-1", conv, "handover", {{"mode", (i % 2) ? "ai" : "human"}}); break;
          case 2: r = act("admin-1", conv, "status", {{"status", (i % 2) ? "pending" : "open"}}); break;
          default: r = act("admin-1", conv, "read", nullptr); break;
        }
        std::lock_guard<std::mutex> g(mtx);
        if (r.status == 200)
          results.push_back(r.json());
        else
          ++failures;
      }
    });
  std::thread hooks([&] {
    for (int i = 0; i < kWebhooks; ++i)
      if (post_meta(text_from("5511900000009", "w" + std::to_string(i), now_s()).dump()).status != 200)
        ++failures;
  });
  for (auto& t : threads)
    t.join();
  hooks.join();
  ASSERT_EQ(failures.load(), 0);
  ASSERT_EQ(results.size(), static_cast<size_t>(kThreads * kPerThread));
  auto final_state = api_get("/api/conversations/" + conv);
  // The final value of each field is the one of the latest response (by updatedAt) that set it.
  for (auto field : {"assignedTo", "mode"}) {
    int64_t latest = -1;
    std::set<std::string> candidates;
    for (auto& r : results) {
      auto at = r["updatedAt"].get<int64_t>();
      if (at > latest) {
        latest = at;
        candidates.clear();
      }
      if (at == latest)
        candidates.insert(r[field].dump());
    }
    EXPECT_TRUE(candidates.count(final_state[field].dump()))
      << field << " " << final_state.dump();
  }
  // Nothing lost: every webhook stored, and unread = inbound messages not yet read.
  auto msgs = api_get("/api/conversations/" + conv + "/messages?limit=100")["messages"];
  EXPECT_EQ(msgs.size(), static_cast<size_t>(kWebhooks + 1));
  int received = 0;
  for (auto& m : msgs)
    received += m["status"] == "received";
  EXPECT_EQ(final_state["unreadCount"], received) << final_state.dump();
}

// A randomized sequence of 1,000 operations over a few conversations: after each step the list
// endpoint's filters and counts equal those of a simple model.
TEST_F(agents_test, filters_and_counts_match_a_model_over_random_operations) {
  struct model_conv {
    std::string id, assigned, mode = "human", status = "open";
    std::set<std::string> tags;
  };
  std::vector<model_conv> convs;
  for (int i = 0; i < 6; ++i)
    convs.push_back({new_conversation("55119000001" + std::to_string(i)), "", "human", "open", {}});
  std::mt19937 rng(12345);
  const std::vector<std::string> users = {"agent-1", "agent-2", "admin-1"};
  const std::vector<std::string> all_tags = {"a", "b", "c"};
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  auto check = [&](int step) {
    std::string status = std::vector<std::string>{"open", "pending", "closed", "all"}[pick(4)];
    std::string mode = std::vector<std::string>{"", "ai", "human"}[pick(3)];
    std::string assigned = std::vector<std::string>{"", "me", "unassigned", "agent-2"}[pick(4)];
    std::string tag = std::vector<std::string>{"", "a", "b"}[pick(3)];
    std::string q = "/api/conversations?limit=100&status=" + status;
    if (!mode.empty()) q += "&mode=" + mode;
    if (!assigned.empty()) q += "&assignedTo=" + assigned;
    if (!tag.empty()) q += "&tags=" + tag;
    auto r = client().get(q, as_user("agent-1"));
    ASSERT_EQ(r.status, 200) << r.body;
    auto got = r.json();
    int all = 0, mine = 0, unassigned = 0;
    std::set<std::string> expected;
    for (auto& c : convs) {
      if (status != "all" && c.status != status) continue;
      if (!mode.empty() && c.mode != mode) continue;
      if (!tag.empty() && !c.tags.count(tag)) continue;
      ++all;
      mine += c.assigned == "agent-1";
      unassigned += c.assigned.empty();
      if (assigned == "me" && c.assigned != "agent-1") continue;
      if (assigned == "unassigned" && !c.assigned.empty()) continue;
      if (assigned == "agent-2" && c.assigned != "agent-2") continue;
      expected.insert(c.id);
    }
    std::set<std::string> ids;
    for (auto& c : got["conversations"])
      ids.insert(c["id"]);
    ASSERT_EQ(ids, expected) << "step " << step << " " << q;
    ASSERT_EQ(got["total"], expected.size()) << q;
    ASSERT_EQ(got["counts"]["all"], all) << q;
    ASSERT_EQ(got["counts"]["mine"], mine) << q;
    ASSERT_EQ(got["counts"]["unassigned"], unassigned) << q;
  };
  for (int step = 0; step < 1000; ++step) {
    auto& c = convs[pick(convs.size())];
    http_response r;
    switch (pick(4)) {
      case 0: {
        bool none = pick(4) == 0;
        auto who = users[pick(users.size())];
        r = act("admin-1", c.id, "assign", {{"assignedTo", none ? json(nullptr) : json(who)}});
        c.assigned = none ? "" : who;
        break;
      }
      case 1:
        c.mode = pick(2) ? "ai" : "human";
        r = act("admin-1", c.id, "handover", {{"mode", c.mode}});
        break;
      case 2:
        c.status = std::vector<std::string>{"open", "pending", "closed"}[pick(3)];
        r = act("admin-1", c.id, "status", {{"status", c.status}});
        break;
      default: {
        c.tags.clear();
        for (auto& t : all_tags)
          if (pick(2))
            c.tags.insert(t);
        r = act("admin-1", c.id, "tags", {{"tags", std::vector<std::string>(c.tags.begin(), c.tags.end())}}, "PUT");
        break;
      }
    }
    ASSERT_EQ(r.status, 200) << r.body;
    check(step);
    if (HasFatalFailure())
      return;
  }
}

} // namespace
} // namespace inboxd::test
