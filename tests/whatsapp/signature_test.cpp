#include <algorithm>
#include <cctype>
#include <string>

#include <gtest/gtest.h>

#include "messages/crypto.hpp"
#include "whatsapp/signature.hpp"

using namespace inboxd;

namespace {

const std::string kSecret = "app-secret";
const std::string kBody = R"({"object":"whatsapp_business_account","entry":[]})";

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

} // namespace

TEST(Signature, MetaAcceptsValid) {
  std::string hex = hmac_sha256_hex(kSecret, kBody);
  ASSERT_EQ(hex.size(), 64u);
  EXPECT_TRUE(verify_meta_signature(kSecret, kBody, "sha256=" + hex));
  EXPECT_TRUE(verify_meta_signature(kSecret, kBody, "sha256=" + upper(hex)));
  std::string mixed = hex;
  for (size_t i = 0; i < mixed.size(); i += 2)
    mixed[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(mixed[i])));
  EXPECT_TRUE(verify_meta_signature(kSecret, kBody, "sha256=" + mixed));
}

TEST(Signature, MetaRejectsInvalid) {
  std::string hex = hmac_sha256_hex(kSecret, kBody);
  EXPECT_FALSE(verify_meta_signature(kSecret, kBody, hex)) << "missing prefix";
  EXPECT_FALSE(verify_meta_signature(kSecret, kBody, "")) << "missing header";
  EXPECT_FALSE(verify_meta_signature(kSecret, kBody, "sha256=")) << "empty hex";
  EXPECT_FALSE(verify_meta_signature(kSecret, kBody, "sha256=" + hex.substr(0, 63))) << "truncated";
  EXPECT_FALSE(verify_meta_signature(kSecret, kBody, "sha256=" + hex.substr(0, 32))) << "half";
  EXPECT_FALSE(verify_meta_signature(kSecret, kBody, "sha256=" + hex + "0")) << "too long";
  EXPECT_FALSE(verify_meta_signature(kSecret, kBody, "sha1=" + hex)) << "wrong algorithm";
  EXPECT_FALSE(verify_meta_signature(kSecret, kBody, "SHA256=" + hex.substr(0, 10)))
      << "bad prefix";
  EXPECT_FALSE(verify_meta_signature("other", kBody, "sha256=" + hex)) << "wrong secret";
  EXPECT_FALSE(verify_meta_signature(kSecret, kBody + " ", "sha256=" + hex)) << "body changed";
  EXPECT_FALSE(verify_meta_signature("", kBody, "sha256=" + hmac_sha256_hex("", kBody)))
      << "empty secret";
  std::string flipped = hex;
  flipped[10] = flipped[10] == '0' ? '1' : '0';
  EXPECT_FALSE(verify_meta_signature(kSecret, kBody, "sha256=" + flipped)) << "one digit off";
  std::string nonhex = hex;
  nonhex[5] = 'g';
  EXPECT_FALSE(verify_meta_signature(kSecret, kBody, "sha256=" + nonhex)) << "non-hex";
  EXPECT_FALSE(verify_meta_signature(kSecret, kBody, "sha256=" + std::string(64, 'z')));
  // Raw bytes instead of hex.
  EXPECT_FALSE(verify_meta_signature(kSecret, kBody, "sha256=" + hmac_sha256_raw(kSecret, kBody)));
}

TEST(Signature, KapsoAcceptsHexWithOrWithoutPrefix) {
  std::string hex = hmac_sha256_hex(kSecret, kBody);
  EXPECT_TRUE(verify_kapso_signature(kSecret, kBody, hex));
  EXPECT_TRUE(verify_kapso_signature(kSecret, kBody, upper(hex)));
  EXPECT_TRUE(verify_kapso_signature(kSecret, kBody, "sha256=" + hex));
}

TEST(Signature, KapsoRejectsInvalid) {
  std::string hex = hmac_sha256_hex(kSecret, kBody);
  EXPECT_FALSE(verify_kapso_signature(kSecret, kBody, ""));
  EXPECT_FALSE(verify_kapso_signature(kSecret, kBody, hex.substr(0, 63)));
  EXPECT_FALSE(verify_kapso_signature(kSecret, kBody, hex + "a"));
  EXPECT_FALSE(verify_kapso_signature("wrong", kBody, hex));
  EXPECT_FALSE(verify_kapso_signature("", kBody, hmac_sha256_hex("", kBody)));
  EXPECT_FALSE(verify_kapso_signature(kSecret, kBody, "sha1=" + hex));
  EXPECT_FALSE(verify_kapso_signature(kSecret, "", hex));
}
