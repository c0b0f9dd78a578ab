#include "actors/event_hub.hpp"

#include <algorithm>

namespace inboxd {

namespace {

constexpr size_t kReadChunk = 500;

} // namespace

event_hub::event_hub(reader read, timer later, int max_subscribers)
    : read_(std::move(read)),
      later_(std::move(later)),
      max_subscribers_(max_subscribers) {}

bool event_hub::push(subscriber& sub, const stream_entry& e) {
  stream_id id;
  if (!parse_stream_id(e.id, id) || id <= sub.cursor)
    return true; // delivered already
  sub.cursor = id;
  if (e.data.empty())
    return true; // it named records deleted since: nothing to deliver
  return sub.stream->push(sse_frame(e));
}

void event_hub::sweep() {
  subs_.erase(std::remove_if(subs_.begin(), subs_.end(),
                             [](auto& s) { return s->stream->closed(); }),
              subs_.end());
  if (subs_.empty() && opening_ == 0)
    tail_known_ = false; // nobody listens: stop following the log
}

void event_hub::close_all() {
  ++generation_;
  for (auto& s : subs_)
    s->stream->close();
  sweep();
}

void event_hub::subscribe(reply_handle reply, const std::string& last_event_id) {
  sweep();
  if (static_cast<int>(size()) >= max_subscribers_)
    return reply.error(api_error::rate_limited, "too many event streams for this workspace");
  ++opening_;
  // The log's tail is read before the stream opens, so every event committed after the
  // response headers were sent is above it.
  read_({}, {}, 0, [this, reply, last_event_id, generation = generation_](event_read& r) {
    --opening_;
    if (generation != generation_)
      return reply.error(api_error::unavailable, "the workspace moved; try again");
    if (!r.ok) {
      sweep();
      return reply.error(api_error::unavailable, "storage unavailable; try again");
    }
    stream_id tail{0, 0};
    if (!r.entries.empty())
      parse_stream_id(r.entries[0].id, tail);
    if (!tail_known_) {
      live_id_ = tail;
      tail_known_ = true;
    }
    http_response head;
    head.headers.emplace_back("X-Accel-Buffering", "no");
    auto stream = reply.open_stream(std::move(head));
    if (!stream) {
      sweep();
      return reply.error(api_error::rate_limited, "too many event streams on this server");
    }
    stream->push("retry: 2000\n\n");
    auto sub = std::make_shared<subscriber>();
    sub->stream = std::move(stream);
    sub->cursor = tail;
    if (!last_event_id.empty() && !parse_stream_id(last_event_id, sub->cursor))
      sub->cursor = {0, 0}; // unknown: replay everything retained
    subs_.push_back(sub);
    catch_up(sub);
    read_tail(); // anything appended while the stream opened
  });
}

void event_hub::catch_up(const std::shared_ptr<subscriber>& sub) {
  if (sub->stream->closed())
    return sweep();
  if (sub->cursor >= live_id_) {
    sub->live = true;
    return;
  }
  // A replay is a burst: push while the client's buffer has room, wait for it to drain
  // otherwise (the bound is there to cut off stalled clients, not catching-up ones).
  auto room = [](const subscriber& s) { return s.stream->unsent() < s.stream->capacity() / 2; };
  if (!room(*sub)) {
    sub->reading = true;
    return later_(std::chrono::milliseconds(20), [this, sub] {
      sub->reading = false;
      catch_up(sub);
    });
  }
  sub->reading = true;
  read_(to_string(sub->cursor), to_string(live_id_), kReadChunk,
       [this, sub, room](event_read& r) {
         sub->reading = false;
         auto& entries = r.entries;
         if (!r.ok) {
           sub->stream->close(); // it resumes with its Last-Event-ID
           return sweep();
         }
         for (auto& e : entries) {
           if (!room(*sub))
             break; // the cursor stays at the last pushed event; the rest is read again
           if (!push(*sub, e))
             return sweep();
         }
         if (entries.empty() && sub->cursor < live_id_)
           sub->cursor = live_id_; // the rest was trimmed or never existed
         catch_up(sub);
       });
}

void event_hub::appended() {
  read_tail();
}

void event_hub::read_tail() {
  if (!tail_known_ || subs_.empty())
    return;
  if (tail_reading_) {
    tail_again_ = true;
    return;
  }
  tail_reading_ = true;
  tail_again_ = false;
  read_(to_string(live_id_), {}, kReadChunk,
       [this](event_read& r) {
         tail_reading_ = false;
         auto& entries = r.entries;
         if (!r.ok)
           return; // the next append reads again
         bool dropped = false;
         for (auto& e : entries) {
           stream_id id;
           if (!parse_stream_id(e.id, id))
             continue;
           live_id_ = std::max(live_id_, id);
           for (auto& sub : subs_)
             if (sub->live && !push(*sub, e))
               dropped = true;
         }
         if (dropped)
           sweep();
         if (entries.size() == kReadChunk || tail_again_)
           read_tail();
       });
}

} // namespace inboxd
