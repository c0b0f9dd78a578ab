#pragma once
// Webhook fixtures from INBOXD_FIXTURES_DIR (../shared/fixtures, see its README.md) and the
// signatures tests put on them.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace inboxd::test {

/// Parses `<INBOXD_FIXTURES_DIR>/<relative_path>` (e.g. "meta/message.json"), else the project's
/// `tests/fixtures/<relative_path>` (e.g. "identity/meta.json"); throws
/// std::runtime_error when the file is missing or not JSON.
nlohmann::json load_fixture(const std::string& relative_path);

/// One case of a fixture file: load_fixture(file)[name] (throws if the case does not exist).
/// For meta/*.json that is a whole webhook body; for kapso/events_v2.json `{headers, body}`.
nlohmann::json fixture_case(const std::string& relative_path, const std::string& name);

/// Meta's `X-Hub-Signature-256` value: "sha256=" + lowercase hex HMAC-SHA256(secret, body).
std::string meta_signature(std::string_view secret, std::string_view body);

/// Kapso's `X-Webhook-Signature` value: lowercase hex HMAC-SHA256(secret, body), no prefix.
std::string kapso_signature(std::string_view secret, std::string_view body);

/// A string unique within this test run (and across concurrently running test processes):
/// prefix + pid + counter + random hex.
std::string unique_id(std::string_view prefix = "t");

/// Returns `body` with every WhatsApp message id replaced by a fresh unique one: every string
/// value starting with "wamid." or equal to "<WHATSAPP_MESSAGE_ID>", wherever it is (message
/// ids, status ids, context.id, reaction.message_id, ...). Equal ids map to the same new id
/// within one call, so references between the messages of one body stay consistent.
nlohmann::json with_unique_wamids(nlohmann::json body);

/// Returns `body` with every string value equal to `from` replaced by `to` (e.g. a
/// phone_number_id, or a sender's wa_id).
nlohmann::json replace_strings(nlohmann::json body, std::string_view from, std::string_view to);

/// The first message id (entry[0].changes[0].value.messages[0].id) of a Meta body, or "".
std::string first_wamid(const nlohmann::json& meta_body);

} // namespace inboxd::test
