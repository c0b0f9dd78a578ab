#include "tests/support/sse_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <stdexcept>

#include "tests/support/http_client.hpp"

namespace inboxd::test {

sse_client::sse_client(int port, const std::string& target,
                       const std::vector<std::pair<std::string, std::string>>& headers,
                       bool stalled)
  : port_(port), target_(target) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0)
    throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  if (stalled) {
    int small = 4096;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    auto err = std::string(std::strerror(errno));
    ::close(fd_);
    throw std::runtime_error("connect: " + err);
  }
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n";
  for (auto& [k, v] : headers)
    req += k + ": " + v + "\r\n";
  req += "\r\n";
  size_t off = 0;
  while (off < req.size()) {
    auto n = ::send(fd_, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0)
      throw std::runtime_error("send failed");
    off += static_cast<size_t>(n);
  }
}

sse_client::~sse_client() {
  if (fd_ >= 0)
    ::close(fd_);
}

bool sse_client::fill(std::chrono::steady_clock::time_point deadline) {
  if (eof_)
    return false;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                    std::chrono::steady_clock::now());
  if (left.count() <= 0)
    return false;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
    return false;
  char chunk[65536];
  auto n = ::recv(fd_, chunk, sizeof chunk, 0);
  if (n <= 0) {
    eof_ = true;
    return false;
  }
  buf_.append(chunk, static_cast<size_t>(n));
  return true;
}

int sse_client::read_head(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t end;
  while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
    if (!fill(deadline))
      return 0;
  head_ = buf_.substr(0, end + 4);
  buf_.erase(0, end + 4);
  if (head_.size() < 12)
    return 0;
  int status = std::atoi(head_.substr(9, 3).c_str());
  // The head goes to the OpenAPI recording (the body of a non-stream answer is not read here).
  std::map<std::string, std::string> headers;
  for (size_t pos = head_.find("\r\n"); pos != std::string::npos && pos + 2 < head_.size();) {
    auto next = head_.find("\r\n", pos + 2);
    auto line =
        head_.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    if (auto colon = line.find(':'); colon != std::string::npos) {
      auto name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      auto value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      headers[name] = value;
    }
    pos = next;
  }
  record_exchange(port_, "GET", target_, status, headers, {}, false);
  return status;
}

std::string sse_client::body(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (fill(deadline)) {
  }
  return buf_;
}

std::optional<sse_event> sse_client::next(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    size_t end;
    while ((end = buf_.find("\n\n")) == std::string::npos)
      if (!fill(deadline))
        return std::nullopt;
    auto block = buf_.substr(0, end);
    buf_.erase(0, end + 2);
    sse_event e;
    bool any = false;
    size_t pos = 0;
    while (pos <= block.size()) {
      auto nl = block.find('\n', pos);
      auto line = block.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      if (!line.empty() && line[0] == ':')
        ++comments_;
      else if (line.rfind("id: ", 0) == 0)
        e.id = line.substr(4), any = true;
      else if (line.rfind("event: ", 0) == 0)
        e.type = line.substr(7), any = true;
      else if (line.rfind("data: ", 0) == 0)
        e.data += line.substr(6), any = true;
      if (nl == std::string::npos)
        break;
      pos = nl + 1;
    }
    if (any && !e.type.empty()) {
      record_stream_event(port_, e.type, e.data);
      return e;
    }
  }
}

bool sse_client::wait_closed(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!eof_) {
    buf_.clear();
    if (!fill(deadline) && !eof_)
      return false;
  }
  return true;
}

} // namespace inboxd::test
