#include "http/router.hpp"

#include <gtest/gtest.h>

#include "http/query_string.hpp"

using namespace inboxd;

TEST(router, matches_routes_and_params) {
  auto m = match_route("GET", "/api/conversations/cv_1/messages");
  EXPECT_EQ(m.which, route::messages_list);
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0], "cv_1");
  EXPECT_EQ(match_route("GET", "/api/contacts/by-phone").which, route::contact_by_phone);
  auto k = match_route("DELETE", "/api/admin/workspaces/ws_1/api-keys/key_2");
  EXPECT_EQ(k.which, route::admin_key_delete);
  EXPECT_EQ(k.params, (std::vector<std::string>{"ws_1", "key_2"}));
  auto w = match_route("POST", "/api/webhook/whatsapp/1122334455667");
  EXPECT_EQ(w.which, route::wa_webhook);
  EXPECT_EQ(w.params, (std::vector<std::string>{"1122334455667"}));
  EXPECT_EQ(match_route("GET", "/api/webhook/whatsapp/1122334455667").which, route::wa_verify);
  EXPECT_EQ(match_route("POST", "/api/webhook/whatsapp").which, route::wa_webhook);
}

TEST(router, unknown_and_wrong_method) {
  EXPECT_EQ(match_route("GET", "/nope").which, route::not_found);
  EXPECT_EQ(match_route("GET", "").which, route::not_found);
  EXPECT_EQ(match_route("GET", "/api/conversations//messages").which, route::not_found);
  auto m = match_route("DELETE", "/api/webhook/whatsapp");
  EXPECT_EQ(m.which, route::method_not_allowed);
  EXPECT_EQ(m.allowed, "GET, POST");
  EXPECT_EQ(match_route("GET", "/api/conversations/cv_1/messages/").which, route::not_found);
  EXPECT_EQ(match_route("GET", "/a/b/c/d/e/f/g/h/i/j/k/l").which, route::not_found);
  EXPECT_EQ(match_route("GET", "/api/conversations/cv_1/messages/x/y/z/w/v").which,
            route::not_found);
  // A wrong method after a partial match keeps no parameters of the pattern it tried.
  auto p = match_route("PUT", "/api/admin/workspaces/ws_1");
  EXPECT_EQ(p.which, route::method_not_allowed);
  EXPECT_TRUE(p.params.empty());
}

TEST(query_string, decodes) {
  std::map<std::string, std::string> q;
  ASSERT_TRUE(parse_query("a=1&b=x+y&c=%2B55&hub.challenge=abc&&empty=", q));
  EXPECT_EQ(q["a"], "1");
  EXPECT_EQ(q["b"], "x y");
  EXPECT_EQ(q["c"], "+55");
  EXPECT_EQ(q["hub.challenge"], "abc");
  EXPECT_EQ(q["empty"], "");
  std::map<std::string, std::string> bad;
  EXPECT_FALSE(parse_query("a=%4", bad));
  EXPECT_FALSE(parse_query("a=%zz", bad));
}

TEST(router, web_inbox_routes) {
  auto index = match_route("GET", "/");
  EXPECT_EQ(index.which, route::web_index);
  EXPECT_STREQ(route_name(route::web_index), "web_index");
  auto file = match_route("GET", "/app/main.js");
  EXPECT_EQ(file.which, route::web_file);
  ASSERT_EQ(file.params.size(), 1u);
  EXPECT_EQ(file.params[0], "main.js");
  EXPECT_EQ(match_route("GET", "/app/").which, route::not_found);
  EXPECT_EQ(match_route("GET", "/app/a/b.js").which, route::not_found);
  EXPECT_EQ(match_route("POST", "/").which, route::method_not_allowed);
}

TEST(router, openapi_document_route) {
  auto m = match_route("GET", "/api/openapi.json");
  EXPECT_EQ(m.which, route::openapi);
  EXPECT_TRUE(m.params.empty());
  EXPECT_STREQ(route_name(route::openapi), "openapi");
  auto post = match_route("POST", "/api/openapi.json");
  EXPECT_EQ(post.which, route::method_not_allowed);
  EXPECT_EQ(post.allowed, "GET");
}
