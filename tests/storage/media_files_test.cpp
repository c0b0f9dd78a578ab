// Unit tests: storage/media_files (the content-addressed media store on disk).

#include "storage/media_files.hpp"

#include <cstdlib>
#include <fstream>
#include <string>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <time.h>
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

TEST_F(MediaFilesTest, SweepTempRemovesOnlyStaleTemporaryFiles) {
  media_files files(root_);
  ASSERT_EQ(files.prepare(), "");
  EXPECT_EQ(files.sweep_temp(60000), 0u) << "nothing there";
  auto stale = files.temp_path("msg_old");
  auto fresh = files.temp_path("msg_new");
  write(stale, "killed mid-download");
  write(fresh, "being written");
  // An hour ago, in the store proper too: only tmp/ is swept.
  auto sha = std::string("cd") + std::string(62, '1');
  auto kept = files.temp_path("msg_kept");
  write(kept, "whole");
  ASSERT_EQ(files.keep(kept, sha), "");
  struct timespec times[2]{};
  ASSERT_EQ(::clock_gettime(CLOCK_REALTIME, &times[0]), 0);
  times[0].tv_sec -= 3600;
  times[1] = times[0];
  ASSERT_EQ(::utimensat(AT_FDCWD, stale.c_str(), times, 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, files.path(sha).c_str(), times, 0), 0);
  // A directory under tmp/, however old, is not a file to remove.
  ASSERT_EQ(::mkdir((root_ + "/tmp/subdir").c_str(), 0750), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, (root_ + "/tmp/subdir").c_str(), times, 0), 0);

  EXPECT_EQ(files.sweep_temp(60000), 1u);
  EXPECT_FALSE(exists(stale));
  EXPECT_TRUE(exists(fresh));
  EXPECT_TRUE(exists(root_ + "/tmp/subdir"));
  EXPECT_EQ(files.size_of(sha), 5) << "the store proper is never touched";
  EXPECT_EQ(files.sweep_temp(60000), 0u) << "again: nothing left to remove";

  EXPECT_EQ(media_files(root_ + "/missing").sweep_temp(0), 0u) << "no tmp/: nothing, no error";
}

} // namespace
} // namespace inboxd
