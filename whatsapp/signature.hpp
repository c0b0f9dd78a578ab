#pragma once
// Webhook signature checks (constant time).

#include <string_view>

namespace inboxd {

/// Meta: header is "sha256=<hex>" of HMAC-SHA256(secret, body). False for a missing prefix,
/// wrong length, non-hex, or mismatch. An empty secret never verifies.
bool verify_meta_signature(std::string_view secret, std::string_view body, std::string_view header);

/// Kapso: header is "<hex>" (a "sha256=" prefix is tolerated). Same rules.
bool verify_kapso_signature(std::string_view secret, std::string_view body, std::string_view header);

} // namespace inboxd
