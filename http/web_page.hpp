#pragma once
// GET / and GET /app/<file>: the web inbox (web/, embedded in the binary), with a strict
// Content-Security-Policy (scripts, styles and connections from this origin only; nothing
// inline), a strong ETag (If-None-Match -> 304) and Cache-Control: no-cache.

#include <string_view>

#include "messages/http_exchange.hpp"

namespace inboxd {

/// The answer to a GET of the web file `name` ("index.html" for /): 404 when there is none.
http_response web_page(const http_request& req, std::string_view name);

} // namespace inboxd
