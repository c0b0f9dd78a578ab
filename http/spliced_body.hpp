#pragma once
// The body of an outgoing request as https_client writes it: `head`, then the bytes of a file (if
// any), then `tail`. A media upload (a multipart form around a file of up to 100 MiB) is sent
// this way without ever being held in memory; a plain request is all `head`.
//
// Contract (a Beast Body, writing only): the file is opened when a write starts and read in
// 64 KiB pieces on the writer's thread; it must hold file_size bytes then (Content-Length is
// head + file_size + tail). A file that cannot be opened, or ends before file_size, fails the
// write with its errno (EIO for a short file). Each write reads the file from its start, so a
// request may be written again (a retry on a fresh connection).

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional.hpp>

namespace inboxd {

struct spliced_body {
  struct value_type {
    std::string head;
    std::string file; // "" = no file
    uint64_t file_size = 0;
    std::string tail;
  };

  static uint64_t size(const value_type& v) {
    return v.head.size() + (v.file.empty() ? 0 : v.file_size) + v.tail.size();
  }

  class writer {
  public:
    using const_buffers_type = boost::asio::const_buffer;

    template <bool isRequest, class Fields>
    writer(const boost::beast::http::header<isRequest, Fields>&, const value_type& v) : v_(v) {}
    ~writer() {
      if (fd_ >= 0)
        ::close(fd_);
    }
    writer(const writer&) = delete;
    writer& operator=(const writer&) = delete;

    void init(boost::system::error_code& ec) {
      ec = {};
      if (v_.file.empty())
        return;
      fd_ = ::open(v_.file.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd_ < 0)
        ec = boost::system::error_code(errno, boost::system::generic_category());
    }

    boost::optional<std::pair<const_buffers_type, bool>> get(boost::system::error_code& ec) {
      ec = {};
      if (part_ == 0) {
        part_ = v_.file.empty() ? 2 : 1;
        if (!v_.head.empty())
          return {{boost::asio::buffer(v_.head), more_after_head()}};
      }
      if (part_ == 1) {
        if (left_ == 0 && sent_ == 0)
          left_ = v_.file_size;
        if (left_ > 0) {
          if (!buf_)
            buf_ = std::make_unique<char[]>(kChunk);
          auto want = static_cast<size_t>(std::min<uint64_t>(left_, kChunk));
          ssize_t n;
          do
            n = ::read(fd_, buf_.get(), want);
          while (n < 0 && errno == EINTR);
          if (n <= 0) { // an error, or the file is shorter than promised
            ec = boost::system::error_code(n < 0 ? errno : EIO, boost::system::generic_category());
            return boost::none;
          }
          left_ -= static_cast<uint64_t>(n);
          sent_ += static_cast<uint64_t>(n);
          return {{boost::asio::buffer(buf_.get(), static_cast<size_t>(n)),
                   left_ > 0 || !v_.tail.empty()}};
        }
        part_ = 2;
      }
      if (part_ == 2) {
        part_ = 3;
        if (!v_.tail.empty())
          return {{boost::asio::buffer(v_.tail), false}};
      }
      return boost::none;
    }

  private:
    static constexpr size_t kChunk = 64 * 1024;

    bool more_after_head() const {
      return (!v_.file.empty() && v_.file_size > 0) || !v_.tail.empty();
    }

    const value_type& v_;
    int fd_ = -1;
    int part_ = 0; // 0 head, 1 file, 2 tail, 3 done
    uint64_t left_ = 0, sent_ = 0;
    std::unique_ptr<char[]> buf_;
  };
};

} // namespace inboxd
