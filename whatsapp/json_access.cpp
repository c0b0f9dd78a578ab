#include "whatsapp/json_access.hpp"

#include <charconv>
#include <cmath>
#include <limits>

namespace inboxd::wa_json {

using nlohmann::json;

void fail(std::string_view what, std::string_view problem) {
  std::string msg(what);
  msg += ": ";
  msg += problem;
  throw decode_error(msg);
}

const json* member(const json& obj, std::string_view key) {
  if (!obj.is_object())
    return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null())
    return nullptr;
  return &*it;
}

const json& require_object(const json& v, std::string_view what) {
  if (!v.is_object())
    fail(what, "must be an object");
  return v;
}

const json* opt_object(const json& obj, std::string_view key) {
  const json* v = member(obj, key);
  if (v && !v->is_object())
    fail(key, "must be an object");
  return v;
}

const json* opt_array(const json& obj, std::string_view key) {
  const json* v = member(obj, key);
  if (v && !v->is_array())
    fail(key, "must be an array");
  return v;
}

std::string opt_string(const json& obj, std::string_view key) {
  const json* v = member(obj, key);
  if (!v)
    return {};
  if (!v->is_string())
    fail(key, "must be a string");
  return v->get<std::string>();
}

std::string require_string(const json& obj, std::string_view key, std::string_view what) {
  std::string s = opt_string(obj, key);
  if (s.empty()) {
    std::string w(what);
    w += '.';
    w += key;
    fail(w, "missing");
  }
  return s;
}

std::string opt_id(const json& obj, std::string_view key) {
  const json* v = member(obj, key);
  if (!v)
    return {};
  if (v->is_string())
    return v->get<std::string>();
  if (v->is_number_unsigned())
    return std::to_string(v->get<uint64_t>());
  if (v->is_number_integer())
    return std::to_string(v->get<int64_t>());
  fail(key, "must be a string");
}

bool opt_bool(const json& obj, std::string_view key, bool fallback) {
  const json* v = member(obj, key);
  if (!v)
    return fallback;
  if (!v->is_boolean())
    fail(key, "must be a boolean");
  return v->get<bool>();
}

int64_t timestamp_ms(const json& obj, std::string_view key) {
  constexpr int64_t max_seconds = std::numeric_limits<int64_t>::max() / 1000;
  const json* v = member(obj, key);
  if (!v)
    return 0;
  int64_t seconds = 0;
  if (v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    const char* end = s.data() + s.size();
    auto [ptr, ec] = std::from_chars(s.data(), end, seconds);
    if (s.empty() || ec != std::errc() || ptr != end || seconds < 0 || s[0] == '-')
      fail(key, "must be unix seconds");
  } else if (v->is_number_unsigned()) {
    uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(max_seconds))
      fail(key, "out of range");
    seconds = static_cast<int64_t>(u);
  } else if (v->is_number_integer()) {
    seconds = v->get<int64_t>();
  } else if (v->is_number_float()) {
    double d = v->get<double>();
    if (!std::isfinite(d) || d < 0 || d > static_cast<double>(max_seconds))
      fail(key, "out of range");
    return static_cast<int64_t>(d * 1000.0);
  } else {
    fail(key, "must be unix seconds");
  }
  if (seconds < 0 || seconds > max_seconds)
    fail(key, "out of range");
  return seconds * 1000;
}

json error_object(const json& err) {
  require_object(err, "errors[]");
  json out = json::object();
  const json* code = member(err, "code");
  out["code"] = code && (code->is_number() || code->is_string()) ? *code : json(0);
  out["title"] = opt_string(err, "title");
  if (std::string m = opt_string(err, "message"); !m.empty())
    out["message"] = m;
  if (const json* data = opt_object(err, "error_data"))
    if (std::string d = opt_string(*data, "details"); !d.empty())
      out["details"] = d;
  return out;
}

json first_error(const json& obj, std::string_view key) {
  const json* errors = opt_array(obj, key);
  if (!errors || errors->empty())
    return nullptr;
  return error_object(errors->front());
}

void add_distinct(std::vector<std::string>& ids, const std::string& id) {
  if (id.empty())
    return;
  for (const auto& known : ids)
    if (known == id)
      return;
  ids.push_back(id);
}

std::string opt_user_id(const nlohmann::json& obj, std::string_view key) {
  std::string id = opt_string(obj, key);
  if (id.size() > 128)
    fail(key, "longer than 128 characters");
  for (char c : id)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      fail(key, "not a business-scoped user id");
  return id;
}

std::string opt_username(const nlohmann::json& obj, std::string_view key) {
  std::string name = opt_string(obj, key);
  if (name.size() > 128)
    fail(key, "longer than 128 bytes");
  for (char c : name)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      fail(key, "has a control character");
  return name;
}

} // namespace inboxd::wa_json
