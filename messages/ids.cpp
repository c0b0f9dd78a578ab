#include "messages/ids.hpp"

#include <chrono>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "messages/crypto.hpp"

namespace inboxd {

std::string new_id(std::string_view prefix) {
  static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  // RAND_bytes costs a system call (OpenSSL checks the pid for fork safety on every call), so
  // each thread draws random bytes for 32 ids at a time.
  static constexpr size_t per_id = 20;
  thread_local unsigned char pool[per_id * 32];
  thread_local size_t used = sizeof(pool);
  if (used == sizeof(pool)) {
    if (RAND_bytes(pool, sizeof(pool)) != 1)
      throw std::runtime_error("RAND_bytes failed");
    used = 0;
  }
  std::string out(prefix);
  out.reserve(prefix.size() + per_id);
  for (size_t i = 0; i < per_id; ++i)
    out += alphabet[pool[used + i] & 31];
  OPENSSL_cleanse(pool + used, per_id);
  used += per_id;
  return out;
}

std::string message_id_for_wamid(std::string_view wamid) {
  return "msg_" + sha256_hex(wamid).substr(0, 32);
}

std::string normalize_phone(std::string_view phone) {
  std::string digits;
  for (char c : phone) {
    if (c >= '0' && c <= '9')
      digits += c;
    else if (c != ' ' && c != '+' && c != '-' && c != '(' && c != ')' && c != '.')
      return {};
  }
  if (digits.empty() || digits.size() > 20)
    return {};
  return digits;
}

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

} // namespace inboxd
