#include "http/hook_request.hpp"

#include <algorithm>

#include "actors/hook_delivery.hpp"
#include "messages/http_url.hpp"

namespace inboxd {

bool parse_hook_request(const nlohmann::json& body, bool allow_private, nlohmann::json& out,
                        api_error& code, std::string& message) {
  auto fail = [&](api_error c, const char* m) {
    code = c;
    message = m;
    return false;
  };
  auto url = body.find("url");
  if (url == body.end() || !url->is_string())
    return fail(api_error::bad_request, "url must be a string");
  auto u = url->get<std::string>();
  if (u.size() > 2048)
    return fail(api_error::unprocessable, "url is longer than 2,048 characters");
  if (!valid_target_url(u, true))
    return fail(api_error::unprocessable, "url must be an absolute http or https URL");
  if (!valid_target_url(u, allow_private))
    return fail(
        api_error::unprocessable,
        "url names a loopback or private address (INBOXD_WEBHOOK_ALLOW_PRIVATE=1 allows it)");
  auto events = body.find("events");
  if (events == body.end() || !events->is_array())
    return fail(api_error::bad_request, "events must be an array of event types");
  std::vector<std::string> types;
  auto& known = hook_event_types();
  for (auto& e : *events) {
    if (!e.is_string())
      return fail(api_error::bad_request, "events must be an array of event types");
    auto t = e.get<std::string>();
    if (std::find(known.begin(), known.end(), t) == known.end())
      return fail(api_error::unprocessable,
                  "events: unknown event type (message.created, message.updated, "
                  "conversation.created or conversation.updated)");
    if (std::find(types.begin(), types.end(), t) == types.end())
      types.push_back(std::move(t));
  }
  if (types.empty())
    return fail(api_error::unprocessable, "events must name at least one event type");
  out = {{"url", u}, {"events", types}};
  if (auto d = body.find("description"); d != body.end() && !d->is_null()) {
    if (!d->is_string())
      return fail(api_error::bad_request, "description must be a string");
    if (d->get<std::string>().size() > 256)
      return fail(api_error::unprocessable, "description is longer than 256 characters");
    out["description"] = *d;
  }
  return true;
}

} // namespace inboxd
