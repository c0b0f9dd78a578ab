#include "http/webhook_ingest.hpp"

#include <algorithm>
#include <map>

#include <caf/send.hpp>
#include <nlohmann/json.hpp>

#include "actors/registry.hpp"
#include "http/forwarder.hpp"
#include "http/json_body.hpp"
#include "messages/actor_messages.hpp"
#include "messages/crypto.hpp"
#include "whatsapp/signature.hpp"
#include "whatsapp/webhook_decoder.hpp"

namespace inboxd {

namespace {

// Answers with an error; the exchange is handled.
bool refuse(const reply_handle& reply, api_error code, std::string_view message) {
  reply.error(code, message);
  return true;
}

} // namespace

bool ingest_webhook(const front_deps& deps, const http_exchange& ex, bool meta) {
  auto& req = *ex.request;
  auto& reply = ex.reply;
  auto& cfg = deps.cfg;
  if (!json_body_ok(req, reply))
    return true;
  auto snap = deps.reg->get();
  if (!snap->loaded)
    return refuse(reply, api_error::unavailable, "starting up; try again");
  auto sig = req.header(meta ? "x-hub-signature-256" : "x-webhook-signature");
  auto verify = [&](const std::string& secret) {
    return meta ? verify_meta_signature(secret, req.body, sig)
                : verify_kapso_signature(secret, req.body, sig);
  };
  // A body (or a part of one) another node of this deployment checked and forwarded
  // (http/forwarder.hpp): its hop signature stands for Meta's or Kapso's.
  bool from_peer = deps.fwd && forwarder::is_hop(req) && deps.fwd->from_peer(req);
  bool verified =
      from_peer || (!sig.empty() && verify(meta ? cfg.meta_app_secret : cfg.kapso_webhook_secret));
  nlohmann::json body;
  std::string parse_error;
  bool parsed = parse_json_bounded(req.body, body, parse_error);
  if (!verified && !sig.empty() && parsed) {
    // Not the deployment's secret: the workspace owning every number in the body may sign.
    auto pids = phone_number_ids_of(body);
    const registry_entry* owner = pids.empty() ? nullptr : snap->find_pid(pids[0]);
    for (auto& pid : pids)
      if (snap->find_pid(pid) != owner)
        owner = nullptr;
    if (owner)
      verified = verify(meta ? owner->ws.meta_app_secret : owner->ws.kapso_webhook_secret);
  }
  if (!verified)
    return refuse(reply, api_error::unauthorized,
                  sig.empty() && !forwarder::is_hop(req) ? "missing webhook signature"
                                                         : "invalid webhook signature");
  if (!parsed)
    return refuse(reply, api_error::bad_request, parse_error);
  // Kapso names each delivery (X-Idempotency-Key, the same on its retries); a delivery is the
  // key and the body together, so a key reused for another body is never taken for a repeat.
  std::string delivery;
  if (auto key = meta ? std::string() : req.header("x-idempotency-key"); !key.empty()) {
    if (key.size() > 255 ||
        !std::all_of(key.begin(), key.end(), [](char c) { return c > ' ' && c < 0x7f; }))
      return refuse(reply, api_error::bad_request,
                    "X-Idempotency-Key must be 1-255 visible ASCII characters");
    delivery = hmac_sha256_raw(key, req.body).substr(0, 16);
  }
  // The decoders check every field they read; should one still throw, this is the HTTP thread,
  // which must not unwind: the body is refused instead.
  decltype(decode_meta(body)) decoded;
  try {
    decoded = meta ? decode_meta(body) : decode_kapso(body, req.header("x-webhook-event"));
  } catch (const std::exception& e) {
    return refuse(reply, api_error::bad_request,
                  std::string("undecodable webhook body: ") + e.what());
  }
  if (!decoded.ok)
    return refuse(reply, api_error::bad_request, decoded.error);
  // A per-number callback URL (/api/webhook/whatsapp/<phone_number_id>) takes only that number.
  constexpr std::string_view kNumberPath = "/api/webhook/whatsapp/";
  if (req.path.size() > kNumberPath.size() && req.path.starts_with(kNumberPath)) {
    auto path_pid = std::string_view(req.path).substr(kNumberPath.size());
    for (auto& pid : decoded.value.phone_number_ids)
      if (pid != path_pid)
        return refuse(
            reply, api_error::bad_request,
            "the body names phone_number_id " + pid.substr(0, 64) + ", not the one in the path");
  }
  // Group by owning workspace; numbers nobody owns go to the dead-letter store.
  std::map<const registry_entry*, std::vector<wa_event>> by_ws;
  std::vector<std::string> unknown;
  size_t events = decoded.value.events.size();
  for (auto& e : decoded.value.events) {
    if (auto entry = snap->find_pid(e.phone_number_id))
      by_ws[entry].push_back(std::move(e));
  }
  for (auto& pid : decoded.value.phone_number_ids)
    if (!snap->find_pid(pid))
      unknown.push_back(pid);
  if (!unknown.empty() && deps.fwd && !ex.synced)
    return false;
  size_t items = unknown.size();
  for (auto& [entry, evs] : by_ws)
    items += evs.size();
  auto dead = unknown.size();
  auto ack = std::make_shared<ingest_ack>(items, [reply, events, dead](bool ok) {
    if (!ok)
      return reply.error(api_error::unavailable, "storage unavailable; retry later");
    // {"deadLettered":..,"events":..,"received":true} (what dumping the document gave), as text.
    http_response res;
    res.body = "{\"deadLettered\":" + std::to_string(dead) +
               ",\"events\":" + std::to_string(events) + ",\"received\":true}";
    reply.send(std::move(res));
  });
  std::shared_ptr<const nlohmann::json> shared_body;
  if (deps.fwd)
    shared_body = std::make_shared<const nlohmann::json>(std::move(body));
  for (auto& [entry, evs] : by_ws) {
    ingest_batch batch{
        std::move(evs), ack, {}, from_peer ? req.header("x-inboxd-hop") : "", delivery};
    if (deps.fwd) {
      // Not this node's workspace after all: its part of the body goes to the owner, and its
      // items complete with the owner's answer.
      batch.moved = [fwd = deps.fwd, request = ex.request, shared_body, ack,
                     pid = entry->ws.phone_number_id,
                     n = batch.events.size()](const std::string& owner_url) {
        auto part = body_for_numbers(*shared_body, {pid}).dump();
        fwd->forward(*request, owner_url, std::move(part), [ack, n](http_response res) {
          for (size_t i = 0; i < n; ++i)
            ack->complete(res.status == 200);
        });
      };
    }
    caf::anon_send(entry->actor, std::move(batch));
  }
  for (auto& pid : unknown)
    caf::anon_send(*deps.directory, dead_letter{pid, meta ? "meta" : "kapso",
                                                req.header("x-webhook-event"), req.body, ack});
  return true;
}

} // namespace inboxd
