#include "storage/lua_script.hpp"

#include <utility>

#include <openssl/sha.h>

namespace inboxd {

namespace {

std::string sha1_hex(const std::string& s) {
  unsigned char d[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (auto c : d) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 15]);
  }
  return out;
}

} // namespace

lua_script::lua_script(std::string text) : source(std::move(text)), sha(sha1_hex(source)) {}

} // namespace inboxd
