#pragma once
// A string of 24 bytes that keeps up to 23 characters inline (every id inboxd makes: "cv_" plus
// 20 characters) and longer ones in one exactly sized heap block. std::string is 32 bytes and
// keeps only 15 inline, so each id cost 32 bytes plus a 32-byte heap block. The workspace's
// conversation index holds a handful per conversation, for every conversation of the workspace.

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace inboxd {

class packed_string {
public:
  packed_string() { clear_inline(); }
  packed_string(std::string_view s) { assign(s); } // NOLINT: converts like std::string
  packed_string(const packed_string& o) { assign(o.view()); }
  packed_string& operator=(const packed_string& o) {
    if (this != &o) {
      auto copy = packed_string(o.view()); // `o` may view into our own block
      swap(copy);
    }
    return *this;
  }
  packed_string& operator=(std::string_view s) {
    packed_string copy(s);
    swap(copy);
    return *this;
  }
  ~packed_string() { release(); }

  std::string_view view() const {
    if (is_heap()) {
      const char* p;
      uint32_t n;
      std::memcpy(&p, bytes_, sizeof p);
      std::memcpy(&n, bytes_ + sizeof p, sizeof n);
      return {p, n};
    }
    return {bytes_, static_cast<size_t>(bytes_[kCap])};
  }
  operator std::string_view() const { return view(); } // NOLINT
  std::string str() const { return std::string(view()); }
  bool empty() const { return view().empty(); }
  friend bool operator==(const packed_string& a, std::string_view b) { return a.view() == b; }

private:
  static constexpr size_t kCap = 23;
  static constexpr char kHeap = static_cast<char>(0x80);

  bool is_heap() const { return bytes_[kCap] == kHeap; }
  void clear_inline() { std::memset(bytes_, 0, sizeof bytes_); }
  void assign(std::string_view s) {
    if (s.size() <= kCap) {
      clear_inline();
      std::memcpy(bytes_, s.data(), s.size());
      bytes_[kCap] = static_cast<char>(s.size());
      return;
    }
    char* p = new char[s.size()];
    std::memcpy(p, s.data(), s.size());
    auto n = static_cast<uint32_t>(s.size());
    clear_inline();
    std::memcpy(bytes_, &p, sizeof p);
    std::memcpy(bytes_ + sizeof p, &n, sizeof n);
    bytes_[kCap] = kHeap;
  }
  void release() {
    if (is_heap()) {
      char* p;
      std::memcpy(&p, bytes_, sizeof p);
      delete[] p;
    }
  }
  void swap(packed_string& o) {
    char tmp[sizeof bytes_];
    std::memcpy(tmp, bytes_, sizeof bytes_);
    std::memcpy(bytes_, o.bytes_, sizeof bytes_);
    std::memcpy(o.bytes_, tmp, sizeof bytes_);
  }

  char bytes_[kCap + 1];
};

static_assert(sizeof(packed_string) == 24);

/// A list of strings in 8 bytes while empty (most conversations and contacts have no tags; an
/// empty std::vector is 24).
class packed_list {
public:
  packed_list() = default;
  packed_list(const packed_list& o) { *this = o.get(); }
  packed_list& operator=(const packed_list& o) {
    if (this != &o)
      *this = o.get();
    return *this;
  }
  packed_list& operator=(const std::vector<std::string>& v) {
    items_ = v.empty() ? nullptr : std::make_unique<std::vector<std::string>>(v);
    return *this;
  }
  const std::vector<std::string>& get() const {
    static const std::vector<std::string> none;
    return items_ ? *items_ : none;
  }

private:
  std::unique_ptr<std::vector<std::string>> items_;
};

} // namespace inboxd
