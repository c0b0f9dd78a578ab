#pragma once
// Asynchronous storage calls from inside an actor: the Redis reply comes back as a message
// (storage_reply) and its continuation runs on the actor's own thread. Never blocks.

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include <caf/actor_cast.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/send.hpp>

#include "storage/redis_client.hpp"

namespace inboxd {

/// The reply of one storage call, delivered back to the actor that issued it.
struct storage_reply {
  uint64_t tag;
  redis_result result;
};

/// Holds the continuations of one actor's outstanding storage calls. Member of actor state.
class storage_calls {
public:
  using continuation = std::function<void(redis_result&)>;

  explicit storage_calls(std::shared_ptr<redis_client> client = nullptr)
      : client_(std::move(client)) {}

  /// Sends `cmds`; `then` runs later inside `self` when storage_reply arrives.
  template <class Self>
  void run(Self* self, redis_pipeline cmds, continuation then) {
    auto tag = ++next_tag_;
    pending_.emplace(tag, std::move(then));
    auto handle = caf::actor_cast<caf::actor>(self);
    client_->exec(std::move(cmds), [handle, tag](redis_result r) {
      caf::anon_send(handle, storage_reply{tag, std::move(r)});
    });
  }

  /// Call from the actor's storage_reply handler.
  void on_reply(storage_reply& r) {
    auto i = pending_.find(r.tag);
    if (i == pending_.end())
      return;
    auto f = std::move(i->second);
    pending_.erase(i);
    f(r.result);
  }

  redis_client& client() { return *client_; }
  const std::shared_ptr<redis_client>& shared_client() const { return client_; }

private:
  std::shared_ptr<redis_client> client_;
  std::unordered_map<uint64_t, continuation> pending_;
  uint64_t next_tag_ = 0;
};

/// True when `r` holds the replies of a pipeline ending in MULTI ... EXEC that committed
/// without an error inside.
bool exec_committed(const redis_result& r);

} // namespace inboxd

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(inboxd::storage_reply)
