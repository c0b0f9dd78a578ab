#pragma once
// The media store on disk (INBOXD_MEDIA_DIR): files named by the SHA-256 of their bytes, so a
// file is written once however many messages of a workspace carry it, and several nodes may
// share the directory (a shared filesystem): <dir>/<workspace id>/<aa>/<sha256 hex>, where aa is
// the hash's first two characters. Each workspace has its own files, so that erasing a contact
// removes a file once no message of its workspace holds it ({ws}:mref counts them). Files
// stored before 2026-12-06 live at <dir>/<aa>/<sha256 hex>, shared by every workspace: they are
// still served, and never removed. A download is written to <dir>/tmp/ first and renamed into place
// once whole, so a path that exists always holds the whole file. Blocking file system calls, all of
// them short (no reading or writing of contents): actors may call them.

#include <cstddef>
#include <cstdint>
#include <string>

namespace inboxd {

class media_files {
public:
  explicit media_files(std::string dir);

  /// Creates the directory and its tmp/ (as needed). Returns "" or why it cannot be used.
  std::string prepare() const;

  /// A new temporary path for a download of `id` (unique in this process and across nodes).
  std::string temp_path(const std::string& id) const;

  /// Where the workspace's file with this SHA-256 (lowercase hex) lives (the shared place of
  /// older files when only that one exists).
  std::string path(const std::string& workspace_id, const std::string& sha256) const;

  /// Moves a whole download into place under its hash (replacing a file with the same bytes is
  /// harmless). Returns "" or why not; the temporary file is removed either way.
  std::string keep(const std::string& temp, const std::string& workspace_id,
                   const std::string& sha256) const;

  /// Removes the workspace's file with this hash (none there is fine). Returns "" or why not.
  std::string remove(const std::string& workspace_id, const std::string& sha256) const;

  /// Removes a temporary file (best effort).
  void discard(const std::string& temp) const;

  /// The size of the stored file, or -1 when it is not there.
  int64_t size_of(const std::string& workspace_id, const std::string& sha256) const;

  /// Removes files under tmp/ not modified for `older_than_ms` (the debris of a process killed
  /// mid-download or mid-upload; a live writer touches its file far more often, and several nodes
  /// may share the store). Returns how many were removed. Best effort; never throws.
  size_t sweep_temp(int64_t older_than_ms) const;

  const std::string& dir() const { return dir_; }

private:
  std::string own_path(const std::string& workspace_id, const std::string& sha256) const;
  std::string dir_;
};

/// True for 64 lowercase hex characters (a hash that may name a file).
bool is_sha256_hex(const std::string& s);

} // namespace inboxd
