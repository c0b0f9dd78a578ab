#include "tests/support/browser.hpp"

#include <iostream>
#include <thread>

#include <gtest/gtest.h>

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

std::vector<std::string> browser::problems() const {
  std::vector<std::string> out;
  for (auto& m : messages())
    if (m.starts_with("exception:") || m.starts_with("console.error:") ||
        m.starts_with("console.assert:") ||
        (m.starts_with("log.") && m.find(".error: ") != std::string::npos))
      out.push_back(m);
  return out;
}

void browser::report_if_failed(const std::string& log_path) const {
  if (!::testing::Test::HasFailure())
    return;
  std::cerr << "---- " << name() << " log (" << log_path << ") ----\n"
            << log() << "\n---- end of " << name() << " log ----" << std::endl;
  if (messages().empty())
    return;
  std::cerr << "---- the page's console and log ----\n";
  for (auto& m : messages())
    std::cerr << m << "\n";
  std::cerr << "---- end of the page's console and log ----" << std::endl;
}

} // namespace inboxd::test
