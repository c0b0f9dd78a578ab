#include "http/web_page.hpp"

#include <algorithm>

#include "http/web_assets.hpp"

namespace inboxd {

namespace {

constexpr const char* kPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'";

const char* content_type_of(std::string_view name) {
  auto ends = [&](std::string_view ext) { return name.ends_with(ext); };
  if (ends(".html"))
    return "text/html; charset=utf-8";
  if (ends(".js"))
    return "text/javascript; charset=utf-8";
  if (ends(".css"))
    return "text/css; charset=utf-8";
  if (ends(".svg"))
    return "image/svg+xml";
  if (ends(".json"))
    return "application/json; charset=utf-8";
  return "text/plain; charset=utf-8";
}

} // namespace

http_response web_page(const http_request& req, std::string_view name) {
  auto& all = web_assets();
  auto it = std::lower_bound(all.begin(), all.end(), name,
                             [](const web_asset& a, std::string_view n) { return a.name < n; });
  if (it == all.end() || it->name != name)
    return make_error(api_error::not_found, "no such file");
  http_response res;
  res.headers.emplace_back("Content-Security-Policy", kPolicy);
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  res.headers.emplace_back("Referrer-Policy", "no-referrer");
  res.headers.emplace_back("ETag", std::string(it->etag));
  res.headers.emplace_back("Cache-Control", "no-cache");
  auto match = req.header("if-none-match");
  if (match == "*" || match.find(it->etag) != std::string::npos) {
    res.status = 304;
    res.content_type.clear();
    return res;
  }
  res.content_type = content_type_of(name);
  res.body = std::string(it->bytes);
  return res;
}

} // namespace inboxd
