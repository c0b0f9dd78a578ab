#pragma once
// A Redis reply as plain data (no hiredis types leak out of storage/).

#include <cstdint>
#include <string>
#include <vector>

namespace inboxd {

struct redis_value {
  enum class type : uint8_t { nil, integer, string, status, error, array };
  type kind = type::nil;
  int64_t integer = 0;
  std::string str;                  // string, status and error replies
  std::vector<redis_value> elements; // array replies (EXEC, MGET, ZRANGE, ...)

  bool is_nil() const { return kind == type::nil; }
  bool is_error() const { return kind == type::error; }
};

} // namespace inboxd
