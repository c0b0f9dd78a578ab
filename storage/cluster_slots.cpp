#include "storage/cluster_slots.hpp"

#include <array>
#include <charconv>
#include <strings.h>

namespace inboxd {

namespace {

constexpr std::array<uint16_t, 256> make_crc_table() {
  std::array<uint16_t, 256> t{};
  for (int i = 0; i < 256; ++i) {
    uint16_t crc = static_cast<uint16_t>(i << 8);
    for (int b = 0; b < 8; ++b)
      crc = static_cast<uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    t[i] = crc;
  }
  return t;
}
constexpr auto kCrcTable = make_crc_table();

bool same(std::string_view a, const char* b) {
  return a.size() == std::char_traits<char>::length(b) && strncasecmp(a.data(), b, a.size()) == 0;
}

bool parse_port(std::string_view s, int& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && out > 0 && out < 65536;
}

} // namespace

uint16_t crc16(std::string_view data) {
  uint16_t crc = 0;
  for (unsigned char c : data)
    crc = static_cast<uint16_t>((crc << 8) ^ kCrcTable[((crc >> 8) ^ c) & 0xff]);
  return crc;
}

int key_slot(std::string_view key) {
  auto open = key.find('{');
  if (open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1)
      key = key.substr(open + 1, close - open - 1);
  }
  return crc16(key) & (kClusterSlots - 1);
}

std::vector<std::string_view> command_keys(const std::vector<std::string>& cmd) {
  std::vector<std::string_view> keys;
  if (cmd.empty())
    return keys;
  std::string_view name = cmd[0];
  auto from = [&](size_t first, size_t step) {
    for (size_t i = first; i < cmd.size(); i += step)
      keys.emplace_back(cmd[i]);
  };
  if (same(name, "EVAL") || same(name, "EVALSHA") || same(name, "EVAL_RO") ||
      same(name, "EVALSHA_RO") || same(name, "FCALL")) {
    int n = 0;
    if (cmd.size() > 2) {
      auto [p, ec] = std::from_chars(cmd[2].data(), cmd[2].data() + cmd[2].size(), n);
      if (ec != std::errc())
        n = 0;
    }
    for (size_t i = 3; i < cmd.size() && i < 3 + static_cast<size_t>(std::max(n, 0)); ++i)
      keys.emplace_back(cmd[i]);
  } else if (same(name, "MGET") || same(name, "DEL") || same(name, "EXISTS") ||
             same(name, "UNLINK") || same(name, "TOUCH") || same(name, "WATCH")) {
    from(1, 1);
  } else if (same(name, "MSET") || same(name, "MSETNX")) {
    from(1, 2);
  } else if (same(name, "XREAD") || same(name, "XREADGROUP")) {
    for (size_t i = 1; i < cmd.size(); ++i)
      if (same(cmd[i], "STREAMS")) {
        size_t n = (cmd.size() - i - 1) / 2;
        for (size_t k = 0; k < n; ++k)
          keys.emplace_back(cmd[i + 1 + k]);
        break;
      }
  } else if (same(name, "PING") || same(name, "AUTH") || same(name, "SELECT") ||
             same(name, "INFO") || same(name, "SCRIPT") || same(name, "CLUSTER") ||
             same(name, "ASKING") || same(name, "WAIT") || same(name, "READONLY") ||
             same(name, "CLIENT") || same(name, "CONFIG") || same(name, "MULTI") ||
             same(name, "EXEC") || same(name, "DISCARD") || same(name, "FLUSHALL") ||
             same(name, "DBSIZE") || same(name, "TIME")) {
    // no keys
  } else if (cmd.size() > 1) {
    keys.emplace_back(cmd[1]);
  }
  return keys;
}

std::optional<int> command_slot(const std::vector<std::string>& cmd) {
  std::optional<int> slot;
  for (auto k : command_keys(cmd)) {
    int s = key_slot(k);
    if (slot && *slot != s)
      return -1;
    slot = s;
  }
  return slot;
}

std::optional<std::vector<slot_range>> parse_cluster_slots(const redis_value& reply,
                                                           const std::string& fallback_host,
                                                           std::string& error) {
  using type = redis_value::type;
  if (reply.kind != type::array) {
    error = reply.is_error() ? reply.str : "CLUSTER SLOTS: not an array";
    return std::nullopt;
  }
  std::vector<slot_range> out;
  for (auto& r : reply.elements) {
    if (r.kind != type::array || r.elements.size() < 3 || r.elements[0].kind != type::integer ||
        r.elements[1].kind != type::integer || r.elements[2].kind != type::array ||
        r.elements[2].elements.size() < 2) {
      error = "CLUSTER SLOTS: unexpected entry";
      return std::nullopt;
    }
    auto& node = r.elements[2].elements;
    slot_range range;
    range.first = static_cast<int>(r.elements[0].integer);
    range.last = static_cast<int>(r.elements[1].integer);
    if (range.first < 0 || range.last >= kClusterSlots || range.first > range.last ||
        node[1].kind != type::integer || node[1].integer <= 0 || node[1].integer >= 65536) {
      error = "CLUSTER SLOTS: slot range or port out of bounds";
      return std::nullopt;
    }
    range.master.host = node[0].str.empty() || node[0].str == "?" ? fallback_host : node[0].str;
    range.master.port = static_cast<int>(node[1].integer);
    for (size_t i = 3; i < r.elements.size(); ++i)
      if (r.elements[i].kind == type::array)
        ++range.replicas;
    out.push_back(std::move(range));
  }
  return out;
}

std::optional<redirection> parse_redirection(std::string_view error) {
  redirection r;
  if (error.rfind("MOVED ", 0) == 0) {
    error.remove_prefix(6);
  } else if (error.rfind("ASK ", 0) == 0) {
    r.ask = true;
    error.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  auto space = error.find(' ');
  if (space == std::string_view::npos)
    return std::nullopt;
  auto slot = error.substr(0, space);
  auto [p, ec] = std::from_chars(slot.data(), slot.data() + slot.size(), r.slot);
  if (ec != std::errc() || p != slot.data() + slot.size() || r.slot < 0 || r.slot >= kClusterSlots)
    return std::nullopt;
  auto address = error.substr(space + 1);
  auto colon = address.rfind(':');
  if (colon == std::string_view::npos || !parse_port(address.substr(colon + 1), r.to.port))
    return std::nullopt;
  r.to.host = std::string(address.substr(0, colon));
  return r;
}

bool retryable_cluster_error(std::string_view error) {
  return error.rfind("TRYAGAIN", 0) == 0 || error.rfind("CLUSTERDOWN", 0) == 0;
}

} // namespace inboxd
