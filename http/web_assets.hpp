#pragma once
// The web inbox's files (web/), embedded in the binary at build time (cmake/embed_web.cmake).

#include <string_view>
#include <vector>

namespace inboxd {

struct web_asset {
  std::string_view name;  // the file's name in web/ ("index.html", "main.js")
  std::string_view bytes; // its content
  std::string_view etag;  // strong ETag: the quoted start of its SHA-256
};

/// Every file of web/, sorted by name.
const std::vector<web_asset>& web_assets();

} // namespace inboxd
