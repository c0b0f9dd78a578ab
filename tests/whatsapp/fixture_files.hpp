#pragma once
// Test helpers: reading the shared webhook fixtures (INBOXD_FIXTURES_DIR).

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace inboxd::test {

inline std::filesystem::path fixtures_dir() {
  return std::filesystem::path(INBOXD_FIXTURES_DIR);
}

/// The shared fixture `rel`, else the project's own (tests/fixtures/README.md).
inline nlohmann::json load_fixture(const std::filesystem::path& rel) {
  std::ifstream in(fixtures_dir() / rel);
  if (!in)
    in.open(std::filesystem::path(INBOXD_SOURCE_DIR) / "tests/fixtures" / rel);
  if (!in)
    throw std::runtime_error("cannot open fixture " + rel.string());
  return nlohmann::json::parse(in);
}

/// File names (e.g. "message.json") of every fixture in fixtures/meta, sorted.
inline std::vector<std::string> meta_fixture_files() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(fixtures_dir() / "meta"))
    if (e.path().extension() == ".json")
      files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  return files;
}

} // namespace inboxd::test
