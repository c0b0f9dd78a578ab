#pragma once
// Validation of the admin API's workspace bodies (create and patch). Pure functions.

#include <string>

#include <nlohmann/json.hpp>

#include "messages/api_error.hpp"
#include "messages/records.hpp"

namespace inboxd {

struct input_error {
  api_error code = api_error::bad_request; // or unprocessable (invalid values)
  std::string message;
};

/// Applies the fields of `body` to `ws`. `creating` requires name, slug and phoneNumberId.
/// `bot`: {url, secret} (an absolute http(s) URL, public unless `allow_private`; a secret of 16
/// to 256 printable characters) or null to remove it. Returns false and fills `err` on bad input
/// (ws is then unspecified).
bool apply_workspace_input(const nlohmann::json& body, bool creating, workspace& ws,
                           input_error& err, bool allow_private = false);

} // namespace inboxd
