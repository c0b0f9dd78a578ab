#include "storage/media_files.hpp"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "messages/crypto.hpp"

namespace inboxd {

namespace {

std::string make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0750) == 0 || errno == EEXIST)
    return "";
  return "cannot create " + path + ": " + std::strerror(errno);
}

} // namespace

bool is_sha256_hex(const std::string& s) {
  if (s.size() != 64)
    return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

media_files::media_files(std::string dir) : dir_(std::move(dir)) {
  while (dir_.size() > 1 && dir_.back() == '/')
    dir_.pop_back();
}

std::string media_files::prepare() const {
  // Each missing parent in turn (mkdir -p).
  for (auto at = dir_.find('/', 1); at != std::string::npos; at = dir_.find('/', at + 1))
    if (auto e = make_dir(dir_.substr(0, at)); !e.empty())
      return e;
  if (auto e = make_dir(dir_); !e.empty())
    return e;
  if (auto e = make_dir(dir_ + "/tmp"); !e.empty())
    return e;
  if (::access((dir_ + "/tmp").c_str(), W_OK) != 0)
    return dir_ + "/tmp is not writable: " + std::strerror(errno);
  return "";
}

std::string media_files::temp_path(const std::string& id) const {
  return dir_ + "/tmp/" + id + "." + random_hex(8);
}

std::string media_files::own_path(const std::string& workspace_id,
                                  const std::string& sha256) const {
  return dir_ + "/" + workspace_id + "/" + sha256.substr(0, 2) + "/" + sha256;
}

std::string media_files::path(const std::string& workspace_id, const std::string& sha256) const {
  auto own = own_path(workspace_id, sha256);
  struct stat st {};
  if (::stat(own.c_str(), &st) == 0)
    return own;
  auto shared = dir_ + "/" + sha256.substr(0, 2) + "/" + sha256; // stored before 2026-12-06
  return ::stat(shared.c_str(), &st) == 0 ? shared : own;
}

std::string media_files::keep(const std::string& temp, const std::string& workspace_id,
                              const std::string& sha256) const {
  std::string error;
  auto ws_dir = dir_ + "/" + workspace_id;
  if (!is_sha256_hex(sha256))
    error = "not a SHA-256: " + sha256;
  else if (workspace_id.empty() || workspace_id.find_first_of("/.") != std::string::npos)
    error = "not a workspace id: " + workspace_id;
  else if (auto e = make_dir(ws_dir); !e.empty())
    error = e;
  else if (auto e2 = make_dir(ws_dir + "/" + sha256.substr(0, 2)); !e2.empty())
    error = e2;
  else if (::rename(temp.c_str(), own_path(workspace_id, sha256).c_str()) != 0)
    error = "cannot move " + temp + " into place: " + std::strerror(errno);
  if (!error.empty())
    discard(temp);
  return error;
}

std::string media_files::remove(const std::string& workspace_id, const std::string& sha256) const {
  if (!is_sha256_hex(sha256) || workspace_id.empty() ||
      workspace_id.find_first_of("/.") != std::string::npos)
    return "not a workspace's media file";
  auto p = own_path(workspace_id, sha256);
  if (::unlink(p.c_str()) != 0 && errno != ENOENT)
    return "cannot remove " + p + ": " + std::strerror(errno);
  return "";
}

void media_files::discard(const std::string& temp) const {
  ::unlink(temp.c_str());
}

int64_t media_files::size_of(const std::string& workspace_id, const std::string& sha256) const {
  struct stat st {};
  if (!is_sha256_hex(sha256) || workspace_id.find_first_of("/.") != std::string::npos ||
      ::stat(path(workspace_id, sha256).c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return -1;
  return static_cast<int64_t>(st.st_size);
}

size_t media_files::sweep_temp(int64_t older_than_ms) const {
  // Past opening tmp/, entries are stat'ed and unlinked relative to its descriptor: no path is
  // built, so nothing allocates (or throws).
  DIR* d = nullptr;
  try {
    d = ::opendir((dir_ + "/tmp").c_str());
  } catch (...) {
    return 0;
  }
  if (d == nullptr)
    return 0;
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  const int64_t now_ms = static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
  const int fd = ::dirfd(d);
  size_t removed = 0;
  while (const struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0)
      continue;
    struct stat st {};
    // Not following symbolic links: only regular files of the store's own are removed.
    if (::fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
      continue;
    const int64_t mtime_ms =
        static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
    if (now_ms - mtime_ms < older_than_ms)
      continue;
    if (::unlinkat(fd, e->d_name, 0) == 0)
      ++removed;
  }
  ::closedir(d);
  return removed;
}

} // namespace inboxd
