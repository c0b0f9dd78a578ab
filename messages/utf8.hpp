#pragma once
// UTF-8 helpers on byte strings (no validation: the text was checked when it was parsed).

#include <cstddef>
#include <string>

namespace inboxd {

/// Cuts `s` to at most `max` bytes without splitting a character.
inline void truncate_utf8(std::string& s, size_t max) {
  if (s.size() <= max)
    return;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80)
    --n; // s[n] continues a character: cut before that character starts
  s.resize(n);
}

} // namespace inboxd
