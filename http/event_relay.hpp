#pragma once
// Relays an event stream from the node that holds the workspace's lease (scale-out, DESIGN.md):
// `request` (the whole HTTP/1.1 request text, hop headers included) goes to host:port once. The
// owner's answer head decides what follows:
//  - a 200 text/event-stream: a stream is opened on `reply` and the owner's frames are pushed to
//    it as they arrive, whole frames only (so this node's own ": ping" comments never land inside
//    one), until either side ends. The owner closes its streams when the workspace leaves it; the
//    relay ends then too and the client resumes with Last-Event-ID, missing nothing.
//  - anything else (401, 404, 429, 503 ...): passed on as the answer, its body bounded.
// No answer head within `head_timeout_ms`, or a connection that fails first: 503. Once relaying,
// nothing from the owner (not even its pings) for `idle_ms` ends the relay, as does a client that
// went away. Bytes from the owner are bounded like any subscriber's: a relay whose client reads
// slower than the owner writes is dropped (the client resumes).
//
// `reached(bool)` runs once: whether the owner answered (for the forward metrics).

#include <cstdint>
#include <functional>
#include <string>

#include "messages/http_exchange.hpp"

namespace boost::asio {
class io_context;
}

namespace inboxd {

struct relay_timing {
  int64_t head_timeout_ms = 2000;
  int64_t idle_ms = 45000;
};

void relay_event_stream(boost::asio::io_context& io, std::string host, uint16_t port,
                        std::string request, reply_handle reply, relay_timing timing,
                        std::function<void(bool reached)> reached);

} // namespace inboxd
