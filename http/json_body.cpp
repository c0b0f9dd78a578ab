#include "http/json_body.hpp"

#include <cctype>
#include <string>

namespace inboxd {

bool json_body_ok(const http_request& req, const reply_handle& reply) {
  std::string ct = req.header("content-type");
  for (auto& c : ct)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ct.rfind("application/json", 0) != 0) {
    reply.error(api_error::unsupported_media_type, "expected Content-Type: application/json");
    return false;
  }
  return true;
}

} // namespace inboxd
