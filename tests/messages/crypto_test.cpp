// Known-answer tests for the hand-assembled HMAC-SHA256 (RFC 4231) and SHA-256 (FIPS 180-2).
#include <string>

#include <gtest/gtest.h>

#include "messages/crypto.hpp"

using namespace inboxd;

TEST(Crypto, Sha256KnownAnswers) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Crypto, HmacSha256Rfc4231) {
  // Test case 1: 20-byte key.
  EXPECT_EQ(hmac_sha256_hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2: key shorter than the block.
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: 131-byte key, hashed first.
  EXPECT_EQ(hmac_sha256_hex(std::string(131, '\xaa'),
                            "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // Exactly one block of key (Python's hmac module gives the same), and the raw form.
  EXPECT_EQ(hmac_sha256_hex(std::string(64, 'k'), "data"),
            "93244b031118b8060c6619e5900fcf916faefb2d8d020fecb22ae0f62275db08");
  auto raw = hmac_sha256_raw(std::string(64, 'k'), "data");
  ASSERT_EQ(raw.size(), 32u);
  EXPECT_EQ(static_cast<unsigned char>(raw[0]), 0x93);
}
