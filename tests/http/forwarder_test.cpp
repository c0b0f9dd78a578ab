// http/forwarder: hop signatures (who may skip the webhook signature, who must not be forwarded
// again) and a forward to a real HTTP server over loopback.

#include "http/forwarder.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>

#include <unistd.h>

#include "http/https_client.hpp"
#include "messages/crypto.hpp"
#include "tests/support/fake_cloud_api.hpp"

using namespace inboxd;

namespace {

constexpr const char* kSecret = "0123456789abcdef-secret";

std::string now_ms() {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count());
}

http_request hop(const std::string& secret, const std::string& time, std::string body = "{}") {
  http_request req;
  req.method = "POST";
  req.target = "/api/webhook/whatsapp?x=1";
  req.body = std::move(body);
  req.headers = {{"x-inboxd-hop", "n1"},
                 {"x-inboxd-hop-time", time},
                 {"x-inboxd-hop-signature",
                  forwarder::sign(secret, req.method, req.target, time, "n1", req.body)}};
  return req;
}

TEST(forwarder, a_hop_signed_with_the_cluster_secret_is_from_a_peer) {
  forwarder f(nullptr, "n2", kSecret, 1000);
  auto req = hop(kSecret, now_ms());
  EXPECT_TRUE(forwarder::is_hop(req));
  EXPECT_TRUE(f.from_peer(req));
  EXPECT_FALSE(f.from_peer(hop("another secret of 16+", now_ms())));
  auto changed = req;
  changed.body = "{\"x\":1}";
  EXPECT_FALSE(f.from_peer(changed));
  changed = req;
  changed.target = "/api/webhook/kapso";
  EXPECT_FALSE(f.from_peer(changed));
  auto old = std::to_string(std::stoll(now_ms()) - 120000);
  EXPECT_FALSE(f.from_peer(hop(kSecret, old)));
  EXPECT_FALSE(f.from_peer(hop(kSecret, "12a4")));
  http_request plain;
  EXPECT_FALSE(forwarder::is_hop(plain));
  EXPECT_FALSE(f.from_peer(plain));
}

// A forwarded request goes no further, but back once to the node it came from (a hand-over).
TEST(forwarder, a_hop_goes_back_once_to_its_sender_and_nowhere_else) {
  http_request direct;
  EXPECT_TRUE(forwarder::may_forward(direct, "http://127.0.0.1:2"));
  http_request hop;
  hop.headers = {{"x-inboxd-hop", "n1 http://127.0.0.1:1"}, {"x-inboxd-hops", "1"}};
  EXPECT_TRUE(forwarder::may_forward(hop, "http://127.0.0.1:1"));
  EXPECT_FALSE(forwarder::may_forward(hop, "http://127.0.0.1:2"));
  hop.headers[1].second = "2";
  EXPECT_FALSE(forwarder::may_forward(hop, "http://127.0.0.1:1"));
  hop.headers = {{"x-inboxd-hop", "n1"}, {"x-inboxd-hops", "1"}};
  EXPECT_FALSE(forwarder::may_forward(hop, "n1"));
}

TEST(forwarder, forwards_once_with_signed_hop_headers_and_passes_the_answer_on) {
  test::fake_cloud_api owner(false);
  auto client = std::make_shared<https_client>();
  ASSERT_EQ(client->start(), "");
  forwarder f(client, "n1", kSecret, 5000);
  http_request req;
  req.method = "PATCH";
  req.target = "/api/conversations/cv_1?x=1";
  req.body = "{\"status\":\"closed\"}";
  req.request_id = "req_1";
  req.headers = {{"x-api-key", "ibx.k"}, {"host", "lb"}, {"content-length", "19"}};
  std::promise<http_response> answer;
  f.forward(req, owner.url(""), req.body, [&](http_response r) { answer.set_value(std::move(r)); });
  auto res = answer.get_future().get();
  EXPECT_EQ(res.status, 200);
  auto got = owner.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].method, "PATCH");
  EXPECT_EQ(got[0].target, req.target);
  EXPECT_EQ(got[0].body, req.body);
  EXPECT_EQ(got[0].header("x-api-key"), "ibx.k");
  EXPECT_EQ(got[0].header("x-request-id"), "req_1");
  http_request arrived;
  arrived.method = got[0].method;
  arrived.target = got[0].target;
  arrived.body = got[0].body;
  for (auto h : {"x-inboxd-hop", "x-inboxd-hop-time", "x-inboxd-hop-signature"})
    arrived.headers.emplace_back(h, got[0].header(h));
  EXPECT_TRUE(forwarder(nullptr, "n2", kSecret, 1000).from_peer(arrived));
  // That request, arriving at a node that is not the owner either: no second hop.
  std::promise<http_response> refused;
  f.forward(arrived, owner.url(""), arrived.body,
            [&](http_response r) { refused.set_value(std::move(r)); });
  EXPECT_EQ(refused.get_future().get().status, 503);
  EXPECT_EQ(owner.requests().size(), 1u);
  client->stop();
}

TEST(forwarder, a_spooled_upload_streams_its_file_and_signs_its_sha256) {
  test::fake_cloud_api owner(false);
  auto client = std::make_shared<https_client>();
  ASSERT_EQ(client->start(), "");
  forwarder f(client, "n1", kSecret, 5000);
  char tmpl[] = "/tmp/inboxd-forward-XXXXXX";
  int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  std::string bytes(300000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<char>(i * 7);
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
  http_request req;
  req.method = "POST";
  req.target = "/api/media";
  req.headers = {{"x-api-key", "ibx.k"}, {"content-type", "image/png"}};
  req.body_file = std::make_shared<spooled_body>(tmpl, bytes.size(), sha256_hex(bytes));
  std::promise<http_response> answer;
  f.forward(req, owner.url(""), req.body, [&](http_response r) { answer.set_value(std::move(r)); });
  EXPECT_EQ(answer.get_future().get().status, 200);
  auto got = owner.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].body == bytes) << got[0].body.size() << " bytes arrived";
  EXPECT_EQ(got[0].header("content-type"), "image/png");
  // The owner spools it again: the signature holds over the file's SHA-256, not over a body.
  http_request arrived;
  arrived.method = got[0].method;
  arrived.target = got[0].target;
  for (auto h : {"x-inboxd-hop", "x-inboxd-hop-time", "x-inboxd-hop-signature"})
    arrived.headers.emplace_back(h, got[0].header(h));
  arrived.body_file =
      std::make_shared<spooled_body>(std::string(), bytes.size(), sha256_hex(bytes));
  forwarder peer(nullptr, "n2", kSecret, 1000);
  EXPECT_TRUE(peer.from_peer(arrived));
  arrived.body_file = std::make_shared<spooled_body>(std::string(), 1, sha256_hex("other"));
  EXPECT_FALSE(peer.from_peer(arrived));
  client->stop();
  // req's spooled_body removes the file when req goes
}

} // namespace
