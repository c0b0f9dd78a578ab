#include "storage/event_codes.hpp"

namespace inboxd {

namespace {

constexpr std::string_view kEventCodes[][2] = {{"mc", "message.created"},
                                               {"mu", "message.updated"},
                                               {"cc", "conversation.created"},
                                               {"cu", "conversation.updated"}};

} // namespace

std::string_view event_code(std::string_view type) {
  for (auto& c : kEventCodes)
    if (type == c[1])
      return c[0];
  return type;
}

std::string event_type(std::string_view stored) {
  for (auto& c : kEventCodes)
    if (stored == c[0])
      return std::string(c[1]);
  return std::string(stored);
}

} // namespace inboxd
