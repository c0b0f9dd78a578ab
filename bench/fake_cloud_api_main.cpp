// inboxd_fake_cloud_api: the tests' fake WhatsApp Cloud API as a standalone plain-HTTP server
// for the benchmark's send and media scenarios. Prints its port on the first line of stdout and
// runs until SIGTERM/SIGINT, then prints how many requests it served. It answers
//  - POST .../messages (a send): 200 and a fresh wamid;
//  - GET /<version>/<mediaId> (a media lookup): the URL /files/<mediaId> on itself;
//  - GET /files/<mediaId>: `media_bytes` bytes (argv[1], default 262144) of image/jpeg, the
//    same for every id (inboxd stores them once, under their SHA-256).
//
// `inboxd_fake_cloud_api --receivers` instead runs two bare receivers for outgoing webhooks
// (scenario 10), on two free ports printed on the first line ("<ok port> <hang port>"):
//  - ok: answers every request at once with 200 `{}` (keep-alive);
//  - hang: accepts connections and reads requests but never answers (until the client closes).
// Neither records requests (the tests' fake keeps every one, too much for hundreds of thousands
// of deliveries); on SIGTERM/SIGINT it prints the requests and connections each one saw.
// Requests are framed by Content-Length (inboxd's client always sends one; no chunked bodies).

#include <array>
#include <atomic>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/fake_cloud_api.hpp"

using namespace inboxd::test;

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct receiver_stats {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> connections{0};
};

// One connection of a receiver: reads requests (headers, then Content-Length bytes of body) and
// answers each with 200 `{}`, or, when hanging, reads and counts them and never answers.
class receiver_session : public std::enable_shared_from_this<receiver_session> {
public:
  receiver_session(tcp::socket s, bool hang, receiver_stats& stats)
    : sock_(std::move(s)), hang_(hang), stats_(stats) {}
  void start() { read(); }

private:
  void read() {
    sock_.async_read_some(asio::buffer(chunk_),
                          [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                            if (ec)
                              return; // closed by the client (or the process ends)
                            self->buf_.append(self->chunk_.data(), n);
                            self->take();
                          });
  }

  // Removes the complete requests at the front of buf_ and answers them (pipelined ones too).
  void take() {
    size_t answered = 0;
    bool close = false;
    size_t pos = 0;
    for (;;) {
      auto end = buf_.find("\r\n\r\n", pos);
      if (end == std::string::npos)
        break;
      size_t length = 0;
      std::string_view head(buf_.data() + pos, end - pos);
      size_t line = head.find("\r\n");
      while (line != std::string_view::npos) {
        size_t next = head.find("\r\n", line + 2);
        auto h =
            head.substr(line + 2, (next == std::string_view::npos ? head.size() : next) - line - 2);
        auto colon = h.find(':');
        if (colon != std::string_view::npos) {
          std::string name(h.substr(0, colon));
          for (auto& c : name)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          auto value = h.substr(colon + 1);
          while (!value.empty() && value.front() == ' ')
            value.remove_prefix(1);
          if (name == "content-length")
            length = std::strtoull(std::string(value).c_str(), nullptr, 10);
          else if (name == "connection" && (value == "close" || value == "Close"))
            close = true;
        }
        line = next;
      }
      if (buf_.size() < end + 4 + length)
        break; // the body is not all here yet
      pos = end + 4 + length;
      ++answered;
      if (close)
        break;
    }
    buf_.erase(0, pos);
    stats_.requests.fetch_add(answered, std::memory_order_relaxed);
    if (hang_ || answered == 0) {
      read();
      return;
    }
    static constexpr std::string_view kOk =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    out_.clear();
    for (size_t i = 0; i < answered; ++i)
      out_ += kOk;
    asio::async_write(sock_, asio::buffer(out_),
                      [self = shared_from_this(), close](boost::system::error_code ec, size_t) {
                        if (ec)
                          return;
                        if (close) {
                          boost::system::error_code ignored;
                          self->sock_.shutdown(tcp::socket::shutdown_both, ignored);
                          return;
                        }
                        self->read();
                      });
  }

  tcp::socket sock_;
  bool hang_;
  receiver_stats& stats_;
  std::array<char, 65536> chunk_{};
  std::string buf_;
  std::string out_;
};

class receiver {
public:
  receiver(asio::io_context& io, bool hang)
    : acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), hang_(hang) {
    accept();
  }
  int port() const { return acceptor_.local_endpoint().port(); }
  const receiver_stats& stats() const { return stats_; }

private:
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec)
        return;
      stats_.connections.fetch_add(1, std::memory_order_relaxed);
      boost::system::error_code ignored;
      s.set_option(tcp::no_delay(true), ignored);
      std::make_shared<receiver_session>(std::move(s), hang_, stats_)->start();
      accept();
    });
  }

  tcp::acceptor acceptor_;
  bool hang_;
  receiver_stats stats_;
};

int run_receivers(sigset_t& set) {
  asio::io_context io(1);
  receiver ok(io, /*hang=*/false), hang(io, /*hang=*/true);
  std::thread thread([&] { io.run(); });
  std::printf("%d %d\n", ok.port(), hang.port());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  io.stop();
  thread.join();
  std::printf("ok requests %llu connections %llu; hang requests %llu connections %llu\n",
              static_cast<unsigned long long>(ok.stats().requests.load()),
              static_cast<unsigned long long>(ok.stats().connections.load()),
              static_cast<unsigned long long>(hang.stats().requests.load()),
              static_cast<unsigned long long>(hang.stats().connections.load()));
  std::fflush(stdout);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  // Block before the server's thread starts, so only sigwait below sees them.
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  try {
    if (argc > 1 && std::strcmp(argv[1], "--receivers") == 0)
      return run_receivers(set);
    size_t media_bytes = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 256 * 1024;
    std::string file(media_bytes, '\0');
    for (size_t i = 0; i < file.size(); ++i)
      file[i] = static_cast<char>((i * 2654435761u) >> 13);
    fake_cloud_api api(/*tls=*/false);
    std::atomic<uint64_t> wamids{0};
    auto base = "http://127.0.0.1:" + std::to_string(api.port());
    api.set_responder([&](const recorded_request& r) {
      auto path = r.target.substr(0, r.target.find('?'));
      if (r.method == "GET" && path.rfind("/files/", 0) == 0) {
        reply out;
        out.body = file;
        out.headers = {{"Content-Type", "image/jpeg"}};
        return out;
      }
      if (r.method == "GET") {
        auto id = path.substr(path.rfind('/') + 1);
        nlohmann::json j = {{"messaging_product", "whatsapp"},
                            {"url", base + "/files/" + id},
                            {"mime_type", "image/jpeg"},
                            {"file_size", std::to_string(file.size())},
                            {"id", id}};
        return reply::json(200, j.dump());
      }
      auto j = nlohmann::json::parse(r.body, nullptr, false);
      std::string to = j.is_object() ? j.value("to", std::string()) : std::string();
      return reply::json(200, meta_success_body(to, "wamid.fake." + std::to_string(++wamids)));
    });
    std::printf("%d\n", api.port());
    std::fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    std::printf("requests %zu connections %zu\n", api.count(), api.connections());
    std::fflush(stdout);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inboxd_fake_cloud_api: %s\n", e.what());
    return 1;
  }
  return 0;
}
