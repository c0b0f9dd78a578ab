#include "bench/loadgen/setup.hpp"

#include <utility> // before Asio: Boost 1.74's awaitable.hpp misses it under C++20

#include <chrono>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace inboxd::bench {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using json = nlohmann::json;

namespace {

struct answer {
  int status = 0;
  std::string body;
};

// One keep-alive connection; reconnects when the server closed it.
class sync_client {
public:
  sync_client(std::string host, int port) : host_(std::move(host)), port_(port), socket_(io_) {}

  answer request(bhttp::verb method, const std::string& target,
                 const std::vector<std::pair<std::string, std::string>>& headers,
                 const std::string& body = {}) {
    for (int attempt = 0;; ++attempt) {
      try {
        return once(method, target, headers, body);
      } catch (const boost::system::system_error& e) {
        boost::system::error_code ignored;
        socket_.close(ignored);
        if (attempt >= 2)
          throw std::runtime_error(std::string(target) + ": " + e.what());
      }
    }
  }

private:
  answer once(bhttp::verb method, const std::string& target,
              const std::vector<std::pair<std::string, std::string>>& headers,
              const std::string& body) {
    if (!socket_.is_open()) {
      socket_.connect(
          tcp::endpoint(asio::ip::make_address(host_), static_cast<unsigned short>(port_)));
      buffer_.clear();
    }
    bhttp::request<bhttp::string_body> req{method, target, 11};
    req.set(bhttp::field::host, host_ + ":" + std::to_string(port_));
    for (auto& [k, v] : headers)
      req.set(k, v);
    if (!body.empty()) {
      req.set(bhttp::field::content_type, "application/json");
      req.body() = body;
    }
    req.keep_alive(true);
    req.prepare_payload();
    bhttp::write(socket_, req);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    bhttp::read(socket_, buffer_, parser);
    auto& res = parser.get();
    answer a{static_cast<int>(res.result_int()), res.body()};
    if (!res.keep_alive()) {
      boost::system::error_code ignored;
      socket_.close(ignored);
    }
    return a;
  }

  std::string host_;
  int port_;
  asio::io_context io_;
  tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

json expect_json(const answer& a, int status, const std::string& what) {
  if (a.status != status)
    throw std::runtime_error(what + ": HTTP " + std::to_string(a.status) + ": " + a.body);
  auto j = json::parse(a.body, nullptr, false);
  if (j.is_discarded())
    throw std::runtime_error(what + ": not JSON: " + a.body);
  return j;
}

} // namespace

std::vector<provisioned_workspace> provision(const provision_options& o) {
  sync_client client(o.host, o.port);
  std::vector<std::pair<std::string, std::string>> admin = {
      {"Authorization", "Bearer " + o.admin_token}};
  std::vector<provisioned_workspace> out;
  for (int i = 0; i < o.count; ++i) {
    provisioned_workspace ws;
    ws.phone_number_id = std::to_string(o.pnid_base + static_cast<unsigned long long>(i));
    json req = {{"name", "Bench " + o.prefix + " " + std::to_string(i)},
                {"slug", o.prefix + "-" + std::to_string(i)},
                {"phoneNumberId", ws.phone_number_id},
                {"displayPhoneNumber", "15550001111"}};
    if (!o.send_base_url.empty())
      req["send"] = {{"baseUrl", o.send_base_url}, {"accessToken", o.access_token}};
    auto created =
        expect_json(client.request(bhttp::verb::post, "/api/admin/workspaces", admin, req.dump()),
                    201, "create workspace " + o.prefix + "-" + std::to_string(i));
    ws.id = created.at("id").get<std::string>();
    auto key = expect_json(
        client.request(bhttp::verb::post, "/api/admin/workspaces/" + ws.id + "/api-keys", admin),
        201, "create API key for " + ws.id);
    ws.api_key = key.at("key").get<std::string>();
    out.push_back(std::move(ws));
  }
  return out;
}

std::vector<std::string> fetch_conversation_ids(const std::string& host, int port,
                                                const std::string& api_key, size_t max) {
  sync_client client(host, port);
  std::vector<std::string> ids;
  for (int page = 1; ids.size() < max; ++page) {
    std::string target = "/api/conversations?status=all&limit=100&page=" + std::to_string(page);
    answer a = client.request(bhttp::verb::get, target, {{"X-API-Key", api_key}});
    // An inboxd still working off an earlier overload answers 503 for a while: wait (up to 60 s).
    for (int tries = 0; a.status == 503 && tries < 120; ++tries) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      a = client.request(bhttp::verb::get, target, {{"X-API-Key", api_key}});
    }
    auto j = expect_json(a, 200, "list conversations");
    const auto& convs = j.at("conversations");
    if (convs.empty())
      break;
    for (const auto& c : convs) {
      if (ids.size() >= max)
        break;
      ids.push_back(c.at("id").get<std::string>());
    }
  }
  return ids;
}

// A port below the kernel's ephemeral range (read from /proc), free now: a port the kernel may
// hand to any outgoing connection (the bench's Redis clients) could be taken before the server
// that is given it binds.
int free_port() {
  int high = 32768;
  if (std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range"); !(in >> high) || high <= 11000)
    high = 32768;
  std::mt19937 rng(std::random_device{}());
  asio::io_context io;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    auto port = static_cast<unsigned short>(10000 + rng() % static_cast<unsigned>(high - 10000));
    tcp::acceptor a(io);
    boost::system::error_code ec;
    a.open(tcp::v4(), ec);
    if (!ec)
      a.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    if (!ec)
      return port;
  }
  throw std::runtime_error("free-port: no free port below the ephemeral range");
}

} // namespace inboxd::bench
