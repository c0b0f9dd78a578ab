#include "messages/file_response.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace inboxd {

namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back()))
    s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (std::tolower(x) != std::tolower(y))
      return false;
  }
  return true;
}

// 1*DIGIT, saturating at uint64's maximum: a first-pos that large is past any file (416), a
// last-pos or suffix-length that large covers the rest of it, as the RFC reads them.
std::optional<uint64_t> parse_digits(std::string_view s) {
  if (s.empty())
    return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return std::nullopt;
    auto d = static_cast<uint64_t>(c - '0');
    v = v > (kMax - d) / 10 ? kMax : v * 10 + d;
  }
  return v;
}

// The opaque tags (between the quotes) of an entity-tag list (`#entity-tag`), each with whether
// it was weak; nullopt when the list is malformed (the field is then ignored).
struct entity_tag {
  std::string_view opaque;
  bool weak = false;
};

std::optional<std::vector<entity_tag>> parse_tag_list(std::string_view s) {
  std::vector<entity_tag> out;
  size_t i = 0;
  while (true) {
    while (i < s.size() && (is_ows(s[i]) || s[i] == ','))
      ++i; // empty list elements are allowed (RFC 9110 5.6.1.2)
    if (i == s.size())
      break;
    entity_tag t;
    if (s.substr(i, 2) == "W/") {
      t.weak = true;
      i += 2;
    }
    if (i == s.size() || s[i] != '"')
      return std::nullopt;
    auto close = s.find('"', i + 1);
    if (close == std::string_view::npos)
      return std::nullopt;
    t.opaque = s.substr(i + 1, close - i - 1);
    out.push_back(t);
    i = close + 1;
    while (i < s.size() && is_ows(s[i]))
      ++i;
    if (i < s.size() && s[i] != ',')
      return std::nullopt;
  }
  return out;
}

// If-None-Match (RFC 9110 13.1.2): `*` or any tag equal by weak comparison.
bool none_match_matches(std::string_view field, std::string_view etag) {
  field = trim(field);
  if (field == "*")
    return true;
  auto tags = parse_tag_list(field);
  if (!tags)
    return false;
  for (auto& t : *tags)
    if (t.opaque == etag)
      return true;
  return false;
}

// If-Range (RFC 9110 13.1.5): true only for the strong tag equal to ours. A weak tag never
// matches (strong comparison); a date cannot, as we send no Last-Modified.
bool if_range_matches(std::string_view field, std::string_view etag) {
  field = trim(field);
  return field.size() == etag.size() + 2 && field.front() == '"' && field.back() == '"' &&
         field.substr(1, etag.size()) == etag;
}

// One range-spec of a Range field: `first-last` (last absent: to the end) or `-suffix`.
struct range_spec {
  bool suffix = false;
  uint64_t first = 0, last = kMax; // int-range
  uint64_t suffix_length = 0;      // suffix-range
};

enum class range_kind { none, single, multiple };

// Parses `bytes=<range-set>`. none: malformed (or another unit); the field is then ignored.
range_kind parse_range(std::string_view field, range_spec& out) {
  field = trim(field);
  constexpr std::string_view unit = "bytes=";
  if (field.size() < unit.size() || !iequals(field.substr(0, unit.size()), unit))
    return range_kind::none;
  field.remove_prefix(unit.size());
  int specs = 0;
  while (true) {
    auto comma = field.find(',');
    auto spec = trim(field.substr(0, comma));
    if (!spec.empty()) {
      auto dash = spec.find('-');
      if (dash == std::string_view::npos)
        return range_kind::none;
      range_spec r;
      if (dash == 0) {
        auto n = parse_digits(spec.substr(1));
        if (!n)
          return range_kind::none;
        r.suffix = true;
        r.suffix_length = *n;
      } else {
        auto a = parse_digits(spec.substr(0, dash));
        if (!a)
          return range_kind::none;
        r.first = *a;
        if (dash + 1 < spec.size()) {
          auto b = parse_digits(spec.substr(dash + 1));
          if (!b || *b < *a)
            return range_kind::none; // last-pos < first-pos: invalid (RFC 9110 14.1.1)
          r.last = *b;
        }
      }
      if (++specs == 1)
        out = r;
    }
    if (comma == std::string_view::npos)
      break;
    field.remove_prefix(comma + 1);
  }
  if (specs == 0)
    return range_kind::none;
  return specs == 1 ? range_kind::single : range_kind::multiple;
}

} // namespace

http_response file_response(const http_request& req, const std::string& path, uint64_t size,
                            const std::string& content_type, const std::string& etag) {
  http_response res;
  res.headers.emplace_back("ETag", "\"" + etag + "\"");
  res.headers.emplace_back("Accept-Ranges", "bytes");
  res.headers.emplace_back("Cache-Control", "private, max-age=31536000, immutable");

  // If-None-Match comes before Range (RFC 9110 13.2.2); a 304 repeats the validator and caching
  // headers a 200 would carry, and nothing else.
  auto inm = req.header("if-none-match");
  if (!inm.empty() && none_match_matches(inm, etag)) {
    res.status = 304;
    res.content_type.clear();
    return res;
  }

  res.content_type = content_type;
  res.file_path = path;
  res.file_offset = 0;
  res.file_length = size; // 200, the whole file, unless one satisfiable range says otherwise

  auto range = req.header("range");
  if (range.empty() || req.method == "HEAD")
    return res; // Range is defined for GET only (RFC 9110 14.2)
  auto if_range = req.header("if-range");
  if (!if_range.empty() && !if_range_matches(if_range, etag))
    return res; // the client's partial copy is of another representation: send it all
  range_spec r;
  if (parse_range(range, r) != range_kind::single)
    return res; // malformed: ignored; several ranges: we may ignore it too (RFC 9110 14.2)

  uint64_t first = 0, last = 0;
  if (r.suffix) {
    if (r.suffix_length > 0 && size == 0)
      return res; // satisfiable, yet "bytes 0--1/0" cannot be written: the (empty) whole file
    if (r.suffix_length == 0) {
      first = kMax; // unsatisfiable
    } else {
      first = r.suffix_length >= size ? 0 : size - r.suffix_length;
      last = size - 1;
    }
  } else {
    first = r.first;
    last = size == 0 ? 0 : std::min(r.last, size - 1);
  }
  if (first >= size) {
    auto headers = std::move(res.headers);
    // api_error has no 416: the same error shape, spelled here.
    res = make_json(416, {{"error",
                           {{"code", "range_not_satisfiable"},
                            {"message", "the requested range is outside the file of " +
                                            std::to_string(size) + " bytes"}}}});
    res.headers = std::move(headers);
    res.headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
    return res;
  }
  res.status = 206;
  res.file_offset = first;
  res.file_length = last - first + 1;
  res.headers.emplace_back("Content-Range", "bytes " + std::to_string(first) + "-" +
                                                std::to_string(last) + "/" + std::to_string(size));
  return res;
}

} // namespace inboxd
