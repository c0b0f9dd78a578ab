#pragma once
// Blocking helpers for the benchmark's setup steps (not measured): provisioning workspaces and API
// keys over the admin API, and collecting conversation ids over the inbox API.
// Every failure throws std::runtime_error with the server's answer.

#include <string>
#include <vector>

namespace inboxd::bench {

struct provisioned_workspace {
  std::string id;
  std::string phone_number_id;
  std::string api_key;
};

struct provision_options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string admin_token;
  int count = 1;
  std::string prefix = "bench";          // slug prefix: <prefix>-<i>
  unsigned long long pnid_base = 0;      // phone_number_id = pnid_base + i
  std::string send_base_url;             // when set: send settings {baseUrl, accessToken}
  std::string access_token = "bench-token";
};

std::vector<provisioned_workspace> provision(const provision_options& opts);

/// Up to `max` conversation ids of the workspace (status=all, newest first), 100 per page.
std::vector<std::string> fetch_conversation_ids(const std::string& host, int port,
                                                const std::string& api_key, size_t max);

/// A free TCP port on 127.0.0.1 (bound and released: a race is possible but unlikely).
int free_port();

} // namespace inboxd::bench
