#pragma once
// Brings a store callback back into an actor: `in_actor(self, f)` returns a callback that, called
// on any thread with a result, sends the actor a continuation that runs f(result) on the
// actor's own thread (actors handle `continuation` by calling run()). Never blocks.

#include <functional>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/send.hpp>

namespace inboxd {

struct continuation {
  std::function<void()> run;
};

template <class Result, class Self, class F>
std::function<void(Result)> in_actor(Self* self, F f) {
  auto handle = caf::actor_cast<caf::actor>(self);
  return [handle, f = std::move(f)](Result r) mutable {
    caf::anon_send(handle, continuation{[f = std::move(f), r = std::move(r)]() mutable { f(r); }});
  };
}

} // namespace inboxd

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(inboxd::continuation)
