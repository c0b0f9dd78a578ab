#include "whatsapp/signature.hpp"

#include <string>

#include "messages/crypto.hpp"

namespace inboxd {

namespace {

constexpr std::string_view kPrefix = "sha256=";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// `hex` must be exactly 64 hex digits (any case); compared lowercased in constant time.
bool verify_hex(std::string_view secret, std::string_view body, std::string_view hex) {
  if (secret.empty() || hex.size() != 64)
    return false;
  std::string lower(hex);
  bool ok = true;
  for (char& c : lower) {
    if (c >= 'A' && c <= 'F')
      c = static_cast<char>(c - 'A' + 'a');
    else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      ok = false; // keep going: no early exit on the attacker's bytes
  }
  bool equal = constant_time_equal(lower, hmac_sha256_hex(secret, body));
  return ok && equal;
}

} // namespace

bool verify_meta_signature(std::string_view secret, std::string_view body,
                           std::string_view header) {
  header = trim(header);
  if (header.substr(0, kPrefix.size()) != kPrefix)
    return false;
  return verify_hex(secret, body, header.substr(kPrefix.size()));
}

bool verify_kapso_signature(std::string_view secret, std::string_view body,
                            std::string_view header) {
  header = trim(header);
  if (header.substr(0, kPrefix.size()) == kPrefix)
    header.remove_prefix(kPrefix.size());
  return verify_hex(secret, body, header);
}

} // namespace inboxd
