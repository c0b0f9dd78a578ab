#pragma once
// Decodes webhook bodies into normalized wa_events. Pure functions: no I/O, thread-safe.
//
// Every input is hostile: nesting deeper than kMaxJsonDepth, invalid UTF-8, wrong JSON types or
// a body that is not a WhatsApp payload yield an error, never an exception or a crash. Decoding is
// all-or-nothing: on error no event is returned.

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "messages/wa_event.hpp"

namespace inboxd {

inline constexpr int kMaxJsonDepth = 64;

struct decoded_webhook {
  std::vector<wa_event> events;
  std::vector<std::string> phone_number_ids; // distinct, in order of first appearance
};

struct decode_result {
  bool ok = false;
  std::string error; // human readable reason when !ok (becomes a 400 message)
  decoded_webhook value;
};

/// Parses JSON with the depth bound; on failure returns false and sets `error`.
bool parse_json_bounded(std::string_view body, nlohmann::json& out, std::string& error);

/// Meta's format: {"object":"whatsapp_business_account","entry":[{"changes":[{"field":..,"value":..}]}]}.
decode_result decode_meta(const nlohmann::json& body);

/// Kapso's v2 events (single, or batched {"type","batch":true,"data":[...]}) and Kapso's forwards
/// of raw Meta payloads (detected by "object":"whatsapp_business_account"). `event_header` is the
/// X-Webhook-Event header (may be empty: then the body's "type" or the message's kapso.direction
/// decides).
decode_result decode_kapso(const nlohmann::json& body, std::string_view event_header);

/// The phone_number_ids a parsed body names (Meta: metadata.phone_number_id of every change;
/// Kapso: phone_number_id of every event), distinct; used to pick per-workspace secrets before
/// the full decode. Never throws.
std::vector<std::string> phone_number_ids_of(const nlohmann::json& body);

/// The part of a parsed body that names only the phone_number_ids `keep` (scale-out: each part
/// goes to the node owning those numbers): Meta entries keep only their changes of those numbers
/// (entries left empty are dropped); a batched Kapso body keeps only those events; anything else
/// is returned whole. Decoding the part yields exactly the body's events of those numbers.
nlohmann::json body_for_numbers(const nlohmann::json& body, const std::vector<std::string>& keep);

} // namespace inboxd
