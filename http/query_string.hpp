#pragma once
// Query-string decoding (application/x-www-form-urlencoded): '+' is a space, %XX escapes.

#include <map>
#include <string>
#include <string_view>

namespace inboxd {

/// Decodes `%XX` and '+'; false on a malformed escape.
bool url_decode(std::string_view in, std::string& out);

/// Parses "a=1&b=2" into `out` (first value of a repeated name wins); false when malformed
/// or longer than 64 parameters.
bool parse_query(std::string_view query, std::map<std::string, std::string>& out);

} // namespace inboxd
