#include "storage/media_files.hpp"

#include <cerrno>
#include <cstring>
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

std::string media_files::path(const std::string& sha256) const {
  return dir_ + "/" + sha256.substr(0, 2) + "/" + sha256;
}

std::string media_files::keep(const std::string& temp, const std::string& sha256) const {
  std::string error;
  if (!is_sha256_hex(sha256))
    error = "not a SHA-256: " + sha256;
  else if (auto e = make_dir(dir_ + "/" + sha256.substr(0, 2)); !e.empty())
    error = e;
  else if (::rename(temp.c_str(), path(sha256).c_str()) != 0)
    error = "cannot move " + temp + " into place: " + std::strerror(errno);
  if (!error.empty())
    discard(temp);
  return error;
}

void media_files::discard(const std::string& temp) const {
  ::unlink(temp.c_str());
}

int64_t media_files::size_of(const std::string& sha256) const {
  struct stat st {};
  if (!is_sha256_hex(sha256) || ::stat(path(sha256).c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return -1;
  return static_cast<int64_t>(st.st_size);
}

} // namespace inboxd
