#include "http/http_server.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "config/log_format.hpp"
#include "http/query_string.hpp"
#include "http/request_metrics.hpp"
#include "http/response_sink.hpp"
#include "http/router.hpp"
#include "messages/ids.hpp"
#include "metrics/metrics.hpp"
#include "storage/media_files.hpp"

namespace inboxd {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr size_t kHeaderLimit = 16 * 1024;
constexpr auto kReadTimeout = std::chrono::seconds(30);

metrics::gauge_family sse_subscribers("inboxd_sse_subscribers",
                                      "Open event streams (GET /api/events).");

bool valid_request_id(const std::string& id) {
  if (id.empty() || id.size() > 128)
    return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return false;
  return true;
}

// The open event streams of one server: their count (for sse_max_streams) and weak pointers to
// them (for close_streams). Shared with the streams, which may outlive the server.
struct stream_registry {
  std::atomic<size_t> open{0};
  std::mutex mutex;
  std::unordered_map<const void*, std::weak_ptr<event_stream>> streams;

  // Takes one slot; false when `max` streams are open already.
  bool try_reserve(int max) {
    if (max <= 0)
      return false;
    if (open.fetch_add(1) >= static_cast<size_t>(max)) {
      open.fetch_sub(1);
      return false;
    }
    sse_subscribers.add(1);
    return true;
  }
  void release() {
    open.fetch_sub(1);
    sse_subscribers.add(-1);
  }

  void add(const void* key, std::weak_ptr<event_stream> s) {
    std::lock_guard lock(mutex);
    streams.emplace(key, std::move(s));
  }
  // Called exactly once per added stream, when it closes: frees its slot.
  void remove(const void* key) {
    {
      std::lock_guard lock(mutex);
      streams.erase(key);
    }
    release();
  }
  void close_all() {
    std::vector<std::shared_ptr<event_stream>> live;
    {
      std::lock_guard lock(mutex);
      for (auto& [key, weak] : streams)
        if (auto s = weak.lock())
          live.push_back(std::move(s));
    }
    for (auto& s : live)
      s->close();
  }
};

// A byte range of an open file as a Beast body (http_response::file_path): the writer reads the
// range in chunks while the serializer writes, so a file is never in memory whole. Beast 1.74's
// file_body cannot do this: it always sends from the file's position to its end. The reads are
// blocking, on the session's strand, as with Beast's file_body: local disk, 64 KiB at a time.
struct file_range_body {
  static constexpr size_t chunk = 64 * 1024;

  struct value_type {
    beast::file file; // open (beast::file_mode::scan)
    uint64_t offset = 0, length = 0;
  };

  static uint64_t size(const value_type& body) { return body.length; }

  class writer {
  public:
    using const_buffers_type = net::const_buffer;

    template <bool isRequest, class Fields>
    writer(bhttp::header<isRequest, Fields>&, value_type& body)
      : body_(body), remain_(body.length) {}

    void init(beast::error_code& ec) {
      ec = {};
      if (remain_ == 0)
        return;
      body_.file.seek(body_.offset, ec);
      buffer_ = std::make_unique<char[]>(static_cast<size_t>(std::min<uint64_t>(remain_, chunk)));
    }

    boost::optional<std::pair<const_buffers_type, bool>> get(beast::error_code& ec) {
      ec = {};
      if (remain_ == 0)
        return boost::none;
      auto want = static_cast<size_t>(std::min<uint64_t>(remain_, chunk));
      auto n = body_.file.read(buffer_.get(), want, ec);
      if (ec)
        return boost::none;
      if (n == 0) { // shorter than when it was opened: the head promised more, end the connection
        ec = boost::system::errc::make_error_code(boost::system::errc::io_error);
        return boost::none;
      }
      remain_ -= n;
      return std::make_pair(const_buffers_type(buffer_.get(), n), remain_ > 0);
    }

  private:
    value_type& body_;
    uint64_t remain_;
    std::unique_ptr<char[]> buffer_;
  };
};

// Opens the file range `res` names into `out`; false when the file cannot be opened, is not a
// regular file, or is shorter than the range (the error says which).
bool open_file_range(const http_response& res, file_range_body::value_type& out,
                     beast::error_code& ec) {
  out.file.open(res.file_path.c_str(), beast::file_mode::scan, ec);
  if (ec)
    return false;
  struct stat st {};
  if (::fstat(out.file.native_handle(), &st) != 0) {
    ec = beast::error_code(errno, boost::system::generic_category());
    return false;
  }
  auto size = static_cast<uint64_t>(st.st_size);
  if (!S_ISREG(st.st_mode) || res.file_offset > size || res.file_length > size - res.file_offset) {
    ec = boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
    return false;
  }
  out.offset = res.file_offset;
  out.length = res.file_length;
  return true;
}

} // namespace

struct http_server::impl : std::enable_shared_from_this<http_server::impl> {
  net::io_context& io;
  settings cfg;
  dispatch_fn dispatch;
  tcp::acceptor acceptor;
  std::atomic<int64_t> in_flight{0};
  std::atomic<int> connections{0};
  std::atomic<bool> accepting{true};
  std::shared_ptr<stream_registry> streams = std::make_shared<stream_registry>();

  impl(net::io_context& io, const settings& cfg, dispatch_fn d)
    : io(io), cfg(cfg), dispatch(std::move(d)), acceptor(net::make_strand(io)) {}

  void do_accept();
};

namespace {

class session;

// The event_stream handed to the handler. Holds its session weakly (the session holds the stream),
// so a stream kept by an actor never keeps a closed connection alive. push's bound counts the
// queued bytes plus those of the write in progress.
class sse_stream final : public event_stream {
public:
  sse_stream(std::weak_ptr<session> s, std::shared_ptr<stream_registry> registry, size_t limit)
    : session_(std::move(s)), registry_(std::move(registry)), limit_(limit) {}
  ~sse_stream() override { mark_closed(); }

  bool push(std::string bytes) override;
  bool closed() const override {
    std::lock_guard lock(mutex_);
    return closed_;
  }
  void close() override;
  size_t unsent() const override {
    std::lock_guard lock(mutex_);
    return pending_.size() + in_write_;
  }
  size_t capacity() const override { return limit_; }

  // Session side (its strand). Marks the stream closed without touching the socket; true when
  // this call closed it (the registry slot is freed exactly once).
  bool mark_closed() {
    {
      std::lock_guard lock(mutex_);
      if (closed_)
        return false;
      closed_ = true;
      pending_.clear();
      pending_.shrink_to_fit();
    }
    registry_->remove(this);
    return true;
  }
  // Takes the queued bytes for one write ("" when none: the session then waits for a push).
  std::string take() {
    std::lock_guard lock(mutex_);
    std::string out;
    out.swap(pending_);
    in_write_ = out.size();
    flush_wanted_ = !out.empty();
    return out;
  }
  void write_done() {
    std::lock_guard lock(mutex_);
    in_write_ = 0;
  }

private:
  mutable std::mutex mutex_;
  std::weak_ptr<session> session_;
  std::shared_ptr<stream_registry> registry_;
  size_t limit_;
  std::string pending_;
  size_t in_write_ = 0;
  bool flush_wanted_ = false; // a flush is posted or a write is in progress: no need to post
  bool closed_ = false;
};

// Concrete executor types: with beast::tcp_stream (any_io_executor) every async operation and
// timer wrapped the strand in a type-erased executor, a heap allocation each (heaptrack: ~40 per
// webhook request).
using strand = net::strand<net::io_context::executor_type>;
using strand_socket = net::basic_stream_socket<tcp, strand>;
using strand_timer = net::basic_waitable_timer<std::chrono::steady_clock,
                                               net::wait_traits<std::chrono::steady_clock>, strand>;

class session : public std::enable_shared_from_this<session> {
public:
  session(strand_socket&& socket, std::shared_ptr<http_server::impl> server)
    : stream_(std::move(socket)), server_(std::move(server)), deadline_(stream_.get_executor()) {}

  ~session() {
    if (sse_)
      sse_->mark_closed();
    --server_->connections;
  }

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
  }

  // Called from any thread by the reply sink.
  void post_reply(uint64_t generation, http_response res) {
    net::post(stream_.get_executor(),
              [self = shared_from_this(), generation, res = std::move(res)]() mutable {
                self->on_reply(generation, std::move(res));
              });
  }

  // Called from any thread by the reply sink, `answered` being the sink's flag (not yet set).
  event_stream_ptr open_stream(uint64_t generation, std::atomic<bool>& answered,
                               http_response head) {
    auto& registry = server_->streams;
    if (!registry->try_reserve(server_->cfg.sse_max_streams))
      return nullptr;
    if (answered.exchange(true)) {
      registry->release();
      return nullptr;
    }
    auto s =
        std::make_shared<sse_stream>(weak_from_this(), registry, server_->cfg.sse_buffer_bytes);
    registry->add(s.get(), s);
    // Posted before any push can post a flush, so the head goes out first.
    net::post(stream_.get_executor(),
              [self = shared_from_this(), generation, s, head = std::move(head)]() mutable {
                self->start_stream(generation, std::move(s), std::move(head));
              });
    return s;
  }

  // Any thread (the stream): write what is queued.
  void post_flush() {
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->do_flush(); });
  }

  // Any thread (the stream): the stream `s` was closed; end the connection if it is ours.
  void post_stream_closed(const sse_stream* s) {
    net::post(stream_.get_executor(), [self = shared_from_this(), s] {
      if (self->sse_.get() == s)
        self->end_stream();
    });
  }

private:
  class sink : public reply_sink {
  public:
    sink(std::weak_ptr<session> s, uint64_t generation) : s_(std::move(s)), gen_(generation) {}
    void deliver(http_response res) override {
      if (answered_.exchange(true))
        return;
      if (auto s = s_.lock())
        s->post_reply(gen_, std::move(res));
    }
    event_stream_ptr open_stream(http_response head) override {
      if (answered_.load())
        return nullptr;
      auto s = s_.lock();
      return s ? s->open_stream(gen_, answered_, std::move(head)) : nullptr;
    }
    void set_route(int r) override { route_.store(r, std::memory_order_relaxed); }
    int named_route() const { return route_.load(std::memory_order_relaxed); }
    void set_workspace(const std::string& id) override {
      std::lock_guard lock(workspace_mutex_);
      workspace_ = id.substr(0, 128);
    }
    std::string workspace() const {
      std::lock_guard lock(workspace_mutex_);
      return workspace_;
    }

  private:
    std::weak_ptr<session> s_;
    uint64_t gen_;
    std::atomic<bool> answered_{false};
    std::atomic<int> route_{-1}; // -1: not named (yet)
    mutable std::mutex workspace_mutex_;
    std::string workspace_; // for the access log: "" until the handler names it
  };

  void do_read() {
    parser_.emplace();
    upload_parser_.reset();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(
        std::max<uint64_t>(server_->cfg.webhook_body_limit,
                           server_->cfg.media_dir.empty() ? 0 : server_->cfg.media_max_bytes));
    stream_.expires_after(std::chrono::milliseconds(server_->cfg.http_idle_timeout_ms));
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, size_t) {
    started_ = std::chrono::steady_clock::now();
    sink_.reset();
    if (ec == bhttp::error::body_limit) // Content-Length over every route's limit
      return reject_now(api_error::payload_too_large, "request body too large");
    if (ec)
      return fail(ec);
    auto target = parser_->get().target();
    bool webhook = target.starts_with("/api/webhook/");
    bool upload = !server_->cfg.media_dir.empty() && spooled_upload(parser_->get());
    size_t limit = webhook  ? server_->cfg.webhook_body_limit
                   : upload ? server_->cfg.media_max_bytes
                            : server_->cfg.api_body_limit;
    auto len = parser_->content_length();
    if (len && *len > limit)
      return reject_now(api_error::payload_too_large, "request body too large");
    if (upload)
      return start_upload(limit);
    parser_->body_limit(limit);
    stream_.expires_after(kReadTimeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, size_t) {
    if (ec == bhttp::error::body_limit)
      return reject_now(api_error::payload_too_large, "request body too large");
    if (ec)
      return fail(ec);
    stream_.expires_never();
    dispatch_request(parser_->get(), std::move(parser_->get().body()), nullptr);
  }

  // POST /api/media with the media store on and credentials named (else it is an ordinary
  // request, with the API's body limit, which the handler refuses): the body goes to a file under
  // the store's tmp/ (never held in memory), read piece by piece, each piece within kReadTimeout
  // of the last, so a large upload over a slow link is not cut off while one that stalls is.
  // The credentials are checked once the body is in, by the handler, as for every request.
  static bool spooled_upload(const bhttp::request_parser<bhttp::string_body>::value_type& msg) {
    auto target = msg.target();
    return msg.method() == bhttp::verb::post &&
           target.substr(0, target.find('?')) == "/api/media" &&
           (msg.count(bhttp::field::authorization) > 0 || msg.count("X-API-Key") > 0);
  }

  void start_upload(size_t limit) {
    upload_sink_ = std::make_unique<response_sink>();
    auto path = media_files(server_->cfg.media_dir).temp_path("upload");
    if (auto err = upload_sink_->open(path); !err.empty()) {
      spdlog::warn("http: cannot spool an upload: {}", err);
      upload_sink_.reset();
      return reject_now(api_error::unavailable, "the upload cannot be stored now; try again");
    }
    upload_path_ = std::move(path);
    upload_sink_->set_limit(limit);
    upload_parser_.emplace(std::move(*parser_));
    upload_parser_->body_limit(limit);
    upload_parser_->get().body().sink = upload_sink_.get();
    if (upload_parser_->is_done()) // an empty body: nothing more to read
      return on_upload({}, 0);
    read_upload();
  }

  void read_upload() {
    stream_.expires_after(kReadTimeout);
    bhttp::async_read_some(stream_, buffer_, *upload_parser_,
                           beast::bind_front_handler(&session::on_upload, shared_from_this()));
  }

  void on_upload(beast::error_code ec, size_t) {
    if (!ec && !upload_parser_->is_done())
      return read_upload();
    auto sink = std::move(upload_sink_); // removes the file unless committed below
    if (ec == bhttp::error::body_limit)
      return reject_now(api_error::payload_too_large, "request body too large");
    if (!sink->error().empty()) {
      spdlog::warn("http: cannot spool an upload: {}", sink->error());
      return reject_now(api_error::unavailable, "the upload cannot be stored now; try again");
    }
    if (ec)
      return fail(ec);
    stream_.expires_never();
    auto size = sink->size();
    auto sha = sink->commit();
    if (sha.empty()) {
      spdlog::warn("http: cannot spool an upload: {}", sink->error());
      sink->discard();
      return reject_now(api_error::unavailable, "the upload cannot be stored now; try again");
    }
    dispatch_request(upload_parser_->get(), std::string(),
                     std::make_shared<spooled_body>(std::move(upload_path_), size, std::move(sha)));
  }

  template <class Message>
  void dispatch_request(Message& msg, std::string body, std::shared_ptr<const spooled_body> file) {
    auto req = std::make_shared<http_request>();
    req->method = std::string(msg.method_string());
    auto target = std::string(msg.target());
    auto q = target.find('?');
    req->path = target.substr(0, q);
    req->target = target;
    bool query_ok = true;
    if (q != std::string::npos)
      query_ok = parse_query(target.substr(q + 1), req->query);
    for (auto& f : msg) {
      std::string name(f.name_string());
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req->headers.emplace_back(std::move(name), std::string(f.value()));
    }
    req->body = std::move(body);
    req->body_file = std::move(file);
    spooled_ = req->body_file;
    auto rid = req->header("x-request-id");
    req->request_id = valid_request_id(rid) ? rid : new_id("req_");
    request_id_ = req->request_id;
    keep_alive_ = msg.keep_alive();
    ++generation_;
    awaiting_ = true;
    ++server_->in_flight;
    if (!query_ok) {
      on_reply(generation_, make_error(api_error::bad_request, "malformed query string"));
      return;
    }
    if (server_->in_flight.load() > server_->cfg.max_in_flight) {
      // Overloaded: shed load at the door instead of growing actor mailboxes without bound.
      on_reply(generation_, make_error(api_error::unavailable, "overloaded; try again"));
      return;
    }
    // An upload is passed on to the Cloud API before it is answered: it has a download's time.
    deadline_.expires_after(std::chrono::milliseconds(
        req->body_file ? server_->cfg.media_timeout_ms : server_->cfg.request_timeout_ms));
    deadline_.async_wait([self = shared_from_this(), gen = generation_](beast::error_code ec) {
      if (!ec)
        self->on_reply(gen, make_error(api_error::unavailable, "the request timed out; try again"));
    });
    sink_ = std::make_shared<sink>(weak_from_this(), generation_);
    server_->dispatch(req, reply_handle(sink_));
  }

  void on_reply(uint64_t generation, http_response res) {
    if (!awaiting_ || generation != generation_)
      return; // answered already (timeout) or a stale answer
    awaiting_ = false;
    --server_->in_flight;
    deadline_.cancel();
    if (spooled_) {
      // Answered: the spooled upload goes now, not whenever the actors drop their last copy of the
      // request (a reader that has it open keeps its bytes until it closes it).
      ::unlink(spooled_->path.c_str());
      spooled_.reset();
    }
    write(std::move(res));
  }

  // The current request's route: as the handler named it, else matched here (answers given
  // without the handler: limits, overload, a timeout before the handler ran).
  route current_route() const {
    if (sink_ && sink_->named_route() >= 0)
      return static_cast<route>(sink_->named_route());
    auto& msg = upload_parser_ ? upload_parser_->get().base() : parser_->get().base();
    std::string_view target(msg.target().data(), msg.target().size());
    std::string_view method(msg.method_string().data(), msg.method_string().size());
    return match_route(method, target.substr(0, target.find('?'))).which;
  }

  void write(http_response res) {
    // A file body is opened now, before the status is final: a file gone or cut short since the
    // handler looked at it is a 500, not a head promising bytes that never come. (A status that
    // has no body, 1xx/204/304, ignores file_path like it would a body.)
    file_range_body::value_type file;
    bool file_body =
        !res.file_path.empty() && res.status >= 200 && res.status != 204 && res.status != 304;
    if (file_body) {
      beast::error_code ec;
      if (!open_file_range(res, file, ec)) {
        spdlog::warn("http: cannot serve {} (bytes {}+{}) for {}: {}", res.file_path,
                     res.file_offset, res.file_length, request_id_, ec.message());
        res = make_error(api_error::internal, "the file cannot be read");
        file_body = false;
      }
    }
    auto which = current_route();
    auto took = std::chrono::steady_clock::now() - started_;
    observe_request(which, res.status, took);
    access_log(which, res.status, took,
               static_cast<int64_t>(file_body ? res.file_length : res.body.size()));
    if (file_body)
      return write_file(std::move(res), std::move(file));
    auto out = std::make_shared<bhttp::response<bhttp::string_body>>();
    set_head(*out, res);
    out->body() = std::move(res.body);
    out->prepare_payload();
    stream_.expires_after(kReadTimeout);
    bhttp::async_write(stream_, *out,
                       [self = shared_from_this(), out](beast::error_code ec, size_t) {
                         self->on_write(ec, out->need_eof());
                       });
  }

  // INBOXD_ACCESS_LOG: one line per answer (or per 4xx/5xx): the request id, method, route name
  // (never the path or the query, which may hold an access_token), workspace where known, status,
  // duration, body bytes (-1: a stream).
  void access_log(route which, int status, std::chrono::steady_clock::duration took,
                  int64_t bytes) const {
    auto mode = server_->cfg.access_log;
    if (!access_log_wanted(mode, status))
      return;
    auto& msg = upload_parser_ ? upload_parser_->get().base() : parser_->get().base();
    auto method = msg.method_string();
    auto workspace = sink_ ? sink_->workspace() : std::string();
    log_fields f;
    f.request_id = request_id_;
    f.workspace = workspace;
    f.method = std::string_view(method.data(), std::min<size_t>(method.size(), 16));
    auto name = route_name(which);
    f.route = name ? name : "not_found";
    f.status = status;
    f.duration_ms = std::chrono::duration<double, std::milli>(took).count();
    f.bytes = bytes;
    log_access(mode, f);
  }

  template <class Body>
  void set_head(bhttp::response<Body>& out, const http_response& res) {
    out.version(11);
    out.result(static_cast<unsigned>(res.status));
    out.set(bhttp::field::server, "inboxd");
    if (!res.content_type.empty())
      out.set(bhttp::field::content_type, res.content_type);
    out.set("X-Request-Id", request_id_.empty() ? new_id("req_") : request_id_);
    for (auto& [k, v] : res.headers)
      out.set(k, v);
    out.keep_alive(keep_alive_ && server_->accepting.load());
  }

  // A file body goes out one chunk per write, each with its own timeout: a client that keeps
  // reading a large file slowly is not cut off; one that stops reading is, after kReadTimeout.
  struct file_write {
    bhttp::response<file_range_body> msg;
    std::optional<bhttp::response_serializer<file_range_body>> serializer;
  };

  void write_file(http_response res, file_range_body::value_type file) {
    auto w = std::make_shared<file_write>();
    set_head(w->msg, res);
    w->msg.body() = std::move(file);
    w->msg.prepare_payload(); // Content-Length: the range's length
    w->serializer.emplace(w->msg);
    write_file_some(std::move(w));
  }

  void write_file_some(std::shared_ptr<file_write> w) {
    stream_.expires_after(kReadTimeout);
    auto& serializer = *w->serializer;
    bhttp::async_write_some(
        stream_, serializer,
        [self = shared_from_this(), w = std::move(w)](beast::error_code ec, size_t) mutable {
          if (ec)
            return self->fail(ec);
          if (!w->serializer->is_done())
            return self->write_file_some(std::move(w));
          bool close = w->msg.need_eof();
          w.reset(); // closes the file before the next request is read
          self->on_write(ec, close);
        });
  }

  // Answers without dispatching (limits hit while reading) and closes the connection.
  void reject_now(api_error code, const char* message) {
    keep_alive_ = false;
    request_id_ = new_id("req_");
    write(make_error(code, message));
  }

  void on_write(beast::error_code ec, bool close) {
    if (ec)
      return fail(ec);
    if (close) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      return;
    }
    do_read();
  }

  void fail(beast::error_code ec) {
    if (ec != bhttp::error::end_of_stream && ec != net::error::operation_aborted &&
        ec != beast::error::timeout && ec != net::error::connection_reset && ec != net::error::eof)
      spdlog::debug("http session: {}", ec.message());
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    if (awaiting_) {
      awaiting_ = false;
      --server_->in_flight;
      deadline_.cancel();
    }
  }

  // --- streaming mode (all on the strand) ---

  // The handler opened a stream on request `generation`: answer it with the stream's head.
  void start_stream(uint64_t generation, std::shared_ptr<sse_stream> s, http_response head) {
    if (!awaiting_ || generation != generation_) {
      s->mark_closed(); // timed out (503 sent) or stale: the connection carries on without it
      return;
    }
    awaiting_ = false;
    --server_->in_flight;
    deadline_.cancel();
    auto which = current_route();
    auto took = std::chrono::steady_clock::now() - started_;
    observe_request(which, head.status, took);
    access_log(which, head.status, took, -1);
    sse_ = std::move(s);
    streaming_ = true;
    stream_.expires_never();
    if (sse_->closed())
      return end_stream();
    out_ = stream_head(head);
    out_ += sse_->take(); // pushed before the switch
    write_stream();
    schedule_ping();
    read_stream();
  }

  std::string stream_head(const http_response& head) const {
    auto safe = [](const std::string& v) { return v.find_first_of("\r\n") == std::string::npos; };
    auto reason = bhttp::obsolete_reason(bhttp::int_to_status(static_cast<unsigned>(head.status)));
    std::string out = "HTTP/1.1 " + std::to_string(head.status) + " ";
    out.append(reason.starts_with('<') ? "OK" : std::string(reason));
    out +=
        "\r\nServer: inboxd\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
        "Cache-Control: no-cache\r\nX-Request-Id: ";
    out += request_id_.empty() ? new_id("req_") : request_id_;
    out += "\r\nConnection: close\r\n";
    for (auto& [k, v] : head.headers)
      if (!k.empty() && safe(k) && safe(v) && k.find(':') == std::string::npos)
        out += k + ": " + v + "\r\n";
    out += "\r\n";
    return out;
  }

  void do_flush() {
    if (!streaming_ || stream_done_ || writing_)
      return; // before the switch start_stream takes the queue; during a write its end does
    out_ = sse_->take();
    if (!out_.empty())
      write_stream();
  }

  void write_stream() {
    writing_ = true;
    net::async_write(stream_, net::buffer(out_),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->writing_ = false;
                       self->sse_->write_done();
                       if (ec)
                         return self->end_stream();
                       self->do_flush();
                     });
  }

  void schedule_ping() {
    if (server_->cfg.sse_ping_ms <= 0)
      return;
    ping_.expires_after(std::chrono::milliseconds(server_->cfg.sse_ping_ms));
    ping_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->stream_done_)
        return;
      if (self->sse_->push(": ping\n\n"))
        self->schedule_ping();
    });
  }

  // Reads (and discards) whatever the client sends, to notice it going away.
  void read_stream() {
    stream_.async_read_some(net::buffer(discard_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec)
                                return self->end_stream();
                              if (!self->stream_done_)
                                self->read_stream();
                            });
  }

  void end_stream() {
    if (stream_done_)
      return;
    stream_done_ = true;
    sse_->mark_closed();
    ping_.cancel();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored); // aborts the pending read and write: the session ends
  }

  beast::basic_stream<tcp, strand> stream_;
  std::shared_ptr<http_server::impl> server_;
  strand_timer deadline_;
  strand_timer ping_{stream_.get_executor()};
  std::shared_ptr<sse_stream> sse_;
  std::string out_;
  std::array<char, 512> discard_{};
  bool streaming_ = false;
  bool stream_done_ = false;
  bool writing_ = false;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::request_parser<response_sink::body>> upload_parser_;
  std::unique_ptr<response_sink> upload_sink_; // the upload being read (its file until committed)
  std::string upload_path_;
  std::shared_ptr<const spooled_body> spooled_; // the current request's spooled upload, if any
  std::string request_id_;
  std::shared_ptr<sink> sink_; // the current request's (it holds the route the handler named)
  std::chrono::steady_clock::time_point started_; // when the current request's head arrived
  bool keep_alive_ = true;
  bool awaiting_ = false;
  uint64_t generation_ = 0;
};

bool sse_stream::push(std::string bytes) {
  bool over = false;
  bool post = false;
  {
    std::lock_guard lock(mutex_);
    if (closed_)
      return false;
    if (pending_.size() + in_write_ + bytes.size() > limit_) {
      over = true; // too slow a subscriber: drop it (it resumes with Last-Event-ID)
    } else {
      pending_ += bytes;
      post = !flush_wanted_;
      flush_wanted_ = true;
    }
  }
  if (over) {
    close();
    return false;
  }
  if (post)
    if (auto s = session_.lock())
      s->post_flush();
  return true;
}

void sse_stream::close() {
  if (!mark_closed())
    return;
  if (auto s = session_.lock())
    s->post_stream_closed(this);
}

} // namespace

void http_server::impl::do_accept() {
  acceptor.async_accept(net::make_strand(io), [self = shared_from_this()](beast::error_code ec,
                                                                          strand_socket socket) {
    if (!self->accepting)
      return;
    if (!ec) {
      if (self->connections.load() >= self->cfg.max_connections) {
        beast::error_code ignored;
        socket.close(ignored); // over the cap: refuse rather than queue without bound
      } else {
        ++self->connections;
        std::make_shared<session>(std::move(socket), self)->start();
      }
    }
    self->do_accept();
  });
}

http_server::http_server(net::io_context& io, const settings& cfg, dispatch_fn dispatch)
  : impl_(std::make_shared<impl>(io, cfg, std::move(dispatch))) {}

http_server::~http_server() = default;

uint16_t http_server::listen() {
  beast::error_code ec;
  auto addr = net::ip::make_address(impl_->cfg.http_addr, ec);
  if (ec)
    throw std::runtime_error("invalid INBOXD_HTTP_ADDR '" + impl_->cfg.http_addr + "'");
  tcp::endpoint ep{addr, static_cast<uint16_t>(impl_->cfg.http_port)};
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec)
    a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec)
    a.bind(ep, ec);
  if (!ec)
    a.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error("cannot listen on " + impl_->cfg.http_addr + ":" +
                             std::to_string(impl_->cfg.http_port) + ": " + ec.message());
  impl_->do_accept();
  return a.local_endpoint().port();
}

void http_server::stop_accepting() {
  impl_->accepting = false;
  net::post(impl_->acceptor.get_executor(), [self = impl_] {
    beast::error_code ignored;
    self->acceptor.close(ignored);
  });
}

int64_t http_server::in_flight() const {
  return impl_->in_flight.load();
}

void http_server::close_streams() {
  impl_->streams->close_all();
}

size_t http_server::open_streams() const {
  return impl_->streams->open.load();
}

} // namespace inboxd
