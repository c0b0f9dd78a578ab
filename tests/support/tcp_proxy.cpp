#include "tests/support/tcp_proxy.hpp"

#include <array>
#include <atomic>
#include <deque>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace inboxd::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct tcp_proxy::impl : std::enable_shared_from_this<impl> {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  int target = 0;
  int port = 0;
  std::atomic<bool> holding{false};
  std::thread thread;

  // One relayed connection. Client bytes read while holding wait in `pending` (in order).
  struct link : std::enable_shared_from_this<link> {
    std::shared_ptr<impl> owner;
    tcp::socket client, server;
    std::array<char, 16384> up{}, down{};
    std::deque<std::string> pending;
    bool writing = false;
    link(std::shared_ptr<impl> o, tcp::socket c)
      : owner(std::move(o)), client(std::move(c)), server(owner->io) {}

    void start() {
      auto self = shared_from_this();
      server.async_connect(
          {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(owner->target)},
          [self](boost::system::error_code ec) {
            if (ec)
              return self->close();
            self->read_client();
            self->read_server();
          });
    }
    void close() {
      boost::system::error_code ec;
      client.close(ec);
      server.close(ec);
    }
    void read_client() {
      auto self = shared_from_this();
      client.async_read_some(asio::buffer(up), [self](boost::system::error_code ec, size_t n) {
        if (ec)
          return self->close();
        self->pending.emplace_back(self->up.data(), n);
        self->flush();
        self->read_client();
      });
    }
    // Writes what is pending unless the proxy holds.
    void flush() {
      if (writing || pending.empty() || owner->holding)
        return;
      writing = true;
      auto self = shared_from_this();
      asio::async_write(server, asio::buffer(pending.front()),
                        [self](boost::system::error_code ec, size_t) {
                          self->writing = false;
                          if (ec)
                            return self->close();
                          self->pending.pop_front();
                          self->flush();
                        });
    }
    void read_server() {
      auto self = shared_from_this();
      server.async_read_some(asio::buffer(down), [self](boost::system::error_code ec, size_t n) {
        if (ec)
          return self->close();
        asio::async_write(self->client, asio::buffer(self->down.data(), n),
                          [self](boost::system::error_code ec2, size_t) {
                            if (ec2)
                              return self->close();
                            self->read_server();
                          });
      });
    }
  };
  std::mutex mu;
  std::vector<std::weak_ptr<link>> links;

  void accept() {
    acceptor.async_accept([self = shared_from_this()](boost::system::error_code ec, tcp::socket s) {
      if (ec)
        return;
      auto l = std::make_shared<link>(self, std::move(s));
      {
        std::lock_guard lock(self->mu);
        self->links.push_back(l);
      }
      l->start();
      self->accept();
    });
  }
  void flush_all() {
    std::lock_guard lock(mu);
    for (auto& w : links)
      if (auto l = w.lock())
        l->flush();
  }
};

tcp_proxy::tcp_proxy(int target_port) : impl_(std::make_shared<impl>()) {
  impl_->target = target_port;
  tcp::endpoint at(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(at.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(at);
  impl_->acceptor.listen();
  impl_->port = impl_->acceptor.local_endpoint().port();
  impl_->accept();
  impl_->thread = std::thread([i = impl_] { i->io.run(); });
}

tcp_proxy::~tcp_proxy() {
  asio::post(impl_->io, [i = impl_] {
    boost::system::error_code ec;
    i->acceptor.close(ec);
    std::lock_guard lock(i->mu);
    for (auto& w : i->links)
      if (auto l = w.lock())
        l->close();
  });
  // Every socket closed, the pending operations finish (aborted) and start nothing new: run()
  // returns, and the links (which hold the proxy) are gone with their handlers.
  impl_->thread.join();
}

int tcp_proxy::port() const {
  return impl_->port;
}

void tcp_proxy::hold() {
  impl_->holding = true;
}

void tcp_proxy::release() {
  impl_->holding = false;
  asio::post(impl_->io, [i = impl_] { i->flush_all(); });
}

bool tcp_proxy::holds(const std::string& text) const {
  std::promise<bool> found;
  asio::post(impl_->io, [i = impl_, &text, &found] {
    bool hit = false;
    std::lock_guard lock(i->mu);
    for (auto& w : i->links)
      if (auto l = w.lock()) {
        std::string all;
        for (auto& chunk : l->pending)
          all += chunk;
        hit = hit || all.find(text) != std::string::npos;
      }
    found.set_value(hit);
  });
  return found.get_future().get();
}

} // namespace inboxd::test
