#include "tests/support/fake_cloud_api.hpp"

#include <utility> // before Asio: Boost 1.74's awaitable.hpp misses it under C++20

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace inboxd::test {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// --- certificates (OpenSSL C API, in-process: no openssl CLI needed) ---------------------------

struct pkey_free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct x509_free {
  void operator()(X509* p) const { X509_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;

[[noreturn]] void cert_failure(const char* what) {
  throw std::runtime_error(std::string("fake_cloud_api: cannot ") + what);
}

pkey_ptr make_key() {
  pkey_ptr key(EVP_EC_gen("P-256")); // fast, and fine for a test CA
  if (!key)
    cert_failure("generate an EC key");
  return key;
}

void add_ext(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
  if (!ext)
    cert_failure("build a certificate extension");
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (!ok)
    cert_failure("add a certificate extension");
}

// A CA certificate when issuer is null (self-signed), else a server certificate for localhost
// and 127.0.0.1 issued by `issuer`.
x509_ptr make_cert(EVP_PKEY* key, const char* common_name, X509* issuer, EVP_PKEY* issuer_key,
                   long serial) {
  x509_ptr cert(X509_new());
  if (!cert)
    cert_failure("allocate a certificate");
  X509* x = cert.get();
  bool ca = issuer == nullptr;
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 7L * 24 * 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("inboxd tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509_set_issuer_name(x, ca ? name : X509_get_subject_name(issuer));
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, ca ? x : issuer, x, nullptr, nullptr, 0);
  if (ca) {
    add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(x, &ctx, NID_subject_key_identifier, "hash");
  } else {
    add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    add_ext(x, &ctx, NID_ext_key_usage, "serverAuth");
    add_ext(x, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    add_ext(x, &ctx, NID_subject_key_identifier, "hash");
    add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
  }
  if (X509_sign(x, ca ? key : issuer_key, EVP_sha256()) == 0)
    cert_failure("sign a certificate");
  return cert;
}

void write_pem(const std::string& path, X509* cert) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f)
    cert_failure("create the CA file");
  int ok = PEM_write_X509(f, cert);
  if (std::fclose(f) != 0 || !ok)
    cert_failure("write the CA file");
}

// Sets up `ctx` to serve a fresh certificate for localhost/127.0.0.1; writes the CA a client
// should trust to `ca_path`. With `wrong`, the served certificate is signed by another CA.
void make_server_identity(ssl::context& ctx, const std::string& ca_path, bool wrong) {
  auto ca_key = make_key();
  auto ca = make_cert(ca_key.get(), "inboxd fake Cloud API CA", nullptr, nullptr, 1);
  write_pem(ca_path, ca.get());
  pkey_ptr other_key;
  x509_ptr other;
  if (wrong) {
    other_key = make_key();
    other = make_cert(other_key.get(), "inboxd untrusted CA", nullptr, nullptr, 2);
  }
  auto key = make_key();
  auto cert = wrong ? make_cert(key.get(), "localhost", other.get(), other_key.get(), 3)
                    : make_cert(key.get(), "localhost", ca.get(), ca_key.get(), 3);
  SSL_CTX* native = ctx.native_handle();
  if (SSL_CTX_use_certificate(native, cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(native, key.get()) != 1 || SSL_CTX_check_private_key(native) != 1)
    cert_failure("install the server certificate");
}

} // namespace

// --- replies and bodies ------------------------------------------------------------------------

std::string recorded_request::header(std::string_view name) const {
  auto i = headers.find(lower(name));
  return i == headers.end() ? std::string() : i->second;
}

reply reply::json(int status, std::string body) {
  reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

reply reply::hang() {
  reply r;
  r.what = kind::hang;
  return r;
}

reply reply::reset() {
  reply r;
  r.what = kind::reset;
  return r;
}

reply reply::raw(std::string bytes) {
  reply r;
  r.what = kind::raw;
  r.bytes = std::move(bytes);
  return r;
}

std::string meta_error_body(int code, std::string_view message, std::string_view details,
                            std::string_view type) {
  nlohmann::json j = {{"error",
                       {{"message", message},
                        {"type", type},
                        {"code", code},
                        {"error_data", {{"messaging_product", "whatsapp"}, {"details", details}}},
                        {"fbtrace_id", "AFakeTraceIdForTests"}}}};
  return j.dump();
}

reply meta_error(int status, int code, std::string_view message, std::string_view details) {
  return reply::json(status, meta_error_body(code, message, details));
}

std::string meta_success_body(std::string_view to, std::string_view wamid) {
  nlohmann::json j = {{"messaging_product", "whatsapp"},
                      {"contacts", {{{"input", to}, {"wa_id", to}}}},
                      {"messages", {{{"id", wamid}}}}};
  return j.dump();
}

// --- the server --------------------------------------------------------------------------------

struct fake_cloud_api::impl {
  // One accepted connection. Owned by `sessions` (server thread only) until it ends; a hung
  // session simply stays there, with no operation pending, until the server is destroyed.
  struct session : std::enable_shared_from_this<session> {
    session(impl* o, tcp::socket socket, uint64_t n) : owner(o), id(n), timer(o->io) {
      if (o->tls)
        tls_stream.emplace(std::move(socket), *o->ssl_ctx);
      else
        plain.emplace(std::move(socket));
    }

    tcp::socket& socket() { return tls_stream ? tls_stream->next_layer() : *plain; }

    template <class F>
    void visit(F&& f) {
      if (tls_stream)
        f(*tls_stream);
      else
        f(*plain);
    }

    void start() {
      if (!tls_stream)
        return do_read();
      tls_stream->async_handshake(ssl::stream_base::server,
                                  [self = shared_from_this()](error_code ec) {
                                    if (ec)
                                      return self->end();
                                    self->do_read();
                                  });
    }

    void do_read() {
      parser.emplace();
      parser->header_limit(64 * 1024);
      parser->body_limit(64 * 1024 * 1024);
      visit([this](auto& s) {
        bhttp::async_read(s, buffer, *parser, [self = shared_from_this()](error_code ec, size_t) {
          self->on_read(ec);
        });
      });
    }

    void on_read(error_code ec) {
      if (ec)
        return end();
      auto& req = parser->get();
      recorded_request rec;
      rec.method = std::string(req.method_string());
      rec.target = std::string(req.target());
      for (auto& f : req) {
        auto name = lower(std::string_view(f.name_string().data(), f.name_string().size()));
        std::string value(f.value().data(), f.value().size());
        auto [it, inserted] = rec.headers.emplace(name, value);
        if (!inserted)
          it->second += ", " + value;
      }
      rec.body = req.body();
      rec.connection = id;
      rec.index_on_connection = ++served;
      keep_alive = req.keep_alive();
      answer = owner->respond(rec);
      owner->record(std::move(rec));
      act();
    }

    void act() {
      switch (answer.what) {
        case reply::kind::hang:
          return;
        case reply::kind::reset: {
          error_code ec;
          socket().set_option(asio::socket_base::linger(true, 0), ec);
          socket().close(ec);
          return end();
        }
        case reply::kind::respond:
        case reply::kind::raw:
          if (answer.delay.count() > 0) {
            timer.expires_after(answer.delay);
            timer.async_wait([self = shared_from_this()](error_code ec) {
              if (ec)
                return self->end();
              self->write_answer();
            });
            return;
          }
          return write_answer();
      }
    }

    void write_answer() {
      bool close = answer.what == reply::kind::raw || answer.close || !keep_alive;
      if (answer.what == reply::kind::raw) {
        out = std::move(answer.bytes);
      } else {
        bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(answer.status), 11};
        res.set(bhttp::field::content_type, "application/json");
        for (auto& [k, v] : answer.headers)
          res.set(k, v);
        res.body() = std::move(answer.body);
        res.keep_alive(!close);
        res.prepare_payload();
        std::ostringstream os;
        os << res;
        out = os.str();
      }
      visit([this, close](auto& s) {
        asio::async_write(s, asio::buffer(out),
                          [self = shared_from_this(), close](error_code ec, size_t) {
                            if (ec || close)
                              return self->end();
                            self->do_read();
                          });
      });
    }

    // Half-close first so the client reads everything written before it sees the end.
    void end() {
      error_code ec;
      socket().shutdown(tcp::socket::shutdown_send, ec);
      socket().close(ec);
      timer.cancel();
      owner->sessions.erase(shared_from_this());
    }

    impl* owner;
    uint64_t id;
    std::optional<ssl::stream<tcp::socket>> tls_stream;
    std::optional<tcp::socket> plain;
    beast::flat_buffer buffer;
    std::optional<bhttp::request_parser<bhttp::string_body>> parser;
    asio::steady_timer timer;
    uint64_t served = 0;
    bool keep_alive = true;
    reply answer;
    std::string out;
  };

  impl(bool use_tls, bool wrong) : tls(use_tls), acceptor(io) {
    char tmpl[] = "/tmp/inboxd-fake-cloud-XXXXXX";
    if (!::mkdtemp(tmpl))
      throw std::runtime_error("fake_cloud_api: cannot create a temporary directory");
    dir = tmpl;
    ca_path = dir + "/ca.pem";
    try {
      ssl_ctx.emplace(ssl::context::tls_server);
      SSL_CTX_set_min_proto_version(ssl_ctx->native_handle(), TLS1_2_VERSION);
      make_server_identity(*ssl_ctx, ca_path, wrong);
      tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
      acceptor.open(ep.protocol());
      acceptor.set_option(asio::socket_base::reuse_address(true));
      acceptor.bind(ep);
      acceptor.listen(asio::socket_base::max_listen_connections);
      port = acceptor.local_endpoint().port();
    } catch (...) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
      throw;
    }
    do_accept();
    thread = std::thread([this] { io.run(); });
  }

  ~impl() {
    // Stopping the io_context abandons every pending operation (hung connections, handshakes,
    // delayed answers); the sessions are then closed and freed here.
    io.stop();
    if (thread.joinable())
      thread.join();
    sessions.clear();
    error_code ec;
    acceptor.close(ec);
    std::error_code fec;
    std::filesystem::remove_all(dir, fec);
  }

  void do_accept() {
    acceptor.async_accept([this](error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open())
        return;
      if (!ec) {
        auto s = std::make_shared<session>(this, std::move(socket), ++accepted);
        sessions.insert(s);
        s->start();
      }
      do_accept();
    });
  }

  reply respond(const recorded_request& req) {
    responder r;
    {
      std::lock_guard lock(mutex);
      r = responder_;
    }
    if (!r)
      return default_reply(req);
    try {
      return r(req);
    } catch (...) {
      return reply::json(500, std::string("{\"fake_cloud_api\":\"responder threw\"}"));
    }
  }

  reply default_reply(const recorded_request& req) {
    auto j = nlohmann::json::parse(req.body, nullptr, false);
    std::string to;
    if (j.is_object() && j.contains("to") && j["to"].is_string())
      to = j["to"].get<std::string>();
    return reply::json(200, meta_success_body(to, "wamid.fake." + std::to_string(++next_wamid)));
  }

  void record(recorded_request rec) {
    {
      std::lock_guard lock(mutex);
      recorded.push_back(std::move(rec));
    }
    cv.notify_all();
  }

  bool tls;
  std::string dir;
  std::string ca_path;
  int port = 0;
  std::optional<ssl::context> ssl_ctx; // outlives the sessions (declared before io)
  asio::io_context io;
  tcp::acceptor acceptor;
  std::set<std::shared_ptr<session>> sessions; // server thread (or after it ended)
  std::atomic<uint64_t> accepted{0};
  uint64_t next_wamid = 0; // server thread

  mutable std::mutex mutex;
  mutable std::condition_variable cv;
  responder responder_;
  std::vector<recorded_request> recorded;

  std::thread thread;
};

fake_cloud_api::fake_cloud_api(bool tls, bool wrong_certificate)
  : impl_(std::make_unique<impl>(tls, wrong_certificate)) {}

fake_cloud_api::~fake_cloud_api() = default;

int fake_cloud_api::port() const {
  return impl_->port;
}

bool fake_cloud_api::tls() const {
  return impl_->tls;
}

std::string fake_cloud_api::url(std::string_view path) const {
  return std::string(impl_->tls ? "https" : "http") +
         "://127.0.0.1:" + std::to_string(impl_->port) + std::string(path);
}

std::string fake_cloud_api::ca_file() const {
  return impl_->ca_path;
}

void fake_cloud_api::set_responder(responder r) {
  std::lock_guard lock(impl_->mutex);
  impl_->responder_ = std::move(r);
}

std::vector<recorded_request> fake_cloud_api::requests() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->recorded;
}

size_t fake_cloud_api::count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->recorded.size();
}

bool fake_cloud_api::wait_for(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->cv.wait_for(lock, timeout, [&] { return impl_->recorded.size() >= n; });
}

size_t fake_cloud_api::connections() const {
  return impl_->accepted.load();
}

} // namespace inboxd::test
