#include "tests/support/browser.hpp"

#include <thread>

namespace inboxd::test {

bool browser::wait_for(const std::string& js_condition, std::chrono::milliseconds timeout) {
  using namespace std::chrono_literals;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  // Runtime errors (an element that is not there yet) count as false; syntax errors throw.
  auto expression =
      "(() => { try { return !!(" + js_condition + "\n); } catch (e) { return false; } })()";
  for (;;) {
    if (eval(expression) == nlohmann::json(true))
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(50ms);
  }
}

} // namespace inboxd::test
