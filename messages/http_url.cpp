#include "messages/http_url.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string_view>

namespace inboxd {

namespace {

namespace asio = boost::asio;
using error_code = boost::system::error_code;

constexpr size_t kMaxUrl = 8192;

} // namespace

bool istarts_with(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size())
    return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i])
      return false;
  return true;
}

bool non_public(const asio::ip::address& a) {
  if (a.is_v6()) {
    auto v6 = a.to_v6();
    if (v6.is_v4_mapped())
      return non_public(asio::ip::make_address_v4(asio::ip::v4_mapped, v6));
    auto b = v6.to_bytes();
    return v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || v6.is_link_local() ||
           v6.is_site_local() || (b[0] & 0xfe) == 0xfc /* fc00::/7 */ ||
           (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) /* 2001:db8::/32 */;
  }
  auto v = a.to_v4().to_uint();
  auto in = [v](uint32_t net, int bits) { return (v >> (32 - bits)) == (net >> (32 - bits)); };
  return in(0x00000000, 8) || in(0x0a000000, 8) || in(0x64400000, 10) || in(0x7f000000, 8) ||
         in(0xa9fe0000, 16) || in(0xac100000, 12) || in(0xc0000000, 24) || in(0xc0000200, 24) ||
         in(0xc0a80000, 16) || in(0xc6120000, 15) || in(0xc6336400, 24) || in(0xcb007100, 24) ||
         in(0xe0000000, 3);
}

bool public_host(const std::string& host) {
  error_code ec;
  auto a = asio::ip::make_address(host, ec);
  if (!ec)
    return !non_public(a);
  std::string lower;
  for (char c : host)
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  while (!lower.empty() && lower.back() == '.')
    lower.pop_back();
  return lower != "localhost" &&
         (lower.size() < 10 || lower.compare(lower.size() - 10, 10, ".localhost") != 0);
}

std::variant<http_url, std::string> parse_http_url(const std::string& url) {
  if (url.size() > kMaxUrl)
    return std::string("url too long");
  for (unsigned char c : url)
    if (c <= 0x20 || c >= 0x7f)
      return std::string("url has whitespace, control or non-ASCII characters");
  http_url out;
  std::string_view rest(url);
  if (istarts_with(rest, "https://")) {
    out.tls = true;
    out.port = 443;
    rest.remove_prefix(8);
  } else if (istarts_with(rest, "http://")) {
    out.tls = false;
    out.port = 80;
    rest.remove_prefix(7);
  } else {
    return std::string("url must start with https:// or http://");
  }
  auto end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view tail = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (authority.find('@') != std::string_view::npos)
    return std::string("url must not contain userinfo");
  std::string_view host, port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      return std::string("url has an unclosed '['");
    host = authority.substr(1, close - 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return std::string("url has junk after ']'");
      port = after.substr(1);
      if (port.empty())
        return std::string("url port is empty");
    }
    error_code ec;
    asio::ip::make_address_v6(std::string(host), ec);
    if (ec)
      return std::string("url has a bad IPv6 address");
  } else {
    auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty())
        return std::string("url port is empty");
    }
    for (char c : host)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_'))
        return std::string("url host has invalid characters");
  }
  if (host.empty())
    return std::string("url has no host");
  if (host.size() > 253)
    return std::string("url host too long");
  if (!port.empty()) {
    unsigned value = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || p != port.data() + port.size() || port.size() > 5 || value < 1 ||
        value > 65535)
      return std::string("url port must be a number in 1..65535");
    out.port = static_cast<uint16_t>(value);
  }
  out.host.resize(host.size());
  std::transform(host.begin(), host.end(), out.host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (auto hash = tail.find('#'); hash != std::string_view::npos)
    tail = tail.substr(0, hash);
  if (tail.empty())
    out.target = "/";
  else if (tail.front() == '?')
    out.target = "/" + std::string(tail);
  else
    out.target = std::string(tail);
  return out;
}

bool valid_target_url(const std::string& url, bool allow_private) {
  auto parsed = parse_http_url(url);
  if (std::holds_alternative<std::string>(parsed))
    return false;
  return allow_private || public_host(std::get<http_url>(parsed).host);
}

} // namespace inboxd
