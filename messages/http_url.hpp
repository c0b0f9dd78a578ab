#pragma once
// Absolute http(s) URLs as the outbound clients take them, and whether a target is public
// (outgoing webhooks and the bot may not reach loopback or private addresses unless allowed).
// Pure, unit-tested.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include <boost/asio/ip/address.hpp>

namespace inboxd {

/// The parts of an absolute http(s) URL that a request needs.
struct http_url {
  bool tls = true;          // https
  std::string host;         // name or IP literal (IPv6 without brackets)
  uint16_t port = 443;      // explicit or the scheme's default
  std::string target = "/"; // path and query ("/" when absent); the fragment is dropped
};

/// Whether `s` starts with `prefix` (lowercase), ignoring the case of `s`'s ASCII letters.
bool istarts_with(std::string_view s, std::string_view prefix);

/// Parses `https://host[:port][/path][?query]` (or http://); no userinfo, no whitespace or
/// control characters, at most 8 KiB. Returns an error message on failure.
std::variant<http_url, std::string> parse_http_url(const std::string& url);

/// Not reachable from the public internet: loopback, private, shared, link-local, unspecified,
/// multicast, documentation and reserved ranges (IPv4-mapped IPv6 as its IPv4 address).
bool non_public(const boost::asio::ip::address& a);

/// Whether `host` may be a public target: false for an IP literal of a loopback, private,
/// link-local or other non-public range, and for `localhost` (and names under it).
bool public_host(const std::string& host);

/// An absolute http(s) URL (parse_http_url) whose host is public, or any host when
/// `allow_private`.
bool valid_target_url(const std::string& url, bool allow_private);

} // namespace inboxd
