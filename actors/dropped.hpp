#pragma once
// What an actor does with a message its current behavior does not take.
//
// CAF 0.17's caf::drop and caf::print_and_drop answer a dropped message with an error that is
// sent back to its sender even when the message was not a request, and an actor that receives an
// error with CAF's default error handler quits with it (and takes its links along). A lease
// renewal timer that met the workspace actor after a fenced commit had taken its lease killed it
// that way: every later request for the workspace on that node went unanswered. These handlers
// drop without answering (a request still gets its error back).

#include <cxxabi.h>

#include <cstdlib>
#include <string>

#include <caf/local_actor.hpp>
#include <caf/message.hpp>
#include <caf/message_view.hpp>
#include <caf/result.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/sec.hpp>
#include <caf/type_nr.hpp>
#include <spdlog/spdlog.h>

namespace inboxd {

/// For states that expect strays (a timer of a lease given up, a store answer after a hand-off).
inline caf::result<caf::message> drop_quietly(caf::scheduled_actor* self, caf::message_view&) {
  if (self->current_message_id().is_request())
    return caf::sec::unexpected_message;
  return caf::delegated<caf::message>{};
}

/// The types of a message's elements ("inboxd::inbox_call, int"): never their values, which may
/// hold credentials or message texts (API.md "Data protection and limits").
inline std::string message_types(const caf::type_erased_tuple& t) {
  std::string out;
  for (size_t i = 0; i < t.size(); ++i) {
    auto [nr, info] = t.type(i);
    if (i > 0)
      out += ", ";
    if (info) {
      int status = 0;
      char* name = abi::__cxa_demangle(info->name(), nullptr, nullptr, &status);
      out += status == 0 && name ? name : info->name();
      std::free(name);
    } else if (nr > 0 && nr <= caf::type_nrs) {
      out += caf::numbered_type_names[nr - 1];
    } else {
      out += "?";
    }
  }
  return out;
}

/// For states where an unknown message is a bug worth a log line (its types, not its values).
inline caf::result<caf::message> log_and_drop(caf::scheduled_actor* self, caf::message_view& x) {
  spdlog::warn("actor {} ({}): unexpected message dropped: ({})", self->id(), self->name(),
               message_types(x.content()));
  return drop_quietly(self, x);
}

} // namespace inboxd
