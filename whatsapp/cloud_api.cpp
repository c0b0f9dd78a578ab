#include "whatsapp/cloud_api.hpp"

namespace inboxd {

using json = nlohmann::json;

namespace {

std::string trim_slash(std::string s) {
  while (!s.empty() && s.back() == '/')
    s.pop_back();
  return s;
}

bool is_one_of(int64_t code, std::initializer_list<int64_t> codes) {
  for (auto c : codes)
    if (c == code)
      return true;
  return false;
}

} // namespace

void read_cloud_api_error(const json& body, int64_t& code, std::string& title) {
  code = -1;
  if (!body.is_object())
    return;
  auto e = body.find("error");
  if (e == body.end())
    return;
  if (e->is_string()) {
    title = e->get<std::string>();
    return;
  }
  if (!e->is_object())
    return;
  if (auto c = e->find("code"); c != e->end() && c->is_number_integer())
    code = c->get<int64_t>();
  for (auto key : {"error_user_title", "message"})
    if (auto t = e->find(key); t != e->end() && t->is_string() && !t->get<std::string>().empty()) {
      title = t->get<std::string>();
      break;
    }
  if (auto d = e->find("error_data"); d != e->end() && d->is_object())
    if (auto det = d->find("details"); det != d->end() && det->is_string())
      title += title.empty() ? det->get<std::string>() : ": " + det->get<std::string>();
  if (title.size() > 500)
    title.resize(500);
}

namespace {

send_outcome outcome(send_outcome::kind k, int64_t code, std::string title) {
  send_outcome o;
  o.what = k;
  o.code = code;
  o.title = std::move(title);
  return o;
}

} // namespace

outbound_request graph_request(const send_settings& send, std::string method,
                               const std::string& path, int64_t timeout_ms) {
  outbound_request req;
  req.method = std::move(method);
  auto version = send.graph_version.empty() ? std::string("v24.0") : send.graph_version;
  auto base = trim_slash(send.base_url);
  req.headers.emplace_back("Accept", "application/json");
  if (!send.api_key.empty()) {
    req.url = base + "/meta/whatsapp/" + version + "/" + path;
    req.headers.emplace_back("X-API-Key", send.api_key);
  } else {
    req.url = base + "/" + version + "/" + path;
    req.headers.emplace_back("Authorization", "Bearer " + send.access_token);
  }
  req.timeout_ms = timeout_ms;
  return req;
}

outbound_request cloud_api_request(const send_settings& send, const std::string& phone_number_id,
                                   const json& payload, int64_t timeout_ms) {
  auto req = graph_request(send, "POST", phone_number_id + "/messages", timeout_ms);
  req.body = payload.dump();
  return req;
}

json message_payload(const json& message, const std::string& to, const std::string& reply_to_wamid,
                     const std::string& callback_data) {
  auto type = message.value("type", "text");
  bool phone = !to.empty() && to.find_first_not_of("0123456789") == std::string::npos;
  json p = {{"messaging_product", "whatsapp"},
            {"recipient_type", "individual"},
            {phone ? "to" : "recipient", to},
            {"type", type}};
  if (type == "text") {
    p["text"] = {{"body", message.value("text", "")}, {"preview_url", false}};
  } else if (type == "template") {
    p["template"] = message.value("template", json::object());
    if (p["template"].is_object())
      p["template"].erase("category"); // inboxd's own check (opted_out), not the Cloud API's field
  } else { // image | video | audio | document | sticker: by uploaded media id, else by link
    json media = json::object();
    auto m = message.value("media", json::object());
    if (!m.is_object())
      m = json::object();
    auto str = [&](const char* key) {
      auto v = m.find(key);
      return v != m.end() && v->is_string() && !v->get_ref<const std::string&>().empty();
    };
    // Exactly one of them: the Cloud API refuses a media object carrying both.
    if (str("id"))
      media["id"] = m["id"];
    else if (str("link"))
      media["link"] = m["link"];
    // Captions exist on images, videos and documents only, filenames on documents only.
    if (str("caption") && (type == "image" || type == "video" || type == "document"))
      media["caption"] = m["caption"];
    if (str("filename") && type == "document")
      media["filename"] = m["filename"];
    p[type] = std::move(media);
  }
  if (!reply_to_wamid.empty())
    p["context"] = {{"message_id", reply_to_wamid}};
  if (!callback_data.empty())
    p["biz_opaque_callback_data"] = callback_data;
  return p;
}

json read_receipt_payload(const std::string& wamid, bool typing) {
  json p = {{"messaging_product", "whatsapp"}, {"status", "read"}, {"message_id", wamid}};
  if (typing)
    p["typing_indicator"] = {{"type", "text"}};
  return p;
}

send_outcome classify_send_response(const outbound_response& res, bool read_receipt) {
  using k = send_outcome::kind;
  if (!res.ok()) {
    if (res.tls_verify_failed)
      return outcome(k::failed, -1, "TLS certificate refused: " + res.transport_error);
    return outcome(k::retry, -1, "transport: " + res.transport_error);
  }
  auto body = json::parse(res.body, nullptr, false);
  if (res.status >= 200 && res.status < 300) {
    if (read_receipt && body.is_object() && body.value("success", false))
      return outcome(k::sent, 0, "");
    if (body.is_object())
      if (auto ms = body.find("messages"); ms != body.end() && ms->is_array() && !ms->empty())
        if (auto id = ms->front().find("id");
            id != ms->front().end() && id->is_string() && !id->get<std::string>().empty()) {
          send_outcome o;
          o.what = k::sent;
          o.wamid = id->get<std::string>();
          return o;
        }
    // It may have gone out: sending again could duplicate it.
    return outcome(
        k::failed, -1,
        "unreadable success answer from the Cloud API (HTTP " + std::to_string(res.status) + ")");
  }
  int64_t code = -1;
  std::string title;
  read_cloud_api_error(body, code, title);
  if (title.empty())
    title = "HTTP " + std::to_string(res.status);
  if (is_one_of(code, {131047, 131049, 131050, 368, 130497, 131031, 0, 190}))
    return outcome(k::failed, code, title); // never retried, whatever the HTTP status
  if (is_one_of(code, {4, 80007, 130429, 131048, 131056}) || res.status == 429 ||
      res.status == 409 || res.status >= 500)
    return outcome(k::retry, code, title);
  return outcome(k::failed, code, title);
}

} // namespace inboxd
