#include "tests/support/fixtures.hpp"

#include <atomic>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include <unistd.h>

#include "messages/crypto.hpp"

namespace inboxd::test {

nlohmann::json load_fixture(const std::string& relative_path) {
  std::string path = std::string(INBOXD_FIXTURES_DIR) + "/" + relative_path;
  std::ifstream in(path, std::ios::binary);
  if (!in) { // the project's own (tests/fixtures/README.md)
    path = std::string(INBOXD_SOURCE_DIR) + "/tests/fixtures/" + relative_path;
    in.open(path, std::ios::binary);
  }
  if (!in)
    throw std::runtime_error("fixture not found: " + relative_path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded())
    throw std::runtime_error("fixture is not JSON: " + path);
  return j;
}

nlohmann::json fixture_case(const std::string& relative_path, const std::string& name) {
  auto all = load_fixture(relative_path);
  if (!all.is_object() || !all.contains(name))
    throw std::runtime_error("fixture case not found: " + relative_path + " [" + name + "]");
  return all[name];
}

std::string meta_signature(std::string_view secret, std::string_view body) {
  return "sha256=" + hmac_sha256_hex(secret, body);
}

std::string kapso_signature(std::string_view secret, std::string_view body) {
  return hmac_sha256_hex(secret, body);
}

std::string unique_id(std::string_view prefix) {
  static std::atomic<unsigned long> counter{0};
  static const std::string salt = random_hex(4);
  return std::string(prefix) + std::to_string(getpid()) + "x" + std::to_string(++counter) + salt;
}

namespace {

template <class F>
void rewrite_strings(nlohmann::json& j, F& f) {
  if (j.is_string()) {
    f(j);
  } else if (j.is_array() || j.is_object()) {
    for (auto& child : j)
      rewrite_strings(child, f);
  }
}

} // namespace

nlohmann::json with_unique_wamids(nlohmann::json body) {
  std::map<std::string, std::string> mapping;
  auto f = [&](nlohmann::json& s) {
    const auto& v = s.get_ref<const std::string&>();
    if (v.rfind("wamid.", 0) != 0 && v != "<WHATSAPP_MESSAGE_ID>")
      return;
    auto [it, inserted] = mapping.emplace(v, std::string());
    if (inserted)
      it->second = "wamid." + unique_id("T");
    s = it->second;
  };
  rewrite_strings(body, f);
  return body;
}

nlohmann::json replace_strings(nlohmann::json body, std::string_view from, std::string_view to) {
  auto f = [&](nlohmann::json& s) {
    if (s.get_ref<const std::string&>() == from)
      s = std::string(to);
  };
  rewrite_strings(body, f);
  return body;
}

std::string first_wamid(const nlohmann::json& meta_body) {
  try {
    return meta_body.at("entry")
        .at(0)
        .at("changes")
        .at(0)
        .at("value")
        .at("messages")
        .at(0)
        .at("id");
  } catch (const nlohmann::json::exception&) {
    return {};
  }
}

} // namespace inboxd::test
