#include "actors/storage_calls.hpp"

namespace inboxd {

bool exec_committed(const redis_result& r) {
  if (!r.ok() || r.replies.empty())
    return false;
  for (auto& v : r.replies)
    if (v.is_error())
      return false;
  auto& exec = r.replies.back();
  if (exec.kind != redis_value::type::array)
    return false;
  for (auto& v : exec.elements)
    if (v.is_error())
      return false;
  return true;
}

} // namespace inboxd
