// Unit tests: storage/media_files (the content-addressed media store on disk).

#include "storage/media_files.hpp"

#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

namespace inboxd {
namespace {

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

void write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

class MediaFilesTest : public ::testing::Test {
protected:
  void SetUp() override {
    char tmpl[] = "/tmp/inboxd-media-files-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + root_).c_str()); }
  std::string root_;
};

TEST_F(MediaFilesTest, PrepareCreatesTheDirectoryAndItsParents) {
  media_files files(root_ + "/a/b/media/");
  EXPECT_EQ(files.dir(), root_ + "/a/b/media");
  EXPECT_EQ(files.prepare(), "");
  EXPECT_TRUE(exists(root_ + "/a/b/media/tmp"));
  EXPECT_EQ(files.prepare(), "") << "again: already there";
  write(root_ + "/file", "x");
  EXPECT_NE(media_files(root_ + "/file/media").prepare(), "") << "a file in the way";
}

TEST_F(MediaFilesTest, KeepMovesAWholeDownloadUnderItsHash) {
  media_files files(root_);
  ASSERT_EQ(files.prepare(), "");
  auto sha = std::string("ab") + std::string(62, '0');
  auto temp = files.temp_path("msg_1");
  EXPECT_EQ(temp.rfind(root_ + "/tmp/msg_1.", 0), 0u);
  EXPECT_NE(temp, files.temp_path("msg_1")) << "unique";
  write(temp, "hello");
  EXPECT_EQ(files.size_of(sha), -1);
  EXPECT_EQ(files.keep(temp, sha), "");
  EXPECT_EQ(files.path(sha), root_ + "/ab/" + sha);
  EXPECT_EQ(files.size_of(sha), 5);
  EXPECT_FALSE(exists(temp));
  // The same bytes again replace the file harmlessly.
  auto again = files.temp_path("msg_2");
  write(again, "hello");
  EXPECT_EQ(files.keep(again, sha), "");
  EXPECT_EQ(files.size_of(sha), 5);
}

TEST_F(MediaFilesTest, ANameThatIsNotAHashIsRefusedAndTheDownloadDropped) {
  media_files files(root_);
  ASSERT_EQ(files.prepare(), "");
  auto temp = files.temp_path("msg_1");
  write(temp, "x");
  EXPECT_NE(files.keep(temp, "../../etc/passwd"), "");
  EXPECT_FALSE(exists(temp));
  EXPECT_EQ(files.size_of("../tmp"), -1);
  EXPECT_FALSE(is_sha256_hex(std::string(64, 'A')));
  EXPECT_FALSE(is_sha256_hex(std::string(63, 'a')));
  EXPECT_TRUE(is_sha256_hex(std::string(64, 'f')));
}

} // namespace
} // namespace inboxd
