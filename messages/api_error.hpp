#pragma once
// The API's error codes (API.md, "Errors") and the one place that maps each to its HTTP status.
// A code added here without a status does not compile (-Wswitch, warnings are errors).

#include <cstdint>
#include <string_view>

namespace inboxd {

enum class api_error : uint8_t {
  bad_request,            // 400: unparseable body, wrong JSON types, unknown query values
  unauthorized,           // 401
  forbidden,              // 403
  not_found,              // 404
  method_not_allowed,     // 405
  conflict,               // 409
  payload_too_large,      // 413
  expired,                // 410: media that expired at Meta before it was stored
  unsupported_media_type, // 415
  unprocessable,          // 422: well-formed but invalid
  window_closed,          // 422: the 24-hour reply window is closed
  opted_out,              // 422: a marketing template to a contact who stopped marketing messages
  rate_limited,           // 429 (with Retry-After)
  unavailable,            // 503: storage down or overloaded (with Retry-After)
  internal,               // 500
};

constexpr int http_status(api_error e) {
  switch (e) {
    case api_error::bad_request:
      return 400;
    case api_error::unauthorized:
      return 401;
    case api_error::forbidden:
      return 403;
    case api_error::not_found:
      return 404;
    case api_error::method_not_allowed:
      return 405;
    case api_error::conflict:
      return 409;
    case api_error::expired:
      return 410;
    case api_error::payload_too_large:
      return 413;
    case api_error::unsupported_media_type:
      return 415;
    case api_error::unprocessable:
    case api_error::window_closed:
    case api_error::opted_out:
      return 422;
    case api_error::rate_limited:
      return 429;
    case api_error::unavailable:
      return 503;
    case api_error::internal:
      return 500;
  }
  return 500; // not reached: every code is handled above
}

constexpr std::string_view to_string(api_error e) {
  switch (e) {
    case api_error::bad_request:
      return "bad_request";
    case api_error::unauthorized:
      return "unauthorized";
    case api_error::forbidden:
      return "forbidden";
    case api_error::not_found:
      return "not_found";
    case api_error::method_not_allowed:
      return "method_not_allowed";
    case api_error::conflict:
      return "conflict";
    case api_error::expired:
      return "expired";
    case api_error::payload_too_large:
      return "payload_too_large";
    case api_error::unsupported_media_type:
      return "unsupported_media_type";
    case api_error::unprocessable:
      return "unprocessable";
    case api_error::window_closed:
      return "window_closed";
    case api_error::opted_out:
      return "opted_out";
    case api_error::rate_limited:
      return "rate_limited";
    case api_error::unavailable:
      return "unavailable";
    case api_error::internal:
      return "internal";
  }
  return "internal"; // not reached
}

} // namespace inboxd
