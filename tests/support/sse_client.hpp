#pragma once
// A Server-Sent Events client for tests over a plain POSIX socket (loopback): sends one GET,
// reads the response head, then parses frames as they arrive. Every read has a deadline.
// `stalled` mode: a tiny receive buffer and no reading at all until asked (a slow subscriber).

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace inboxd::test {

struct sse_event {
  std::string id, type, data;
  nlohmann::json json() const { return nlohmann::json::parse(data, nullptr, false); }
};

class sse_client {
public:
  /// Connects and sends `GET target` with `headers`. Throws std::runtime_error if it cannot.
  sse_client(int port, const std::string& target,
             const std::vector<std::pair<std::string, std::string>>& headers = {},
             bool stalled = false);
  ~sse_client();
  sse_client(const sse_client&) = delete;
  sse_client& operator=(const sse_client&) = delete;

  /// Reads the response head; returns the status (0 on timeout or a closed connection).
  int read_head(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  const std::string& head() const { return head_; }
  /// The body read so far when the response was not a stream (e.g. a JSON error).
  std::string body(std::chrono::milliseconds timeout = std::chrono::seconds(2));

  /// The next event (comments such as ": ping" and "retry:" lines are skipped), or nothing on
  /// timeout or when the server closed the stream.
  std::optional<sse_event> next(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Whether comment lines (": ping") were seen.
  bool saw_comment() const { return comments_ > 0; }

  /// Reads and discards until the server closes the connection; false on timeout.
  bool wait_closed(std::chrono::milliseconds timeout);
  bool closed() const { return eof_; }

private:
  bool fill(std::chrono::steady_clock::time_point deadline);
  int fd_ = -1;
  int port_ = 0;       // for the OpenAPI recording (tests/support/http_client.hpp)
  std::string target_; // likewise
  std::string buf_, head_;
  bool eof_ = false;
  int comments_ = 0;
};

} // namespace inboxd::test
