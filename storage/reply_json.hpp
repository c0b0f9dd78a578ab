#pragma once
// Stored records are JSON objects in string replies.

#include <optional>

#include <nlohmann/json.hpp>

#include "storage/redis_value.hpp"

namespace inboxd {

/// The JSON object a string reply holds; nothing for another reply or text that is no object.
inline std::optional<nlohmann::json> parse_object(const redis_value& v) {
  if (v.kind != redis_value::type::string)
    return std::nullopt;
  auto j = nlohmann::json::parse(v.str, nullptr, false);
  if (!j.is_object())
    return std::nullopt;
  return j;
}

} // namespace inboxd
