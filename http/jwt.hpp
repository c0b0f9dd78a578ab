#pragma once
// HS256 JWT verification (the format Supabase issues). Hand-written on OpenSSL, so every input
// is treated as hostile: bounded size, strict base64url, JSON parsed with bounds, constant-time
// signature comparison. Pure function, thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

namespace inboxd {

struct jwt_claims {
  std::string sub;
  int64_t exp = 0; // seconds
};

struct jwt_result {
  bool ok = false;
  std::string error; // why it was rejected (for logs; clients see a generic 401)
  jwt_claims claims;
};

/// Verifies `token` against `secret` at time `now_s` (seconds). Accepts only alg HS256 (header
/// "typ", if present, must be "JWT"); requires `sub` (non-empty string) and `exp` (number,
/// now < exp); enforces `nbf` when present (now >= nbf). Tokens over 8 KiB are rejected.
jwt_result verify_jwt_hs256(std::string_view token, std::string_view secret, int64_t now_s);

/// base64url without padding -> bytes; false on any other character or a bad length.
bool base64url_decode(std::string_view in, std::string& out);
std::string base64url_encode(std::string_view in);

} // namespace inboxd
