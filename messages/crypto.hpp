#pragma once
// Small OpenSSL wrappers: HMAC-SHA256, SHA-256, constant-time comparison, hex.

#include <string>
#include <string_view>

namespace inboxd {

/// Lowercase hex of HMAC-SHA256(key, data).
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

/// Raw 32 bytes of HMAC-SHA256(key, data).
std::string hmac_sha256_raw(std::string_view key, std::string_view data);

/// Lowercase hex of SHA-256(data).
std::string sha256_hex(std::string_view data);

/// Compares in time that depends only on the lengths (CRYPTO_memcmp).
bool constant_time_equal(std::string_view a, std::string_view b);

/// `n` random bytes from OpenSSL's CSPRNG as lowercase hex (2n chars).
std::string random_hex(size_t n);

} // namespace inboxd
