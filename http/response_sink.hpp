#pragma once
// Where https_client puts one response body while it is parsed: in memory (a std::string) or in a
// file, within a byte limit, counting bytes; in a file it also computes the SHA-256 as it writes,
// so a large download (WhatsApp media, up to 100 MiB) is never held in memory.
//
// Contract (the client's thread only; not thread-safe):
// - open(path) switches to a file: created or truncated, mode 0600 when created (an existing
//   file keeps its mode). It returns "" or "cannot write <path>: <strerror>".
// - response_sink::body is a Beast Body for a response parser; its value is a pointer to the sink,
//   set before reading. The reader fails with http::error::body_limit past `limit` (besides the
//   parser's own body_limit) and with the errno of a failed write (error() then says why).
// - restart() empties the sink for a new attempt (the file is truncated); commit() closes the
//   file and returns the body's SHA-256 (lowercase hex), or "" and error() on a failed close;
//   discard() closes and removes an uncommitted file (also done by the destructor). After
//   commit() or discard() every further write fails, harmlessly.

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional.hpp>
#include <openssl/evp.h>

namespace inboxd {

class response_sink {
public:
  response_sink() = default;
  ~response_sink() { discard(); }
  response_sink(const response_sink&) = delete;
  response_sink& operator=(const response_sink&) = delete;

  [[nodiscard]] std::string open(const std::string& path) {
    path_ = path;
    sha_.reset(EVP_MD_CTX_new());
    if (!sha_)
      return "cannot hash the body of " + path;
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd_ < 0)
      return "cannot write " + path + ": " + std::strerror(errno);
    owned_ = true;
    if (!restart_hash())
      return error_;
    return {};
  }

  bool to_file() const { return !path_.empty(); }
  void set_limit(uint64_t limit) { limit_ = limit; }
  uint64_t limit() const { return limit_; }
  uint64_t size() const { return size_; }
  const std::string& error() const { return error_; }
  std::string take_text() { return std::move(text_); }

  [[nodiscard]] bool restart() {
    size_ = 0;
    text_.clear();
    if (!to_file())
      return true;
    if (fd_ < 0 || ::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) != 0)
      return failed(fd_ < 0 ? EBADF : errno);
    return restart_hash();
  }

  // Appends n bytes; false (and ec set) past the limit or on a failed write.
  bool write(const char* p, size_t n, boost::system::error_code& ec) {
    if (n > limit_ - size_) { // size_ <= limit_ always
      ec = boost::beast::http::error::body_limit;
      return false;
    }
    if (!to_file()) {
      text_.append(p, n);
    } else {
      if (fd_ < 0 || EVP_DigestUpdate(sha_.get(), p, n) != 1) {
        ec = boost::system::error_code(EIO, boost::system::generic_category());
        return false;
      }
      for (size_t done = 0; done < n;) {
        auto w = ::write(fd_, p + done, n - done);
        if (w < 0 && errno == EINTR)
          continue;
        if (w <= 0) {
          int err = w < 0 ? errno : EIO;
          failed(err);
          ec = boost::system::error_code(err, boost::system::generic_category());
          return false;
        }
        done += static_cast<size_t>(w);
      }
    }
    size_ += n;
    return true;
  }

  [[nodiscard]] std::string commit() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (fd_ < 0 || EVP_DigestFinal_ex(sha_.get(), digest, &len) != 1) {
      failed(fd_ < 0 ? EBADF : EIO);
      return {};
    }
    int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) { // write(2) left nothing buffered; close may still report an error
      failed(errno);
      return {};
    }
    owned_ = false;
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
      out += hex[digest[i] >> 4];
      out += hex[digest[i] & 0xf];
    }
    return out;
  }

  void discard() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
    if (owned_)
      ::unlink(path_.c_str());
    owned_ = false;
  }

  // The Beast Body: the parser's body value points at the sink that takes the bytes.
  struct body {
    struct value_type {
      response_sink* sink = nullptr;
    };

    class reader {
    public:
      template <bool isRequest, class Fields>
      reader(boost::beast::http::header<isRequest, Fields>&, value_type& v) : value_(v) {}

      void init(const boost::optional<uint64_t>& content_length, boost::system::error_code& ec) {
        ec = {};
        if (content_length && *content_length > sink().limit_)
          ec = boost::beast::http::error::body_limit;
        else if (content_length && !sink().to_file())
          sink().text_.reserve(static_cast<size_t>(*content_length));
      }

      template <class ConstBufferSequence>
      size_t put(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
        ec = {};
        size_t n = 0;
        for (auto it = boost::asio::buffer_sequence_begin(buffers);
             it != boost::asio::buffer_sequence_end(buffers); ++it) {
          boost::asio::const_buffer b = *it;
          if (!sink().write(static_cast<const char*>(b.data()), b.size(), ec))
            return n;
          n += b.size();
        }
        return n;
      }

      void finish(boost::system::error_code& ec) { ec = {}; }

    private:
      // Beast builds the reader with the parser, before the pointer is set: read it when used.
      response_sink& sink() { return *value_.sink; }

      value_type& value_;
    };
  };

private:
  struct md_ctx_free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };

  bool restart_hash() {
    return EVP_DigestInit_ex(sha_.get(), EVP_sha256(), nullptr) == 1 || failed(EIO);
  }

  bool failed(int err) {
    if (error_.empty())
      error_ = "cannot write " + path_ + ": " + std::strerror(err);
    return false;
  }

  std::string path_; // "" = in memory
  int fd_ = -1;
  bool owned_ = false; // created or truncated by us and not committed: discard() removes it
  std::unique_ptr<EVP_MD_CTX, md_ctx_free> sha_;
  std::string text_;
  uint64_t size_ = 0;
  uint64_t limit_ = 0;
  std::string error_;
};

} // namespace inboxd
