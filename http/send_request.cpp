#include "http/send_request.hpp"

#include <cctype>

#include "whatsapp/media_api.hpp"

namespace inboxd {

using json = nlohmann::json;

namespace {

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    n += (c & 0xC0) != 0x80;
  return n;
}

struct checker {
  api_error& code;
  std::string& message;
  bool fail(api_error c, std::string m) {
    code = c;
    message = std::move(m);
    return false;
  }
  // An optional string field: absent/null -> "", wrong type -> 400, longer than max -> 422.
  bool opt_string(const json& obj, const char* key, size_t max, std::string& out) {
    auto i = obj.find(key);
    if (i == obj.end() || i->is_null())
      return true;
    if (!i->is_string())
      return fail(api_error::bad_request, std::string(key) + " must be a string");
    out = i->get<std::string>();
    if (utf8_length(out) > max)
      return fail(api_error::unprocessable,
                  std::string(key) + " has at most " + std::to_string(max) + " characters");
    return true;
  }
};

bool is_http_url(const std::string& s) {
  return (s.rfind("https://", 0) == 0 && s.size() > 8) ||
         (s.rfind("http://", 0) == 0 && s.size() > 7);
}

} // namespace

bool parse_send_request(const json& body, send_request& out, api_error& code,
                        std::string& message) {
  checker c{code, message};
  if (!body.is_object())
    return c.fail(api_error::bad_request, "body must be a JSON object");
  auto conv = body.find("conversationId");
  if (conv == body.end() || !conv->is_string() || conv->get<std::string>().empty())
    return c.fail(api_error::bad_request, "conversationId must be a non-empty string");
  out.conversation_id = conv->get<std::string>();
  if (out.conversation_id.size() > 128)
    return c.fail(api_error::unprocessable, "conversationId is too long");
  if (!c.opt_string(body, "clientMessageId", 128, out.client_message_id) ||
      !c.opt_string(body, "replyTo", 128, out.reply_to))
    return false;
  std::string type = "text";
  if (!c.opt_string(body, "type", 32, type))
    return false;
  if (type.empty())
    type = "text";
  out.draft = {{"type", type}};
  if (type == "text") {
    auto t = body.find("text");
    if (t == body.end() || t->is_null())
      return c.fail(api_error::bad_request, "text is required");
    if (!t->is_string())
      return c.fail(api_error::bad_request, "text must be a string");
    auto text = t->get<std::string>();
    if (text.empty())
      return c.fail(api_error::unprocessable, "text must not be empty");
    if (utf8_length(text) > 4096)
      return c.fail(api_error::unprocessable, "text has at most 4096 characters");
    out.draft["text"] = std::move(text);
    return true;
  }
  if (type == "template") {
    auto t = body.find("template");
    if (t == body.end() || !t->is_object())
      return c.fail(api_error::bad_request,
                    "template must be an object {name, language, components?}");
    std::string name, lang;
    if (!c.opt_string(*t, "name", 512, name))
      return false;
    if (name.empty())
      return c.fail(api_error::bad_request, "template.name is required");
    auto l = t->find("language");
    if (l != t->end() && l->is_object()) {
      if (!c.opt_string(*l, "code", 16, lang))
        return false;
    } else if (!c.opt_string(*t, "language", 16, lang)) {
      return false;
    }
    if (lang.empty())
      return c.fail(api_error::bad_request, "template.language is required (a code such as en_US)");
    json tpl = {{"name", name}, {"language", {{"code", lang}}}};
    // The template's category, as approved at Meta (marketing, utility, authentication): only
    // marketing is refused to contacts who stopped marketing messages. Not sent to the Cloud API.
    std::string category;
    if (!c.opt_string(*t, "category", 32, category))
      return false;
    if (!category.empty()) {
      for (auto& ch : category)
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (category != "marketing" && category != "utility" && category != "authentication")
        return c.fail(api_error::unprocessable,
                      "template.category must be marketing, utility or authentication");
      tpl["category"] = category;
    }
    if (auto comp = t->find("components"); comp != t->end() && !comp->is_null()) {
      if (!comp->is_array())
        return c.fail(api_error::bad_request, "template.components must be an array");
      if (comp->size() > 50)
        return c.fail(api_error::unprocessable, "template.components has at most 50 entries");
      tpl["components"] = *comp;
    }
    out.draft["template"] = std::move(tpl);
    out.draft["text"] = nullptr;
    return true;
  }
  if (type == "image" || type == "video" || type == "audio" || type == "document" ||
      type == "sticker") {
    // The Cloud API takes captions on images, videos and documents only, and filenames on
    // documents only: anything else is refused here rather than dropped in silence.
    bool captioned = type == "image" || type == "video" || type == "document";
    bool named = type == "document";
    auto m = body.find(type);
    if (m == body.end() || !m->is_object())
      return c.fail(api_error::bad_request, type + " must be an object {link|id" +
                                                (captioned ? ", caption?" : "") +
                                                (named ? ", filename?}" : "}"));
    auto given = [&](const char* key) {
      auto i = m->find(key);
      return i != m->end() && !i->is_null();
    };
    bool by_link = given("link"), by_id = given("id");
    if (by_link && by_id)
      return c.fail(api_error::bad_request,
                    type + " takes exactly one of link and id (a URL or an uploaded media id)");
    if (!by_link && !by_id)
      return c.fail(api_error::bad_request,
                    type + ".link or " + type + ".id is required (a URL or an uploaded media id)");
    if (!captioned && given("caption"))
      return c.fail(api_error::unprocessable,
                    type + " has no caption (only image, video and document do)");
    if (!named && given("filename"))
      return c.fail(api_error::unprocessable, type + " has no filename (only document does)");
    std::string link, id, caption, filename;
    if (!c.opt_string(*m, "link", 2048, link) || !c.opt_string(*m, "id", 128, id) ||
        !c.opt_string(*m, "caption", 1024, caption) || !c.opt_string(*m, "filename", 240, filename))
      return false;
    json media;
    if (by_link) {
      if (!is_http_url(link))
        return c.fail(api_error::unprocessable, type + ".link must be an http(s) URL");
      media = {{"link", link}};
    } else {
      if (!valid_media_id(id))
        return c.fail(api_error::unprocessable,
                      type + ".id must be a media id: 1-128 characters of A-Z a-z 0-9 _ . -");
      media = {{"id", id}};
    }
    if (!caption.empty())
      media["caption"] = caption;
    if (!filename.empty())
      media["filename"] = filename;
    out.draft["media"] = std::move(media);
    if (!caption.empty())
      out.draft["text"] = caption;
    return true;
  }
  return c.fail(api_error::unprocessable,
                "type must be text, template, image, video, audio, document or sticker");
}

} // namespace inboxd
