#pragma once
// A hash index from string keys to slots (uint32) of the caller's own storage. The table keeps
// only the slots, 4 bytes per cell, and reads an entry's key from the storage through the
// caller's key_of(slot): a node-based map would add ~50 bytes per entry, which matters for the
// millions of contacts and conversations a node keeps in memory. Open addressing with linear
// probing, at most half full, and backward-shift deletion (no tombstones).
//
// Contract: an entry's key (key_of(slot)) must not change while the entry is in the table;
// erase it first, change the storage, insert it again. Not thread-safe (owned by one actor).

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

namespace inboxd {

class slot_table {
public:
  static constexpr uint32_t kNone = UINT32_MAX;

  /// The slot whose key equals `key`, or kNone.
  template <class KeyOf>
  uint32_t find(std::string_view key, const KeyOf& key_of) const {
    if (cells_.empty())
      return kNone;
    for (size_t i = home(key);; i = next(i)) {
      auto s = cells_[i];
      if (s == kNone)
        return kNone;
      if (key_of(s) == key)
        return s;
    }
  }

  /// Maps key_of(slot) to `slot`, replacing the entry of an equal key.
  template <class KeyOf>
  void insert(uint32_t slot, const KeyOf& key_of) {
    if ((size_ + 1) * 4 > cells_.size() * 3) // load factor at most 3/4
      grow(key_of);
    auto key = key_of(slot);
    for (size_t i = home(key);; i = next(i)) {
      auto s = cells_[i];
      if (s == kNone) {
        cells_[i] = slot;
        ++size_;
        return;
      }
      if (key_of(s) == key) {
        cells_[i] = slot;
        return;
      }
    }
  }

  /// Removes the entry of `key` if it maps to `only` (any slot when kNone); true if removed.
  template <class KeyOf>
  bool erase(std::string_view key, const KeyOf& key_of, uint32_t only = kNone) {
    if (cells_.empty())
      return false;
    size_t i = home(key);
    for (;; i = next(i)) {
      auto s = cells_[i];
      if (s == kNone)
        return false;
      if (key_of(s) == key) {
        if (only != kNone && s != only)
          return false;
        break;
      }
    }
    // Backward shift: pull later entries of the probe run into the hole when their home
    // position allows it, so lookups never stop early at the hole.
    size_t hole = i;
    for (size_t j = next(hole);; j = next(j)) {
      auto s = cells_[j];
      if (s == kNone)
        break;
      size_t h = home(key_of(s));
      bool movable = hole <= j ? (h <= hole || h > j) : (h <= hole && h > j);
      if (movable) {
        cells_[hole] = s;
        hole = j;
      }
    }
    cells_[hole] = kNone;
    --size_;
    return true;
  }

  size_t size() const { return size_; }

private:
  size_t home(std::string_view key) const {
    return std::hash<std::string_view>{}(key) & (cells_.size() - 1);
  }
  size_t next(size_t i) const { return (i + 1) & (cells_.size() - 1); }

  template <class KeyOf>
  void grow(const KeyOf& key_of) {
    std::vector<uint32_t> old(cells_.empty() ? 16 : cells_.size() * 2, kNone);
    old.swap(cells_);
    size_ = 0;
    for (auto s : old)
      if (s != kNone)
        insert(s, key_of);
  }

  std::vector<uint32_t> cells_; // size: a power of two (or empty)
  size_t size_ = 0;
};

} // namespace inboxd
