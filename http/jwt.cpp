#include "http/jwt.hpp"

#include <nlohmann/json.hpp>

#include "messages/crypto.hpp"

namespace inboxd {

namespace {

constexpr size_t kMaxToken = 8 * 1024;

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

jwt_result reject(std::string why) {
  jwt_result r;
  r.error = std::move(why);
  return r;
}

// JSON object of at most 4 KiB; numbers must be integers where used.
bool parse_object(const std::string& text, nlohmann::json& out) {
  if (text.size() > 4096)
    return false;
  out = nlohmann::json::parse(text, nullptr, false);
  return !out.is_discarded() && out.is_object();
}

bool number_claim(const nlohmann::json& j, const char* key, int64_t& out, bool& present) {
  present = false;
  auto i = j.find(key);
  if (i == j.end())
    return true;
  if (!i->is_number())
    return false;
  present = true;
  double d = i->get<double>();
  if (!(d > -1e15 && d < 1e15))
    return false;
  out = static_cast<int64_t>(d);
  return true;
}

} // namespace

bool base64url_decode(std::string_view in, std::string& out) {
  out.clear();
  if (in.size() % 4 == 1)
    return false;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = b64_value(c);
    if (v < 0)
      return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return true;
}

std::string base64url_encode(std::string_view in) {
  static constexpr char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0)
    out += alphabet[(acc << (6 - bits)) & 63];
  return out;
}

jwt_result verify_jwt_hs256(std::string_view token, std::string_view secret, int64_t now_s) {
  if (secret.empty())
    return reject("no JWT secret configured");
  if (token.empty() || token.size() > kMaxToken)
    return reject("token empty or too long");
  auto d1 = token.find('.');
  auto d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return reject("token must have three segments");
  auto h64 = token.substr(0, d1), p64 = token.substr(d1 + 1, d2 - d1 - 1),
       s64 = token.substr(d2 + 1);
  std::string header_text, payload_text, sig;
  if (!base64url_decode(h64, header_text) || !base64url_decode(p64, payload_text) ||
      !base64url_decode(s64, sig))
    return reject("bad base64url");
  nlohmann::json header, payload;
  if (!parse_object(header_text, header))
    return reject("header is not a JSON object");
  auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string() || *alg != "HS256")
    return reject("alg must be HS256");
  // Signature before claims: nothing of an unsigned payload is trusted.
  auto expected = hmac_sha256_raw(secret, token.substr(0, d2));
  if (!constant_time_equal(expected, sig))
    return reject("bad signature");
  if (!parse_object(payload_text, payload))
    return reject("payload is not a JSON object");
  jwt_result r;
  auto sub = payload.find("sub");
  if (sub == payload.end() || !sub->is_string() || sub->get<std::string>().empty() ||
      sub->get<std::string>().size() > 256)
    return reject("missing sub");
  int64_t exp = 0, nbf = 0;
  bool has_exp = false, has_nbf = false;
  if (!number_claim(payload, "exp", exp, has_exp) || !has_exp)
    return reject("missing or invalid exp");
  if (!number_claim(payload, "nbf", nbf, has_nbf))
    return reject("invalid nbf");
  if (now_s >= exp)
    return reject("token expired");
  if (has_nbf && now_s < nbf)
    return reject("token not yet valid");
  r.ok = true;
  r.claims.sub = sub->get<std::string>();
  r.claims.exp = exp;
  return r;
}

} // namespace inboxd
