// A message an actor's behavior does not take is dropped without an answer: under CAF 0.17's own
// caf::drop the sender got an error back, and with CAF's default error handler it quit.

#include <memory>
#include <string>

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "actors/dropped.hpp"

namespace inboxd {
namespace {

using ping_atom = caf::atom_constant<caf::atom("dtping")>;

// `receiver` takes ints only. `sender` sends it a string (dropped), then, when pinged, an int as a
// request and answers the ping once the int is answered: by then the receiver's answer to the
// string, had there been one, was in the sender's mailbox ahead of the int's.
caf::behavior receiver(caf::event_based_actor* self, bool quiet) {
  self->set_default_handler(quiet ? drop_quietly : log_and_drop);
  return {[](int x) { return x; }};
}

caf::behavior sender(caf::event_based_actor* self, caf::actor to) {
  self->send(to, std::string("stray"));
  return {[self, to](ping_atom) {
    auto rp = self->make_response_promise<int>();
    self->request(to, caf::infinite, 7).then([rp](int x) mutable { rp.deliver(x); });
    return rp;
  }};
}

// Like a timer the actor set before it changed state: a message to itself it no longer takes.
// A ping is answered after two more trips through its own mailbox, so that an answer to the
// stray, had there been one, is handled before the ping's reply whatever came first.
caf::behavior own_stray(caf::event_based_actor* self, bool quiet) {
  self->set_default_handler(quiet ? drop_quietly : log_and_drop);
  self->send(self, std::string("stray"));
  auto pending = std::make_shared<caf::typed_response_promise<int>>();
  return {
      [self, pending](ping_atom) {
        *pending = self->make_response_promise<int>();
        self->send(self, 2);
        return *pending;
      },
      [self, pending](int hops) {
        if (hops == 0)
          pending->deliver(7);
        else
          self->send(self, hops - 1);
      },
  };
}

class dropped_test : public ::testing::TestWithParam<bool> {
protected:
  caf::actor_system_config cfg_;
  caf::actor_system sys_{cfg_};
};

TEST_P(dropped_test, the_sender_of_a_dropped_message_lives_on) {
  auto r = sys_.spawn(receiver, GetParam());
  auto s = sys_.spawn(sender, r);
  caf::scoped_actor self{sys_};
  int answer = 0;
  std::string failure;
  // A dead sender never answers (its promise dies with it): the bound turns that into a failure.
  self->request(s, std::chrono::seconds(10), ping_atom::value)
      .receive([&](int x) { answer = x; }, [&](caf::error& e) { failure = sys_.render(e); });
  EXPECT_EQ(answer, 7) << failure;
  self->send_exit(r, caf::exit_reason::user_shutdown);
  self->send_exit(s, caf::exit_reason::user_shutdown);
}

TEST_P(dropped_test, a_request_it_does_not_take_gets_an_error) {
  auto r = sys_.spawn(receiver, GetParam());
  caf::scoped_actor self{sys_};
  bool refused = false;
  self->request(r, caf::infinite, std::string("not an int"))
      .receive([](const caf::message&) {},
               [&](caf::error& e) { refused = e == caf::sec::unexpected_message; });
  EXPECT_TRUE(refused);
  self->send_exit(r, caf::exit_reason::user_shutdown);
}

TEST_P(dropped_test, an_actor_lives_on_after_dropping_its_own_message) {
  auto a = sys_.spawn(own_stray, GetParam());
  caf::scoped_actor self{sys_};
  int answer = 0;
  std::string failure;
  self->request(a, std::chrono::seconds(10), ping_atom::value)
      .receive([&](int x) { answer = x; }, [&](caf::error& e) { failure = sys_.render(e); });
  EXPECT_EQ(answer, 7) << failure;
  self->send_exit(a, caf::exit_reason::user_shutdown);
}

INSTANTIATE_TEST_SUITE_P(quietly_and_logged, dropped_test, ::testing::Bool());

} // namespace
} // namespace inboxd
