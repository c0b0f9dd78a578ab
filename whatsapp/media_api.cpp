#include "whatsapp/media_api.hpp"

#include <cctype>
#include <string_view>

#include <nlohmann/json.hpp>

#include "messages/crypto.hpp"
#include "whatsapp/cloud_api.hpp"

namespace inboxd {

using json = nlohmann::json;

namespace {

media_step step(media_step::kind k, std::string why) {
  media_step s;
  s.what = k;
  s.why = std::move(why);
  return s;
}

// Why an HTTP answer was not the one hoped for: the Cloud API's error, else the status.
std::string refusal(const outbound_response& res) {
  int64_t code = -1;
  std::string title;
  read_cloud_api_error(json::parse(res.body, nullptr, false), code, title);
  auto why = "HTTP " + std::to_string(res.status);
  if (code != -1)
    why += " code " + std::to_string(code);
  return title.empty() ? why : why + ": " + title;
}

bool too_large(const outbound_response& res) {
  return res.transport_error.rfind("response body larger than", 0) == 0;
}

} // namespace

bool valid_media_id(const std::string& id) {
  if (id.empty() || id.size() > 128)
    return false;
  for (unsigned char c : id)
    if (!std::isalnum(c) && c != '_' && c != '.' && c != '-')
      return false;
  return true;
}

bool valid_media_url(const std::string& url) {
  if (url.size() > 4096 || !(url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0))
    return false;
  for (unsigned char c : url)
    if (c <= 0x20 || c == 0x7f)
      return false;
  return true;
}

std::string media_type_of(const std::string& content_type) {
  auto end = content_type.find(';');
  auto t = content_type.substr(0, end);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t'))
    t.pop_back();
  auto start = t.find_first_not_of(" \t");
  t = start == std::string::npos ? std::string() : t.substr(start);
  auto token = [](unsigned char c) {
    return std::isalnum(c) ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  };
  auto slash = t.find('/');
  if (t.size() > 127 || slash == std::string::npos || slash == 0 || slash + 1 == t.size())
    return "";
  for (size_t i = 0; i < t.size(); ++i) {
    auto c = static_cast<unsigned char>(t[i]);
    if (i != slash && !token(c))
      return "";
    t[i] = static_cast<char>(std::tolower(c));
  }
  return t;
}

outbound_request media_upload_request(const send_settings& send, const std::string& phone_number_id,
                                      const std::string& file, const std::string& mime_type,
                                      int64_t timeout_ms) {
  auto req = graph_request(send, "POST", phone_number_id + "/media", timeout_ms);
  auto boundary = "inboxd-" + random_hex(16);
  req.headers.emplace_back("Content-Type", "multipart/form-data; boundary=" + boundary);
  auto field = [&](const char* name, const std::string& value) {
    return "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" +
           value + "\r\n";
  };
  req.body = field("messaging_product", "whatsapp") + field("type", mime_type) + "--" + boundary +
             "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"upload\"\r\n"
             "Content-Type: " +
             mime_type + "\r\n\r\n";
  req.upload_file = file;
  req.body_tail = "\r\n--" + boundary + "--\r\n";
  return req;
}

upload_outcome classify_media_upload(const outbound_response& res) {
  upload_outcome out;
  if (!res.ok()) {
    out.why = res.transport_error;
    if (res.tls_verify_failed)
      out.what = upload_outcome::kind::refused;
    return out;
  }
  if (res.status >= 200 && res.status < 300) {
    auto body = json::parse(res.body, nullptr, false);
    auto id = body.is_object() ? body.find("id") : body.end();
    if (body.is_object() && id != body.end() && id->is_string() &&
        valid_media_id(id->get<std::string>())) {
      out.what = upload_outcome::kind::ok;
      out.media_id = id->get<std::string>();
      return out;
    }
    out.what = upload_outcome::kind::refused;
    out.why = "HTTP " + std::to_string(res.status) + " without a media id";
    return out;
  }
  out.why = refusal(res);
  int64_t code = -1;
  std::string title;
  read_cloud_api_error(json::parse(res.body, nullptr, false), code, title);
  bool throttled = code == 4 || code == 80007 || code == 130429 || code == 131056;
  out.what = res.status >= 500 || res.status == 429 || throttled ? upload_outcome::kind::retry
                                                                 : upload_outcome::kind::refused;
  return out;
}

outbound_request media_lookup_request(const send_settings& send, const std::string& media_id,
                                      int64_t timeout_ms) {
  return graph_request(send, "GET", media_id, timeout_ms);
}

namespace {

// scheme://host[:port] of an absolute URL ("" when it has none).
std::string origin_of(const std::string& url) {
  auto start = url.find("://");
  if (start == std::string::npos)
    return "";
  auto end = url.find_first_of("/?#", start + 3);
  return url.substr(0, end);
}

// The host of an https URL's origin, lowercased ("" for http or no host).
std::string https_host(const std::string& origin) {
  if (origin.rfind("https://", 0) != 0)
    return "";
  auto host = origin.substr(8);
  host = host.substr(0, host.find(':'));
  for (auto& c : host)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return host;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace

outbound_request media_download_request(const send_settings& send, const std::string& url,
                                        const std::string& file, uint64_t max_bytes,
                                        int64_t timeout_ms) {
  outbound_request req;
  req.method = "GET";
  req.url = url;
  req.timeout_ms = timeout_ms;
  req.body_file = file;
  req.max_body = max_bytes;
  auto origin = origin_of(url);
  auto base = origin_of(send.base_url);
  bool own_api = !base.empty() && origin == base;
  if (!send.api_key.empty()) {
    if (own_api) // Kapso: only its own API sees its key
      req.headers.emplace_back("X-API-Key", send.api_key);
  } else if (!send.access_token.empty()) {
    auto host = https_host(origin);
    bool meta = ends_with(host, ".fbsbx.com") || ends_with(host, ".facebook.com") ||
                ends_with(host, ".whatsapp.net") || ends_with(host, ".fbcdn.net");
    if (own_api || meta) // the bearer token goes to Meta's hosts only
      req.headers.emplace_back("Authorization", "Bearer " + send.access_token);
  }
  return req;
}

media_step classify_media_lookup(const outbound_response& res, uint64_t max_bytes) {
  using k = media_step::kind;
  if (!res.ok())
    return step(k::retry, "lookup: " + res.transport_error);
  if (res.status < 200 || res.status >= 300)
    return step(k::retry, "lookup: " + refusal(res));
  auto body = json::parse(res.body, nullptr, false);
  if (!body.is_object())
    return step(k::retry, "lookup: unreadable answer");
  auto url = body.value("url", json()).is_string() ? body["url"].get<std::string>() : "";
  if (!valid_media_url(url))
    return step(k::retry, "lookup: no usable url in the answer");
  media_step s;
  s.what = k::ok;
  s.url = std::move(url);
  if (auto m = body.find("mime_type"); m != body.end() && m->is_string())
    s.mime_type = m->get<std::string>();
  // file_size: a number, or a string of digits (as Meta documents it)
  if (auto f = body.find("file_size"); f != body.end()) {
    if (f->is_number_unsigned())
      s.size = f->get<uint64_t>();
    else if (f->is_string() && !f->get<std::string>().empty() &&
             f->get<std::string>().size() < 20 &&
             f->get<std::string>().find_first_not_of("0123456789") == std::string::npos)
      s.size = std::stoull(f->get<std::string>());
  }
  if (s.size > max_bytes)
    return step(k::failed, "too large: " + std::to_string(s.size) + " bytes, the limit is " +
                               std::to_string(max_bytes));
  return s;
}

media_step classify_media_download(const outbound_response& res) {
  using k = media_step::kind;
  if (too_large(res))
    return step(k::failed, "too large: " + res.transport_error);
  if (!res.ok())
    return step(k::retry, "download: " + res.transport_error);
  if (res.status < 200 || res.status >= 300)
    return step(k::retry, "download: " + refusal(res));
  media_step s;
  s.what = k::ok;
  s.size = res.body_size;
  s.sha256 = res.body_sha256;
  s.mime_type = res.content_type;
  return s;
}

} // namespace inboxd
