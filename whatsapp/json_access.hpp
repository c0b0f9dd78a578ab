#pragma once
// Internal helpers of the webhook decoders: typed access to untrusted JSON. Every accessor throws
// decode_error on a wrong type; the public decode_* functions catch it (and nlohmann's exceptions)
// and turn it into an error result, so nothing escapes them.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace inboxd::wa_json {

struct decode_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(std::string_view what, std::string_view problem);

/// The member `key` of `obj`, or nullptr when `obj` is not an object, or the member is absent or
/// null.
const nlohmann::json* member(const nlohmann::json& obj, std::string_view key);

/// `v` itself when it is an object; throws otherwise.
const nlohmann::json& require_object(const nlohmann::json& v, std::string_view what);

/// Member `key` when it is an object (nullptr when absent/null); throws for another type.
const nlohmann::json* opt_object(const nlohmann::json& obj, std::string_view key);
/// Member `key` when it is an array (nullptr when absent/null); throws for another type.
const nlohmann::json* opt_array(const nlohmann::json& obj, std::string_view key);
/// Member `key` as a string ("" when absent/null); throws for another type.
std::string opt_string(const nlohmann::json& obj, std::string_view key);
/// Member `key` as a non-empty string; throws when absent, empty or another type.
std::string require_string(const nlohmann::json& obj, std::string_view key, std::string_view what);
/// Member `key` as a string, also accepting an integer (ids); "" when absent/null.
std::string opt_id(const nlohmann::json& obj, std::string_view key);
/// Member `key` as a business-scoped user id (BSUID: 1-128 of A-Z a-z 0-9 . _ -), "" when
/// absent/null/empty; throws for anything else.
std::string opt_user_id(const nlohmann::json& obj, std::string_view key);
/// Member `key` as a WhatsApp username (at most 128 bytes, no control characters), "" when
/// absent/null/empty; throws for anything else.
std::string opt_username(const nlohmann::json& obj, std::string_view key);
/// Member `key` as a bool (`fallback` when absent/null); throws for another type.
bool opt_bool(const nlohmann::json& obj, std::string_view key, bool fallback = false);

/// Member `key` holding unix seconds (string of digits or number) in milliseconds; 0 when
/// absent/null; throws for anything else (negative, non-digits, overflow, other types).
int64_t timestamp_ms(const nlohmann::json& obj, std::string_view key);

/// Meta's error object {code, title, message, error_data:{details}} as {code, title, message?,
/// details?}.
nlohmann::json error_object(const nlohmann::json& err);
/// error_object of the first element of the array member `key` of `obj`; null json when none.
nlohmann::json first_error(const nlohmann::json& obj, std::string_view key = "errors");

/// Appends `id` to `ids` unless it is empty or already there (keeps first-seen order).
void add_distinct(std::vector<std::string>& ids, const std::string& id);

} // namespace inboxd::wa_json
