#include <string>

#include "whatsapp/webhook_decoder.hpp"

namespace inboxd {

namespace {

// Nesting depth of `body` counting '[' and '{' outside strings, stopping early past `limit`.
// Iterative, so hostile input (100000 '[') cannot exhaust the stack before nlohmann sees it.
int max_depth(std::string_view body, int limit) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > limit)
          return deepest;
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

} // namespace

bool parse_json_bounded(std::string_view body, nlohmann::json& out, std::string& error) {
  if (max_depth(body, kMaxJsonDepth) > kMaxJsonDepth) {
    error = "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
    return false;
  }
  try {
    // nlohmann rejects invalid UTF-8 inside strings, control characters, comments, trailing data.
    out = nlohmann::json::parse(body.begin(), body.end());
    return true;
  } catch (const nlohmann::json::exception& e) {
    error = std::string("invalid JSON: ") + e.what();
  } catch (const std::exception& e) {
    error = std::string("invalid JSON: ") + e.what();
  }
  out = nullptr;
  return false;
}

} // namespace inboxd
