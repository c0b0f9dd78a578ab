// GET /api/openapi.json (README "API"): the embedded http/openapi.json, unauthenticated, with a
// strong ETag that an If-None-Match answers 304. tests/openapi/validate.py checks the document
// itself against the router's table (CTest openapi_document).
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/e2e/e2e_test.hpp"

namespace inboxd::test {
namespace {

using nlohmann::json;

TEST_F(e2e_test, openapi_document_is_served_with_an_etag) {
  auto r = client().get("/api/openapi.json");
  ASSERT_EQ(r.status, 200) << r.body;
  std::ifstream in(std::string(INBOXD_SOURCE_DIR) + "/http/openapi.json");
  std::stringstream source;
  source << in.rdbuf();
  EXPECT_EQ(r.body, source.str()) << "the served document is the source's";
  auto doc = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(doc.is_object());
  EXPECT_EQ(doc.value("openapi", ""), "3.1.0");
  EXPECT_TRUE(doc["paths"].contains("/api/messages/send"));
  auto etag = r.headers["etag"];
  ASSERT_FALSE(etag.empty());

  auto again = client().get("/api/openapi.json", {{"If-None-Match", etag}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  auto stale = client().get("/api/openapi.json", {{"If-None-Match", "\"other\""}});
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(client().request("POST", "/api/openapi.json", "{}").status, 405);
}

} // namespace
} // namespace inboxd::test
