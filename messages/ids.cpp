#include "messages/ids.hpp"

#include <chrono>

#include <openssl/rand.h>

#include "messages/crypto.hpp"

namespace inboxd {

std::string new_id(std::string_view prefix) {
  static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  unsigned char bytes[20];
  RAND_bytes(bytes, sizeof(bytes));
  std::string out(prefix);
  for (unsigned char b : bytes)
    out += alphabet[b & 31];
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
