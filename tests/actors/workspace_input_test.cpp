#include "actors/workspace_input.hpp"

#include <gtest/gtest.h>

using namespace inboxd;

TEST(workspace_input, create_requires_fields) {
  workspace ws;
  input_error err;
  EXPECT_TRUE(apply_workspace_input(
    {{"name", "Acme"}, {"slug", "acme"}, {"phoneNumberId", "1122334455667"}}, true, ws, err));
  EXPECT_EQ(ws.default_mode, "human");
  workspace w2;
  EXPECT_FALSE(apply_workspace_input({{"name", "Acme"}, {"slug", "acme"}}, true, w2, err));
  EXPECT_EQ(err.code, api_error::unprocessable);
  EXPECT_FALSE(apply_workspace_input({{"name", 5}}, true, w2, err));
  EXPECT_EQ(err.code, api_error::bad_request);
  EXPECT_FALSE(apply_workspace_input(nlohmann::json::array(), true, w2, err));
  EXPECT_EQ(err.code, api_error::bad_request);
  EXPECT_FALSE(apply_workspace_input(
    {{"name", "A"}, {"slug", "Bad Slug"}, {"phoneNumberId", "1"}}, true, w2, err));
  EXPECT_EQ(err.code, api_error::unprocessable);
}

TEST(workspace_input, patch_keeps_unnamed_fields_and_checks_send) {
  workspace ws;
  ws.name = "Acme";
  ws.slug = "acme";
  ws.phone_number_id = "1";
  input_error err;
  ASSERT_TRUE(apply_workspace_input({{"defaultMode", "ai"}, {"metaAppSecret", "s"}}, false, ws, err));
  EXPECT_EQ(ws.slug, "acme");
  EXPECT_EQ(ws.default_mode, "ai");
  EXPECT_EQ(ws.meta_app_secret, "s");
  EXPECT_FALSE(apply_workspace_input({{"defaultMode", "robot"}}, false, ws, err));
  EXPECT_FALSE(apply_workspace_input({{"send", {{"baseUrl", "ftp://x"}, {"apiKey", "k"}}}}, false,
                                     ws, err));
  EXPECT_FALSE(apply_workspace_input(
    {{"send", {{"baseUrl", "https://graph.facebook.com"}, {"apiKey", "k"}, {"accessToken", "t"}}}},
    false, ws, err));
  ASSERT_TRUE(apply_workspace_input(
    {{"send", {{"baseUrl", "https://graph.facebook.com"}, {"accessToken", "t"}}}}, false, ws, err));
  EXPECT_TRUE(ws.send.configured());
  EXPECT_EQ(workspace_api(ws).dump().find("\"t\""), std::string::npos); // secrets never shown
}

TEST(workspace_input, retention_days_is_a_day_count_or_null) {
  workspace ws;
  input_error err;
  ASSERT_TRUE(apply_workspace_input({{"retentionDays", 30}}, false, ws, err));
  EXPECT_EQ(ws.retention_days, 30);
  EXPECT_EQ(workspace_api(ws)["retentionDays"], 30);
  nlohmann::json stored = ws;
  EXPECT_EQ(stored.get<workspace>().retention_days, 30) << "stored with the workspace";
  EXPECT_FALSE(apply_workspace_input({{"retentionDays", "30"}}, false, ws, err));
  EXPECT_EQ(err.code, api_error::bad_request);
  EXPECT_FALSE(apply_workspace_input({{"retentionDays", 1.5}}, false, ws, err));
  EXPECT_EQ(err.code, api_error::bad_request);
  for (auto bad : {0, -1, 36501}) {
    EXPECT_FALSE(apply_workspace_input({{"retentionDays", bad}}, false, ws, err)) << bad;
    EXPECT_EQ(err.code, api_error::unprocessable);
  }
  EXPECT_EQ(ws.retention_days, 30) << "a refused value changes nothing";
  ASSERT_TRUE(apply_workspace_input({{"retentionDays", nullptr}}, false, ws, err));
  EXPECT_EQ(ws.retention_days, 0);
  EXPECT_TRUE(workspace_api(ws)["retentionDays"].is_null());
}
