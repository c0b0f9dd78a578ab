#pragma once
// The Content-Type check of routes that take a JSON body.

#include "messages/http_exchange.hpp"

namespace inboxd {

/// True when the request says application/json; otherwise answers 415 and returns false.
bool json_body_ok(const http_request& req, const reply_handle& reply);

} // namespace inboxd
