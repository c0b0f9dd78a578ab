#include "http/event_relay.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <memory>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

namespace inboxd {

namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;

constexpr size_t kMaxHead = 16 * 1024;        // the owner's answer head
constexpr size_t kMaxAnswerBody = 256 * 1024; // a non-stream answer (an error, in practice)

// The value of header `name` (lower case) in `head` ("" when absent).
std::string header_value(const std::string& head, const std::string& name) {
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos && pos + 2 < head.size()) {
    size_t start = pos + 2, end = head.find("\r\n", start);
    if (end == std::string::npos || end == start)
      break;
    size_t colon = head.find(':', start);
    if (colon != std::string::npos && colon < end && colon - start == name.size() &&
        std::equal(
            name.begin(), name.end(), head.begin() + static_cast<long>(start),
            [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
      size_t v = colon + 1;
      while (v < end && (head[v] == ' ' || head[v] == '\t'))
        ++v;
      return head.substr(v, end - v);
    }
    pos = end;
  }
  return "";
}

class relay : public std::enable_shared_from_this<relay> {
public:
  relay(net::io_context& io, std::string host, uint16_t port, std::string request,
        reply_handle reply, relay_timing timing, std::function<void(bool)> reached)
    : strand_(net::make_strand(io)),
      resolver_(strand_),
      socket_(strand_),
      timer_(strand_),
      host_(std::move(host)),
      port_(port),
      request_(std::move(request)),
      reply_(std::move(reply)),
      timing_(timing),
      reached_(std::move(reached)) {}

  void start() {
    net::dispatch(strand_, [self = shared_from_this()] { self->resolve(); });
  }

private:
  void resolve() {
    timer_.expires_after(std::chrono::milliseconds(timing_.head_timeout_ms));
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec && !self->answered_)
        self->unreachable();
    });
    resolver_.async_resolve(host_, std::to_string(port_),
                            [self = shared_from_this()](boost::system::error_code ec,
                                                        tcp::resolver::results_type results) {
                              if (ec || self->done_)
                                return self->unreachable();
                              net::async_connect(
                                  self->socket_, results,
                                  [self](boost::system::error_code ec, const tcp::endpoint&) {
                                    if (ec || self->done_)
                                      return self->unreachable();
                                    self->write_request();
                                  });
                            });
  }

  void write_request() {
    net::async_write(socket_, net::buffer(request_),
                     [self = shared_from_this()](boost::system::error_code ec, size_t) {
                       if (ec || self->done_)
                         return self->unreachable();
                       self->read_head();
                     });
  }

  void read_head() {
    net::async_read_until(socket_, net::dynamic_buffer(in_, kMaxHead), "\r\n\r\n",
                          [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                            if (ec || self->done_)
                              return self->unreachable();
                            self->on_head(n);
                          });
  }

  void on_head(size_t n) {
    std::string head = in_.substr(0, n);
    in_.erase(0, n);
    int status = 0;
    if (head.rfind("HTTP/1.", 0) == 0 && head.size() > 12 && head[8] == ' ')
      for (size_t i = 9; i < 12 && std::isdigit(static_cast<unsigned char>(head[i])); ++i)
        status = status * 10 + (head[i] - '0');
    if (status < 100 || status > 599)
      return unreachable();
    answered_ = true;
    timer_.cancel();
    reached_(true);
    auto type = header_value(head, "content-type");
    if (status != 200 || type.rfind("text/event-stream", 0) != 0) {
      answer_.status = status;
      answer_.content_type = type;
      if (auto retry = header_value(head, "retry-after"); !retry.empty())
        answer_.headers.emplace_back("Retry-After", retry);
      auto length = header_value(head, "content-length");
      size_t declared = kMaxAnswerBody;
      auto [p, err] = std::from_chars(length.data(), length.data() + length.size(), declared);
      expected_ = err == std::errc{} && p == length.data() + length.size()
                      ? std::min(kMaxAnswerBody, declared)
                      : kMaxAnswerBody;
      return read_answer();
    }
    stream_ = reply_.open_stream(http_response{200, {}, {}, {}});
    if (!stream_) {
      reply_.error(api_error::rate_limited, "too many event streams on this server");
      return finish();
    }
    last_bytes_ = clock_type::now();
    watch();
    pass_frames();
    read_stream();
  }

  // A non-stream answer: its body (to Content-Length, EOF or the bound), then passed on.
  void read_answer() {
    if (in_.size() >= expected_) {
      in_.resize(expected_);
      answer_.body = std::move(in_);
      reply_.send(std::move(answer_));
      return finish();
    }
    socket_.async_read_some(net::buffer(chunk_),
                            [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                              self->in_.append(self->chunk_.data(), n);
                              if (ec) { // EOF ends a body without a length
                                self->answer_.body = std::move(self->in_);
                                self->reply_.send(std::move(self->answer_));
                                return self->finish();
                              }
                              self->read_answer();
                            });
  }

  void read_stream() {
    socket_.async_read_some(net::buffer(chunk_),
                            [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                              if (self->done_)
                                return;
                              if (ec)
                                return self->finish();
                              self->last_bytes_ = clock_type::now();
                              self->in_.append(self->chunk_.data(), n);
                              if (!self->pass_frames())
                                return self->finish();
                              self->read_stream();
                            });
  }

  // Pushes the whole frames received so far; false once the client's stream is closed (or a
  // frame grew past what the stream may hold).
  bool pass_frames() {
    auto end = in_.rfind("\n\n");
    if (end != std::string::npos) {
      if (!stream_->push(in_.substr(0, end + 2)))
        return false;
      in_.erase(0, end + 2);
    }
    return in_.size() <= stream_->capacity();
  }

  // While relaying: ends the relay when the client went away or the owner fell silent.
  void watch() {
    auto every = std::chrono::milliseconds(std::max<int64_t>(1, timing_.idle_ms / 3));
    timer_.expires_after(every);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->done_)
        return;
      auto idle = clock_type::now() - self->last_bytes_;
      if (self->stream_->closed() || idle > std::chrono::milliseconds(self->timing_.idle_ms))
        return self->finish();
      self->watch();
    });
  }

  void unreachable() {
    if (done_)
      return;
    if (!answered_) {
      answered_ = true;
      reached_(false);
      reply_.error(api_error::unavailable, "the workspace's node is unreachable; try again");
    }
    finish();
  }

  void finish() {
    if (done_)
      return;
    done_ = true;
    if (stream_)
      stream_->close();
    boost::system::error_code ignored;
    timer_.cancel();
    resolver_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  net::strand<net::io_context::executor_type> strand_;
  tcp::resolver resolver_;
  tcp::socket socket_;
  net::steady_timer timer_;
  std::string host_;
  uint16_t port_;
  std::string request_;
  reply_handle reply_;
  relay_timing timing_;
  std::function<void(bool)> reached_;
  std::string in_;
  std::array<char, 16 * 1024> chunk_{};
  http_response answer_;
  size_t expected_ = 0;
  event_stream_ptr stream_;
  clock_type::time_point last_bytes_;
  bool answered_ = false; // the owner's head arrived, or the client was answered 503
  bool done_ = false;
};

} // namespace

void relay_event_stream(net::io_context& io, std::string host, uint16_t port, std::string request,
                        reply_handle reply, relay_timing timing,
                        std::function<void(bool reached)> reached) {
  std::make_shared<relay>(io, std::move(host), port, std::move(request), std::move(reply), timing,
                          std::move(reached))
      ->start();
}

} // namespace inboxd
