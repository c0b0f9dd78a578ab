#pragma once
// A TCP proxy on 127.0.0.1 for fault tests: every connection accepted on port() is relayed to
// the target, both ways, on the proxy's own thread. hold() stops relaying what clients send (it
// waits, unread, in the proxy's sockets, exactly as on a congested or partitioned link: the
// client believes it sent it); release() relays it, in order, and everything after it.

#include <memory>
#include <string>

namespace inboxd::test {

class tcp_proxy {
public:
  explicit tcp_proxy(int target_port);
  ~tcp_proxy();
  tcp_proxy(const tcp_proxy&) = delete;
  tcp_proxy& operator=(const tcp_proxy&) = delete;

  int port() const;
  /// Stops relaying client -> target bytes (target -> client keeps flowing).
  void hold();
  /// Relays the held bytes and resumes.
  void release();
  /// Whether the bytes held back now contain `text` (a request that reached the proxy).
  bool holds(const std::string& text) const;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace inboxd::test
