// inboxd_crash_load: closed-loop webhook load that remembers which webhooks were acknowledged, for
// bench/redis_crash.sh (acknowledged webhooks lost when redis-server is killed under load).
//
//   inboxd_crash_load --port P --pnid N --secret S --tag T --duration SEC [--connections C]
//                     [--contacts K] [--contact-offset O] [--acked FILE]
//
// Request n is the load generator's webhook template (scenario 1: one text message per POST,
// wamid "wamid.<T>.<n>.0"; with --contacts K from K contacts, else each from a new one; contact
// phones start at 5511900000000 + O). C threads each keep one connection and send back to back for
// SEC seconds; a failed connection is opened again (every 10 ms while it is refused). A webhook
// counts as acknowledged when it was answered 200. FILE gets the inboxd message id of every
// acknowledged webhook, one per line
// ("msg_" + the first 32 hex digits of SHA-256(wamid): the key {ws:<id>}:m:<msgId> exists iff it
// is stored). Prints one JSON object: requests, ok, statuses, transportErrors, elapsedS,
// okPerSec and longestAckGapS (the longest time without any 200, e.g. across a Redis restart).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "bench/loadgen/templates.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using namespace inboxd::bench;

std::string message_id_for(const std::string& wamid) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(wamid.data(), wamid.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out = "msg_";
  for (unsigned i = 0; i < 16 && i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

// One blocking keep-alive HTTP/1.1 connection to 127.0.0.1:port.
class connection {
public:
  explicit connection(int port) : port_(port) {}
  ~connection() { close(); }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  void close() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
    buf_.clear();
  }

  /// Sends `request` and returns the response's status, or 0 on a transport failure (then the
  /// connection is closed).
  int exchange(const std::string& request) {
    if (fd_ < 0 && !open())
      return 0;
    if (!send_all(request)) {
      close();
      return 0;
    }
    int status = read_response();
    if (status == 0)
      close();
    return status;
  }

private:
  bool open() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0)
      return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close();
      return false;
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{30, 0}; // a hung answer counts as a transport error after 30 s
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return true;
  }

  bool send_all(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0)
        return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  bool fill() {
    char tmp[8192];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0)
      return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  // Head and Content-Length body; 0 on failure. Leaves any following bytes in buf_.
  int read_response() {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (buf_.size() > 65536 || !fill())
        return 0;
    std::string head = buf_.substr(0, end);
    if (head.compare(0, 9, "HTTP/1.1 ") != 0 || head.size() < 12)
      return 0;
    int status = std::atoi(head.c_str() + 9);
    std::string lower(head);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    size_t length = 0;
    auto cl = lower.find("\r\ncontent-length:");
    if (cl != std::string::npos)
      length = std::strtoul(lower.c_str() + cl + 17, nullptr, 10);
    bool closing = lower.find("\r\nconnection: close") != std::string::npos;
    while (buf_.size() < end + 4 + length)
      if (!fill())
        return 0;
    buf_.erase(0, end + 4 + length);
    if (closing)
      close();
    return status;
  }

  int port_;
  int fd_ = -1;
  std::string buf_;
};

struct worker_result {
  uint64_t requests = 0, transport_errors = 0;
  std::map<int, uint64_t> statuses;
  std::vector<uint64_t> acked;     // request numbers answered 200
  std::vector<double> ack_times_s; // when, since the start
};

std::string arg(const std::map<std::string, std::string>& a, const std::string& k,
                const std::string& def = {}) {
  auto i = a.find(k);
  if (i != a.end())
    return i->second;
  if (def.empty())
    throw std::invalid_argument("missing --" + k);
  return def;
}

} // namespace

int main(int argc, char** argv) try {
  std::map<std::string, std::string> a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0)
      throw std::invalid_argument("unexpected argument: " + k);
    a[k.substr(2)] = argv[i + 1];
  }
  if (argc % 2 == 0)
    throw std::invalid_argument("every option takes a value");
  const int port = std::stoi(arg(a, "port"));
  const double duration = std::stod(arg(a, "duration"));
  const int connections = std::stoi(arg(a, "connections", "64"));
  template_config cfg;
  cfg.name = "webhook";
  cfg.host_header = "127.0.0.1:" + std::to_string(port);
  cfg.phone_number_ids = {arg(a, "pnid")};
  cfg.app_secret = arg(a, "secret");
  cfg.run_tag = arg(a, "tag");
  cfg.contacts = std::stoull(arg(a, "contacts", "0"));
  cfg.contact_offset = std::stoull(arg(a, "contact-offset", "0"));
  auto source = make_source(cfg);

  std::atomic<uint64_t> next{0};
  std::vector<worker_result> results(static_cast<size_t>(connections));
  const auto start = clock_type::now();
  const auto deadline = start + std::chrono::duration<double>(duration);
  std::vector<std::thread> threads;
  for (int t = 0; t < connections; ++t)
    threads.emplace_back([&, t] {
      auto& r = results[static_cast<size_t>(t)];
      connection conn(port);
      std::string request;
      request_meta meta;
      while (clock_type::now() < deadline) {
        uint64_t n = next++;
        source->make(n, request, meta);
        ++r.requests;
        int status = conn.exchange(request);
        if (status == 0) {
          ++r.transport_errors;
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
          continue;
        }
        ++r.statuses[status];
        if (status == 200) {
          r.acked.push_back(n);
          r.ack_times_s.push_back(std::chrono::duration<double>(clock_type::now() - start).count());
        }
      }
    });
  for (auto& th : threads)
    th.join();
  const double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();

  worker_result all;
  for (auto& r : results) {
    all.requests += r.requests;
    all.transport_errors += r.transport_errors;
    for (auto& [s, c] : r.statuses)
      all.statuses[s] += c;
    all.acked.insert(all.acked.end(), r.acked.begin(), r.acked.end());
    all.ack_times_s.insert(all.ack_times_s.end(), r.ack_times_s.begin(), r.ack_times_s.end());
  }
  std::sort(all.ack_times_s.begin(), all.ack_times_s.end());
  double gap = 0;
  for (size_t i = 1; i < all.ack_times_s.size(); ++i)
    gap = std::max(gap, all.ack_times_s[i] - all.ack_times_s[i - 1]);
  if (a.count("acked")) {
    std::sort(all.acked.begin(), all.acked.end());
    std::ofstream out(a["acked"]);
    for (auto n : all.acked)
      out << message_id_for("wamid." + cfg.run_tag + "." + std::to_string(n) + ".0") << '\n';
    if (!out)
      throw std::runtime_error("cannot write " + a["acked"]);
  }
  nlohmann::ordered_json statuses = nlohmann::ordered_json::object();
  for (auto& [s, c] : all.statuses)
    statuses[std::to_string(s)] = c;
  nlohmann::ordered_json j = {{"requests", all.requests},
                              {"ok", all.acked.size()},
                              {"statuses", statuses},
                              {"transportErrors", all.transport_errors},
                              {"elapsedS", elapsed},
                              {"okPerSec", elapsed > 0 ? double(all.acked.size()) / elapsed : 0},
                              {"longestAckGapS", gap}};
  std::cout << j.dump() << std::endl;
  return 0;
} catch (const std::exception& e) {
  std::cerr << "inboxd_crash_load: " << e.what() << "\n";
  return 2;
}
