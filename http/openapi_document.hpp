#pragma once
// The OpenAPI 3.1 description of the HTTP API (http/openapi.json), embedded in the binary at
// build time (cmake/embed_file.cmake) and served at GET /api/openapi.json.

#include <string_view>

namespace inboxd {

/// The document's bytes, as in http/openapi.json.
std::string_view openapi_document();
/// Its strong ETag (quoted), derived from the bytes.
std::string_view openapi_document_etag();

} // namespace inboxd
