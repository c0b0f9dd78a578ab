#pragma once
// Serving a stored file over HTTP: the answer to a GET (or HEAD) with its conditional and range
// headers evaluated (RFC 9110 sections 13 and 14). A pure function over plain data: it neither
// opens nor reads the file; the answer names the file and the byte range, and the HTTP server
// reads that range while it writes (http_response::file_path). Any thread. Lives in messages/, not
// http/, because the actors answer media requests with it (libraries depend one way only).

#include <cstdint>
#include <string>

#include "messages/http_exchange.hpp"

namespace inboxd {

/// The answer to a GET (or HEAD) for a stored file of `size` bytes at `path`, with content type
/// `content_type` and strong entity tag `etag` (without quotes, e.g. a SHA-256 hex), honouring the
/// request's Range, If-Range and If-None-Match headers (RFC 9110):
/// - 304 (no body, no Content-Type) when If-None-Match matches: `*`, or any listed tag equal to
///   `etag` by weak comparison (`W/"<etag>"` matches too). Evaluated before Range.
/// - 200 with the whole file when there is no Range header, the method is HEAD (Range is defined
///   for GET only), the Range header is malformed (not `bytes=`, bad numbers, last < first), it
///   asks for several ranges, If-Range does not match (only the strong tag `"<etag>"` matches; a
///   weak tag or a date never does), or the file is empty and the range is a suffix (`-n`), which
///   no Content-Range can express.
/// - 206 with Content-Range: bytes a-b/size for one satisfiable range: `a-b` (b clamped to
///   size-1), `a-`, or `-n` (the last n bytes, the whole file when n >= size).
/// - 416 with Content-Range: bytes */size and the JSON body
///   {"error":{"code":"range_not_satisfiable","message":...}} when the one range is not
///   satisfiable (a >= size, or `-0`).
/// Every answer carries ETag: "<etag>", Accept-Ranges: bytes and
/// Cache-Control: private, max-age=31536000, immutable. 200 and 206 carry `content_type` and the
/// file body (file_path = `path`, file_offset, file_length).
http_response file_response(const http_request& req, const std::string& path, uint64_t size,
                            const std::string& content_type, const std::string& etag);

} // namespace inboxd
