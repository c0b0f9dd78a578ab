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

TEST_F(MediaFilesTest, KeepMovesAWholeDownloadUnderItsWorkspaceAndHash) {
  media_files files(root_);
  ASSERT_EQ(files.prepare(), "");
  auto sha = std::string("ab") + std::string(62, '0');
  auto temp = files.temp_path("msg_1");
  EXPECT_EQ(temp.rfind(root_ + "/tmp/msg_1.", 0), 0u);
  EXPECT_NE(temp, files.temp_path("msg_1")) << "unique";
  write(temp, "hello");
  EXPECT_EQ(files.size_of("ws_1", sha), -1);
  EXPECT_EQ(files.keep(temp, "ws_1", sha), "");
  EXPECT_EQ(files.path("ws_1", sha), root_ + "/ws_1/ab/" + sha);
  EXPECT_EQ(files.size_of("ws_1", sha), 5);
  EXPECT_EQ(files.size_of("ws_2", sha), -1) << "another workspace has its own files";
  EXPECT_FALSE(exists(temp));
  // The same bytes again replace the file harmlessly.
  auto again = files.temp_path("msg_2");
  write(again, "hello");
  EXPECT_EQ(files.keep(again, "ws_1", sha), "");
  EXPECT_EQ(files.size_of("ws_1", sha), 5);
}

TEST_F(MediaFilesTest, RemoveTakesOnlyTheWorkspacesOwnFile) {
  media_files files(root_);
  ASSERT_EQ(files.prepare(), "");
  auto sha = std::string("ef") + std::string(62, '2');
  auto temp = files.temp_path("msg_1");
  write(temp, "bytes");
  ASSERT_EQ(files.keep(temp, "ws_1", sha), "");
  auto other = files.temp_path("msg_2");
  write(other, "bytes");
  ASSERT_EQ(files.keep(other, "ws_2", sha), "");
  EXPECT_EQ(files.remove("ws_1", sha), "");
  EXPECT_EQ(files.size_of("ws_1", sha), -1);
  EXPECT_EQ(files.size_of("ws_2", sha), 5);
  EXPECT_EQ(files.remove("ws_1", sha), "") << "already gone is fine";
  EXPECT_NE(files.remove("../ws_2", sha), "");
  EXPECT_NE(files.remove("ws_2", "../" + sha), "");
  EXPECT_EQ(files.size_of("ws_2", sha), 5);
}

TEST_F(MediaFilesTest, AFileStoredBeforeWorkspacesHadTheirOwnIsStillServed) {
  media_files files(root_);
  ASSERT_EQ(files.prepare(), "");
  auto sha = std::string("0a") + std::string(62, '3');
  ASSERT_EQ(::mkdir((root_ + "/0a").c_str(), 0750), 0);
  write(root_ + "/0a/" + sha, "old");
  EXPECT_EQ(files.path("ws_1", sha), root_ + "/0a/" + sha);
  EXPECT_EQ(files.size_of("ws_1", sha), 3);
  EXPECT_EQ(files.remove("ws_1", sha), "");
  EXPECT_TRUE(exists(root_ + "/0a/" + sha)) << "shared by every workspace: never removed";
}

TEST_F(MediaFilesTest, ANameThatIsNotAHashIsRefusedAndTheDownloadDropped) {
  media_files files(root_);
  ASSERT_EQ(files.prepare(), "");
  auto temp = files.temp_path("msg_1");
  write(temp, "x");
  EXPECT_NE(files.keep(temp, "ws_1", "../../etc/passwd"), "");
  EXPECT_FALSE(exists(temp));
  auto temp2 = files.temp_path("msg_2");
  write(temp2, "x");
  EXPECT_NE(files.keep(temp2, "..", std::string(64, 'a')), "") << "not a workspace id";
  EXPECT_FALSE(exists(temp2));
  EXPECT_EQ(files.size_of("ws_1", "../tmp"), -1);
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
  ASSERT_EQ(files.keep(kept, "ws_1", sha), "");
  struct timespec times[2]{};
  ASSERT_EQ(::clock_gettime(CLOCK_REALTIME, &times[0]), 0);
  times[0].tv_sec -= 3600;
  times[1] = times[0];
  ASSERT_EQ(::utimensat(AT_FDCWD, stale.c_str(), times, 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, files.path("ws_1", sha).c_str(), times, 0), 0);
  // A directory under tmp/, however old, is not a file to remove.
  ASSERT_EQ(::mkdir((root_ + "/tmp/subdir").c_str(), 0750), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, (root_ + "/tmp/subdir").c_str(), times, 0), 0);

  EXPECT_EQ(files.sweep_temp(60000), 1u);
  EXPECT_FALSE(exists(stale));
  EXPECT_TRUE(exists(fresh));
  EXPECT_TRUE(exists(root_ + "/tmp/subdir"));
  EXPECT_EQ(files.size_of("ws_1", sha), 5) << "the store proper is never touched";
  EXPECT_EQ(files.sweep_temp(60000), 0u) << "again: nothing left to remove";

  EXPECT_EQ(media_files(root_ + "/missing").sweep_temp(0), 0u) << "no tmp/: nothing, no error";
}

} // namespace
} // namespace inboxd
