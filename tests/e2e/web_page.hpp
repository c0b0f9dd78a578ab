#pragma once
// What the browser tests of the web inbox share: JavaScript snippets the tests evaluate in the
// page, the browsers they run in, signing in, and where screenshots go.

#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/chromium.hpp"
#include "tests/support/firefox.hpp"

namespace inboxd::test {

inline constexpr std::chrono::seconds kWait{15}; // every wait on the page or the API

// `s` as a JavaScript string literal (JSON's escaping is valid JavaScript).
inline std::string js(const std::string& s) {
  return nlohmann::json(s).dump();
}

// A JavaScript expression: whether the element `css` exists, is not hidden and has a box.
inline std::string visible(const std::string& css) {
  return "((e) => !!e && !e.hidden && e.getClientRects().length > 0)(document.querySelector(" +
         js(css) + "))";
}

// A JavaScript statement: sets a form field's value and fires `event` as a user's edit does.
inline std::string set_field(const std::string& css, const std::string& value,
                             const std::string& event = "input") {
  return "(() => { const e = document.querySelector(" + js(css) + "); e.value = " + js(value) +
         "; e.dispatchEvent(new Event(" + js(event) + ", {bubbles: true})); return e.value; })()";
}

inline std::string click(const std::string& css) {
  return "(() => { document.querySelector(" + js(css) + ").click(); return true; })()";
}

inline std::filesystem::path artifacts_dir() {
  return std::filesystem::path(INBOXD_BINARY).parent_path() / "artifacts";
}

inline bool is_png(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  char head[8] = {};
  in.read(head, sizeof(head));
  return in.gcount() == 8 && std::string(head, 8) == "\x89PNG\r\n\x1a\n";
}

// A `data:text/html,` URL of `html` (percent-encoded where a URL needs it).
inline std::string data_url(const std::string& html) {
  static const char* hex = "0123456789ABCDEF";
  std::string out = "data:text/html;charset=utf-8,";
  for (unsigned char c : html) {
    if (std::isalnum(c) ||
        std::string_view("-_.~<>=/'\"!()*:;,").find(static_cast<char>(c)) != std::string_view::npos)
      out += static_cast<char>(c);
    else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// The browsers the web inbox is tested in (each test runs once in each).
inline std::unique_ptr<browser> open_browser(const std::string& name) {
  if (name == "chromium")
    return std::make_unique<chromium>();
  if (name == "firefox")
    return std::make_unique<firefox>();
  throw std::invalid_argument("no driver for the browser " + name);
}

// `lines` as one string, one per line (for failure messages).
inline std::string joined(const std::vector<std::string>& lines) {
  std::string all;
  for (auto& l : lines)
    all += "\n  " + l;
  return all;
}

// Opens the inbox page of the inboxd at `base_url` at desktop size and signs in with
// `credential` (an API key, or a user token with its `workspace`); the event stream is live when
// it returns (fatal failures otherwise).
inline void sign_in(browser& browser, const std::string& base_url, const std::string& credential,
                    const std::string& workspace = "") {
  browser.set_viewport(1280, 800, false);
  ASSERT_NO_THROW(browser.navigate(base_url + "/"));
  ASSERT_TRUE(browser.wait_for(visible("#signin"), kWait)) << "no sign-in form";
  browser.eval(set_field("#signin-credential", credential));
  browser.eval(set_field("#signin-workspace", workspace));
  browser.eval(click("#signin-submit"));
  ASSERT_TRUE(browser.wait_for(visible("#app"), kWait)) << "the inbox never showed";
  ASSERT_TRUE(browser.wait_for(
      "document.getElementById('live-state').textContent.trim() === 'live'", kWait))
      << "the event stream never opened";
}

} // namespace inboxd::test
