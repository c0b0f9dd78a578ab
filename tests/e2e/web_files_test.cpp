// GET / and GET /app/<file> (README "Web inbox"): every file of web/ is served, byte for byte, by
// the binary itself, unauthenticated, with its Content-Type, a strict Content-Security-Policy and
// a strong ETag (If-None-Match -> 304); anything else under /app/ is 404. The page itself is
// driven in Chromium by web_inbox_test.cpp.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/e2e/e2e_test.hpp"

namespace inboxd::test {
namespace {

std::string source_of(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string type_of(const std::string& name) {
  auto ext = std::filesystem::path(name).extension().string();
  if (ext == ".html")
    return "text/html; charset=utf-8";
  if (ext == ".js")
    return "text/javascript; charset=utf-8";
  if (ext == ".css")
    return "text/css; charset=utf-8";
  if (ext == ".svg")
    return "image/svg+xml";
  if (ext == ".json")
    return "application/json; charset=utf-8";
  return "text/plain; charset=utf-8";
}

void expect_locked_down(const http_response& r, const std::string& what) {
  auto csp = r.header("Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << what << ": " << csp;
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << what << ": " << csp;
  EXPECT_EQ(csp.find("unsafe"), std::string::npos) << what << ": " << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << what << ": " << csp;
  EXPECT_EQ(r.header("X-Content-Type-Options"), "nosniff") << what;
  EXPECT_EQ(r.header("Referrer-Policy"), "no-referrer") << what;
}

TEST_F(e2e_test, the_web_inbox_files_are_served_with_a_strict_policy) {
  auto index = client().get("/");
  ASSERT_EQ(index.status, 200) << index.body;
  auto web = std::filesystem::path(INBOXD_SOURCE_DIR) / "web";
  EXPECT_EQ(index.body, source_of(web / "index.html"));
  EXPECT_EQ(index.header("Content-Type"), "text/html; charset=utf-8");
  expect_locked_down(index, "/");
  EXPECT_NE(index.body.find("/app/main.js"), std::string::npos) << "the page loads its module";
  EXPECT_EQ(client().get("/", {{"If-None-Match", index.header("ETag")}}).status, 304);

  size_t files = 0;
  for (auto& f : std::filesystem::directory_iterator(web)) {
    auto name = f.path().filename().string();
    auto r = client().get("/app/" + name);
    ASSERT_EQ(r.status, 200) << name << ": " << r.body;
    EXPECT_EQ(r.body, source_of(f.path())) << name;
    EXPECT_EQ(r.header("Content-Type"), type_of(name)) << name;
    expect_locked_down(r, name);
    auto etag = r.header("ETag");
    ASSERT_FALSE(etag.empty()) << name;
    auto again = client().get("/app/" + name, {{"If-None-Match", etag}});
    EXPECT_EQ(again.status, 304) << name;
    EXPECT_TRUE(again.body.empty()) << name;
    ++files;
  }
  EXPECT_GE(files, 3u) << "index.html, a script and a style sheet at least";

  for (auto bad : {"/app/nope.js", "/app/..", "/app/%2e%2e%2fREADME.md", "/app/.hidden.js"}) {
    auto r = client().get(bad);
    EXPECT_EQ(r.status, 404) << bad;
    EXPECT_EQ(r.json()["error"]["code"], "not_found") << bad;
  }
  EXPECT_EQ(client().get("/app/main.js/x").status, 404);
}

} // namespace
} // namespace inboxd::test
