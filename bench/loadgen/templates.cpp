#include "bench/loadgen/templates.hpp"

#include <ctime>
#include <stdexcept>

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace inboxd::bench {

namespace {

const char* const kNames[] = {"Ana",   "Bruno",  "Carla", "Diego",  "Elisa", "Fábio",
                              "Gabi",  "Heitor", "Iara",  "João",   "Karin", "Lucas",
                              "Marta", "Nuno",   "Olga",  "Paulo"};

// A cheap, well-mixed hash of the request number (targets should not follow the send order).
uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

void head(std::string& out, const char* method, const std::string& target,
          const std::string& host) {
  out.clear();
  out += method;
  out += ' ';
  out += target;
  out += " HTTP/1.1\r\nHost: ";
  out += host;
  out += "\r\n";
}

void finish(std::string& out, const std::string& body) {
  if (!body.empty() || out.compare(0, 4, "GET ") != 0) {
    out += "Content-Type: application/json\r\nContent-Length: ";
    out += std::to_string(body.size());
    out += "\r\n";
  }
  out += "\r\n";
  out += body;
}

std::string phone_of(const template_config& c, uint64_t index) {
  return std::to_string(c.contact_base + c.contact_offset + index);
}

// Meta webhook templates need the numbers to post for and the app secret to sign with.
void require_signed_webhook(const template_config& c) {
  if (c.phone_number_ids.empty())
    throw std::invalid_argument(c.name + ": no phone_number_ids (--pnids)");
  if (c.app_secret.empty())
    throw std::invalid_argument(c.name + ": no app secret (--secret)");
}

class webhook_source : public request_source {
public:
  explicit webhook_source(template_config c) : c_(std::move(c)) {
    require_signed_webhook(c_);
    if (c_.statuses_per_post > 0 && c_.status_pool == 0)
      throw std::invalid_argument("webhook: statuses need --status-pool");
  }

  void make(uint64_t n, std::string& out, request_meta& meta) const override {
    const std::string& pnid = c_.phone_number_ids[n % c_.phone_number_ids.size()];
    std::string ts = std::to_string(std::time(nullptr));
    std::string body;
    body.reserve(512 + 400 * size_t(c_.messages_per_post + c_.statuses_per_post));
    body += R"({"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[)";
    std::string meta_json = R"("messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":")" +
                            pnid + R"("})";
    int m = c_.messages_per_post;
    // Contacts: message j of request n is contact n*m + j (modulo the pool): distinct by default.
    auto contact = [&](int j) {
      uint64_t i = n * uint64_t(m) + uint64_t(j);
      return c_.contacts ? i % c_.contacts : i;
    };
    if (m > 0 && !c_.echoes) {
      body += R"({"field":"messages","value":{)" + meta_json + R"(,"contacts":[)";
      for (int j = 0; j < m; ++j) {
        uint64_t ci = contact(j);
        if (j)
          body += ',';
        body += R"({"profile":{"name":")";
        body += kNames[ci % 16];
        body += ' ';
        body += std::to_string(ci);
        body += R"("},"wa_id":")" + phone_of(c_, ci) + R"("})";
      }
      body += R"(],"messages":[)";
      for (int j = 0; j < m; ++j) {
        uint64_t ci = contact(j);
        if (j)
          body += ',';
        body += R"({"from":")" + phone_of(c_, ci) + R"(","id":"wamid.)" + c_.run_tag + '.' +
                std::to_string(n) + '.' + std::to_string(j) + R"(","timestamp":")" + ts;
        if (c_.media) // an image whose media id the fake Cloud API serves (scenario 9)
          body += R"(","type":"image","image":{"mime_type":"image/jpeg","id":"bm-)" + c_.run_tag +
                  '-' + std::to_string(n) + '-' + std::to_string(j) + R"("}})";
        else
          body += R"(","type":"text","text":{"body":"Olá! Preciso de ajuda com o pedido )" +
                  std::to_string(n) + R"(, podem verificar?"}})";
      }
      body += ']';
      add_statuses(n, ts, body, true);
      body += "}}";
    } else if (m > 0) {
      // Business-app echoes (outbound messages); wamid "wamid.<run_tag>.<index>".
      body += R"({"field":"smb_message_echoes","value":{)" + meta_json + R"(,"message_echoes":[)";
      for (int j = 0; j < m; ++j) {
        uint64_t i = n * uint64_t(m) + uint64_t(j);
        uint64_t ci = c_.contacts ? i % c_.contacts : i;
        if (j)
          body += ',';
        body += R"({"from":"15550001111","to":")" + phone_of(c_, ci) + R"(","id":"wamid.)" +
                c_.run_tag + '.' + std::to_string(i) + R"(","timestamp":")" + ts +
                R"(","type":"text","text":{"body":"Seu pedido saiu para entrega."}})";
      }
      body += "]}}";
      if (c_.statuses_per_post > 0) {
        body += R"(,{"field":"messages","value":{)" + meta_json;
        add_statuses(n, ts, body, true);
        body += "}}";
      }
    } else {
      body += R"({"field":"messages","value":{)" + meta_json;
      add_statuses(n, ts, body, true);
      body += "}}";
    }
    body += "]}]}";
    head(out, "POST",
         c_.per_number_path ? "/api/webhook/whatsapp/" + pnid : "/api/webhook/whatsapp",
         c_.host_header);
    out += "X-Hub-Signature-256: ";
    out += meta_signature(c_.app_secret, body);
    out += "\r\n";
    finish(out, body);
    meta.kind = 0;
    meta.items = m + c_.statuses_per_post;
    meta.expect = 200;
  }

private:
  // Statuses of outbound messages stored earlier (a pool of echoes): the first pass over the pool
  // moves them to delivered, the next to read; later passes repeat read (a no-op for inboxd).
  void add_statuses(uint64_t n, const std::string& ts, std::string& body, bool comma) const {
    int s = c_.statuses_per_post;
    if (s <= 0)
      return;
    if (comma)
      body += ',';
    body += R"("statuses":[)";
    for (int j = 0; j < s; ++j) {
      uint64_t k = n * uint64_t(s) + uint64_t(j);
      uint64_t i = k % c_.status_pool;
      const char* st = k / c_.status_pool == 0 ? "delivered" : "read";
      if (j)
        body += ',';
      body += R"({"id":"wamid.)" + c_.status_tag + '.' + std::to_string(i) + R"(","status":")" +
              st + R"(","timestamp":")" + ts + R"(","recipient_id":")" +
              std::to_string(c_.contact_base + c_.contact_offset + i % c_.status_contacts) +
              R"(","conversation":{"id":"c1","origin":{"type":"service"}},"pricing":{"billable":true,"pricing_model":"PMP","category":"service"}})";
    }
    body += ']';
  }

  template_config c_;
};

// GET /api/conversations with a rotating mix of filters and pages.
class list_source : public request_source {
public:
  explicit list_source(template_config c) : c_(std::move(c)) {}

  void make(uint64_t n, std::string& out, request_meta& meta) const override {
    static const char* const queries[] = {
      "",
      "?status=all",
      "?assignedTo=unassigned",
      "?status=open&tags=vip",
      "?q=ana",
      "?status=pending",
      "?status=all&mode=ai",
      "?active=true&assignedTo=unassigned",
      "?status=all&tags=billing&q=55119",
      "?status=closed",
    };
    uint64_t h = mix(n);
    std::string target = "/api/conversations";
    if (n % 5 == 4) // every fifth: a deeper page of a broad filter
      target += "?status=all&page=" + std::to_string(2 + h % 39);
    else
      target += queries[h % 10];
    target += target.find('?') == std::string::npos ? "?limit=25" : "&limit=25";
    head(out, "GET", target, c_.host_header);
    out += "X-API-Key: " + c_.api_key + "\r\n";
    finish(out, {});
    meta = {0, 0, 200};
  }

private:
  template_config c_;
};

class by_phone_source : public request_source {
public:
  explicit by_phone_source(template_config c) : c_(std::move(c)) {
    if (c_.contacts == 0)
      throw std::invalid_argument("by-phone: --contacts (existing contacts) required");
  }

  void make(uint64_t n, std::string& out, request_meta& meta) const override {
    head(out, "GET", "/api/contacts/by-phone?phone=%2B" + phone_of(c_, mix(n) % c_.contacts),
         c_.host_header);
    out += "X-API-Key: " + c_.api_key + "\r\n";
    finish(out, {});
    meta = {0, 0, 200};
  }

private:
  template_config c_;
};

class send_source : public request_source {
public:
  explicit send_source(template_config c) : c_(std::move(c)) {
    if (c_.conversation_ids.empty())
      throw std::invalid_argument("send: no conversation ids");
  }

  void make(uint64_t n, std::string& out, request_meta& meta) const override {
    const auto& id = c_.conversation_ids[mix(n) % c_.conversation_ids.size()];
    std::string body = R"({"conversationId":")" + id +
                       R"(","text":"Oi! Seu pedido )" + std::to_string(n) +
                       R"( já foi enviado e chega amanhã."})";
    head(out, "POST", "/api/messages/send", c_.host_header);
    out += "X-API-Key: " + c_.api_key + "\r\n";
    finish(out, body);
    meta = {0, 0, 202};
  }

private:
  template_config c_;
};

// An agent's inbox: 80% reads (lists, contact look-ups, a conversation, its messages), 20% writes
// (handover, status, tags, read).
class mixed_source : public request_source {
public:
  explicit mixed_source(template_config c) : c_(std::move(c)), list_(c_) {
    if (c_.conversation_ids.empty() || c_.contacts == 0)
      throw std::invalid_argument("mixed: conversation ids and --contacts required");
  }

  std::vector<std::string> kinds() const override { return {"read", "write"}; }

  void make(uint64_t n, std::string& out, request_meta& meta) const override {
    uint64_t h = mix(n ^ 0x9e3779b97f4a7c15ULL);
    unsigned r = unsigned(h % 100);
    const auto& id = c_.conversation_ids[(h >> 8) % c_.conversation_ids.size()];
    std::string body;
    if (r < 80) {
      if (r < 30)
        return list_.make(n, out, meta);
      if (r < 50) {
        head(out, "GET", "/api/contacts/by-phone?phone=" + phone_of(c_, (h >> 20) % c_.contacts),
             c_.host_header);
      } else if (r < 65) {
        head(out, "GET", "/api/conversations/" + id, c_.host_header);
      } else {
        head(out, "GET", "/api/conversations/" + id + "/messages?limit=50", c_.host_header);
      }
      out += "X-API-Key: " + c_.api_key + "\r\n";
      finish(out, {});
      meta = {0, 0, 200};
      return;
    }
    static const char* const statuses[] = {"open", "pending", "closed", "open"};
    static const char* const tags[] = {R"(["vip"])", R"(["billing","vip"])", R"([])",
                                       R"(["billing"])"};
    if (r < 85) {
      head(out, "POST", "/api/conversations/" + id + "/handover", c_.host_header);
      body = std::string(R"({"mode":")") + ((h >> 40) % 2 ? "ai" : "human") + "\"}";
    } else if (r < 90) {
      head(out, "POST", "/api/conversations/" + id + "/status", c_.host_header);
      body = std::string(R"({"status":")") + statuses[(h >> 40) % 4] + "\"}";
    } else if (r < 95) {
      head(out, "PUT", "/api/conversations/" + id + "/tags", c_.host_header);
      body = std::string(R"({"tags":)") + tags[(h >> 40) % 4] + "}";
    } else {
      head(out, "POST", "/api/conversations/" + id + "/read", c_.host_header);
    }
    out += "X-API-Key: " + c_.api_key + "\r\n";
    finish(out, body);
    meta = {1, 0, 200};
  }

private:
  template_config c_;
  list_source list_;
};

// Preparation: gives conversation n (in order) a tag, a status, a mode or a read, so that the
// list filters of the list scenario select different subsets.
class decorate_source : public request_source {
public:
  explicit decorate_source(template_config c) : c_(std::move(c)) {
    if (c_.conversation_ids.empty())
      throw std::invalid_argument("decorate: no conversation ids");
  }

  void make(uint64_t n, std::string& out, request_meta& meta) const override {
    const auto& id = c_.conversation_ids[n % c_.conversation_ids.size()];
    std::string body;
    switch (n % 10) {
      case 0:
      case 5:
        head(out, "PUT", "/api/conversations/" + id + "/tags", c_.host_header);
        body = R"({"tags":["vip"]})";
        break;
      case 4:
        head(out, "PUT", "/api/conversations/" + id + "/tags", c_.host_header);
        body = R"({"tags":["billing"]})";
        break;
      case 1:
        head(out, "POST", "/api/conversations/" + id + "/status", c_.host_header);
        body = R"({"status":"pending"})";
        break;
      case 2:
        head(out, "POST", "/api/conversations/" + id + "/status", c_.host_header);
        body = R"({"status":"closed"})";
        break;
      case 3:
        head(out, "POST", "/api/conversations/" + id + "/handover", c_.host_header);
        body = R"({"mode":"ai"})";
        break;
      default:
        head(out, "POST", "/api/conversations/" + id + "/read", c_.host_header);
        break;
    }
    out += "X-API-Key: " + c_.api_key + "\r\n";
    finish(out, body);
    meta = {0, 0, 200};
  }

private:
  template_config c_;
};

} // namespace

std::string meta_signature(const std::string& secret, const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  static const char* hex = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned i = 0; i < len; ++i) {
    out += hex[mac[i] >> 4];
    out += hex[mac[i] & 15];
  }
  return out;
}

namespace {

// The business app's past chats (Meta's "history" webhook): request n is one chunk of
// messages_per_post messages in history_threads threads, each thread a new contact (index
// n * threads + t), every other message the business's, their texts padded so that the body is
// about body_bytes (the 3 MiB webhook limit in the benchmark).
class history_source : public request_source {
public:
  explicit history_source(template_config c) : c_(std::move(c)) {
    require_signed_webhook(c_);
    if (c_.history_threads < 1 || c_.messages_per_post < c_.history_threads)
      throw std::invalid_argument("history: --messages must be at least --history-threads");
  }

  void make(uint64_t n, std::string& out, request_meta& meta) const override {
    const std::string& pnid = c_.phone_number_ids[n % c_.phone_number_ids.size()];
    std::string body = build(n, pnid, 0);
    if (body.size() < c_.body_bytes)
      body = build(n, pnid, (c_.body_bytes - body.size()) / size_t(c_.messages_per_post));
    head(out, "POST", "/api/webhook/whatsapp", c_.host_header);
    out += "X-Hub-Signature-256: ";
    out += meta_signature(c_.app_secret, body);
    out += "\r\n";
    finish(out, body);
    meta.kind = 0;
    meta.items = c_.messages_per_post;
    meta.expect = 200;
  }

private:
  std::string build(uint64_t n, const std::string& pnid, size_t pad) const {
    int threads = c_.history_threads;
    int per_thread = c_.messages_per_post / threads;
    int extra = c_.messages_per_post % threads; // the first `extra` threads have one more
    auto since = std::to_string(std::time(nullptr) - 60 * 86400);
    std::string body;
    body.reserve(c_.body_bytes + 4096);
    body +=
        R"({"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"history","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":")";
    body += pnid;
    body += R"("},"history":[{"metadata":{"phase":1,"chunk_order":)" + std::to_string(n + 1) +
            R"(,"progress":50},"threads":[)";
    std::string filler(pad, 'x');
    for (int t = 0; t < threads; ++t) {
      auto phone = phone_of(c_, n * uint64_t(threads) + uint64_t(t));
      if (t)
        body += ',';
      body += R"({"id":")" + phone + R"(","messages":[)";
      int count = per_thread + (t < extra ? 1 : 0);
      for (int i = 0; i < count; ++i) {
        bool business = i % 2 == 1;
        if (i)
          body += ',';
        body += R"({"from":")";
        body += business ? "15550001111" : phone;
        body += R"(","id":"wamid.)" + c_.run_tag + '.' + std::to_string(n) + '.' +
                std::to_string(t) + '.' + std::to_string(i) + R"(","timestamp":")" + since +
                R"(","type":"text","text":{"body":")";
        body += business ? "Seu pedido saiu para entrega. " : "Olá! Chegou o pedido? ";
        body += filler;
        body += R"("},"history_context":{"status":")";
        body += business ? "DELIVERED" : "READ";
        body += R"("}})";
      }
      body += "]}";
    }
    body += "]}]}}]}]}";
    return body;
  }

  template_config c_;
};

} // namespace

std::unique_ptr<request_source> make_source(const template_config& cfg) {
  if (cfg.name == "webhook")
    return std::make_unique<webhook_source>(cfg);
  if (cfg.name == "history")
    return std::make_unique<history_source>(cfg);
  if (cfg.name == "list")
    return std::make_unique<list_source>(cfg);
  if (cfg.name == "by-phone")
    return std::make_unique<by_phone_source>(cfg);
  if (cfg.name == "send")
    return std::make_unique<send_source>(cfg);
  if (cfg.name == "mixed")
    return std::make_unique<mixed_source>(cfg);
  if (cfg.name == "decorate")
    return std::make_unique<decorate_source>(cfg);
  throw std::invalid_argument("unknown template: " + cfg.name);
}

} // namespace inboxd::bench
