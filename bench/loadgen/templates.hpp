#pragma once
// Request templates: what each benchmark scenario sends, generated in-process per request number
// (unique wamids, fresh HMAC-SHA256 signatures, rotating filters and targets).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/loadgen/engine.hpp"

namespace inboxd::bench {

struct template_config {
  std::string name;            // webhook | history | list | by-phone | send | mixed | decorate
  std::string host_header;     // "127.0.0.1:<port>"
  std::string api_key;         // X-API-Key for inbox routes
  // webhook
  std::vector<std::string> phone_number_ids; // request n goes to phone_number_ids[n % size]
  std::string app_secret;                    // INBOXD_META_APP_SECRET
  std::string run_tag = "r";                 // makes wamids unique across runs
  int messages_per_post = 1;
  int statuses_per_post = 0;
  bool echoes = false;                       // messages are smb_message_echoes (outbound)
  bool media = false;                        // messages are images (media id bm-<tag>-<n>-<j>)
  // history: messages_per_post messages in history_threads threads (new contacts), the body
  // padded to about body_bytes
  int history_threads = 50;
  size_t body_bytes = 0;
  bool per_number_path = false; // POST /api/webhook/whatsapp/<pnid> (not the shared path)
  uint64_t contact_base = 5511900000000ULL;  // contact phone = base + index
  uint64_t contact_offset = 0;               // first contact index used
  uint64_t contacts = 0;                     // contact pool (0: every message a new contact)
  std::string status_tag;                    // statuses target wamid "wamid.<status_tag>.<i>" ...
  uint64_t status_pool = 0;                  // ... i in [0, status_pool), contact base+offset+(i % status_contacts)
  uint64_t status_contacts = 1;
  // by-phone / mixed: phones of existing contacts: base + offset + [0, contacts)
  // send / mixed / decorate: conversation ids of the workspace
  std::vector<std::string> conversation_ids;
};

/// Throws std::invalid_argument for an unknown template or missing inputs.
std::unique_ptr<request_source> make_source(const template_config& cfg);

/// "sha256=" + hex HMAC-SHA256(secret, body).
std::string meta_signature(const std::string& secret, const std::string& body);

} // namespace inboxd::bench
