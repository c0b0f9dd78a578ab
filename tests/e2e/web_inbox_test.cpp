// End-to-end: the web inbox served by the real binary at `/`, driven in Debian's headless
// Chromium over the DevTools protocol (tests/support/chromium.hpp), with a real redis-server and
// a local HTTPS fake of the Cloud API. An agent signs in with an API key, a webhook's message
// appears in the list without a reload, the agent opens it with the keyboard, replies (the fake
// Cloud API receives the send; the message's ticks move live), assigns, hands over and closes.
// Screenshots at desktop and phone width go to <build dir>/artifacts/ (CI artefacts). The page
// relies on the ids and attributes README "Web inbox" lists; any JS exception, console error,
// CSP violation or failed load fails the test.

#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "tests/e2e/e2e_test.hpp"
#include "tests/support/chromium.hpp"
#include "tests/support/fake_cloud_api.hpp"

namespace inboxd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr auto kWait = 15s; // every wait on the page or the API is bounded by this

// `s` as a JavaScript string literal (JSON's escaping is valid JavaScript).
std::string js(const std::string& s) {
  return json(s).dump();
}

// A JavaScript expression: whether the element `css` exists, is not hidden and has a box.
std::string visible(const std::string& css) {
  return "((e) => !!e && !e.hidden && e.getClientRects().length > 0)(document.querySelector(" +
         js(css) + "))";
}

// A JavaScript statement: sets a form field's value and fires `event` as a user's edit does.
std::string set_field(const std::string& css, const std::string& value,
                      const std::string& event = "input") {
  return "(() => { const e = document.querySelector(" + js(css) + "); e.value = " + js(value) +
         "; e.dispatchEvent(new Event(" + js(event) + ", {bubbles: true})); return e.value; })()";
}

std::string click(const std::string& css) {
  return "(() => { document.querySelector(" + js(css) + ").click(); return true; })()";
}

std::filesystem::path artifacts_dir() {
  return std::filesystem::path(INBOXD_BINARY).parent_path() / "artifacts";
}

bool is_png(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  char head[8] = {};
  in.read(head, sizeof(head));
  return in.gcount() == 8 && std::string(head, 8) == "\x89PNG\r\n\x1a\n";
}

// A `data:text/html,` URL of `html` (percent-encoded where a URL needs it).
std::string data_url(const std::string& html) {
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

// The driver itself, on a page of its own (no inboxd): navigation, evaluation, bounded waits,
// screenshots, and the collection of console messages and CSP violations.
TEST(chromium_driver, drives_a_page_and_reports_its_console_and_csp_violations) {
  auto started = steady::now();
  chromium browser;
  browser.set_viewport(800, 600, false);
  browser.navigate(
      data_url("<!doctype html><meta http-equiv=\"Content-Security-Policy\" "
               "content=\"script-src 'none'\"><title>driver</title>"
               "<meta name=\"viewport\" content=\"width=device-width\">"
               "<p id=\"p\">Olá, driver</p><script>window.inline = 1</script>"));
  EXPECT_EQ(browser.eval("document.title"), "driver");
  EXPECT_EQ(browser.eval("document.getElementById('p').textContent"), "Olá, driver");
  EXPECT_EQ(browser.eval("1 + 2"), 3);
  EXPECT_EQ(browser.eval("Promise.resolve({a: [1, 'x']})"), json::parse(R"({"a":[1,"x"]})"));
  EXPECT_TRUE(browser.eval("undefined").is_null());
  EXPECT_EQ(browser.eval("typeof window.inline"), "undefined") << "CSP let an inline script run";
  EXPECT_THROW(browser.eval("null.x"), std::runtime_error);
  EXPECT_THROW(browser.wait_for("(", 1s), std::runtime_error) << "a syntax error is not false";

  browser.eval("setTimeout(() => { document.title = 'later'; }, 200); true");
  EXPECT_TRUE(browser.wait_for("document.title === 'later'", 5s));
  EXPECT_FALSE(browser.wait_for("document.querySelector('#later').id === 'later'", 300ms))
      << "a condition that throws counts as false";
  auto t0 = steady::now();
  EXPECT_FALSE(browser.wait_for("false", 300ms));
  EXPECT_LT(steady::now() - t0, 5s);

  browser.eval(
      "console.log('plain', 42); console.error('boom'); setTimeout(() => { throw new "
      "Error('uncaught'); }, 0); true");
  EXPECT_TRUE(browser.wait_for("new Promise(r => setTimeout(() => r(true), 100))", 5s));
  auto has = [&](const std::vector<std::string>& lines, const std::string& part) {
    for (auto& l : lines)
      if (l.find(part) != std::string::npos)
        return true;
    return false;
  };
  auto problems = browser.problems();
  EXPECT_TRUE(has(browser.messages(), "console.log: plain 42"));
  EXPECT_FALSE(has(problems, "plain 42"));
  EXPECT_TRUE(has(problems, "console.error: boom"));
  EXPECT_TRUE(has(problems, "uncaught"));
  EXPECT_TRUE(has(problems, "Content Security Policy")) << "the blocked inline script";
  for (auto& m : browser.messages())
    std::cout << "  page: " << m << "\n";

  browser.set_viewport(390, 844, true);
  EXPECT_TRUE(browser.wait_for("window.innerWidth === 390", 5s));
  auto shot = std::filesystem::temp_directory_path() / ("inboxd-driver-" + unique_id() + ".png");
  browser.screenshot(shot.string());
  EXPECT_TRUE(is_png(shot));
  EXPECT_GT(std::filesystem::file_size(shot), 100u);
  std::filesystem::remove(shot);

  EXPECT_THROW(browser.navigate("http://127.0.0.1:1/"), std::runtime_error)
      << "a refused connection is a failed navigation";
  std::cout
      << "chromium driver test: "
      << std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started).count()
      << " ms\n";
}

constexpr const char* kToken = "meta-web-token";
constexpr const char* kContact = "5511987650001"; // a new contact's wa_id
constexpr const char* kAgent = "agent-ana";

class web_inbox_test : public e2e_test {
protected:
  inboxd_process::env_map extra_env() const override {
    return {{"INBOXD_TLS_CA_FILE", fake_.ca_file()},
            {"INBOXD_SEND_RETRY_BASE_MS", "50"},
            {"INBOXD_SEND_RETRY_MAX_MS", "200"},
            {"INBOXD_SEND_TIMEOUT_MS", "2000"}};
  }

  void SetUp() override {
    e2e_test::SetUp();
    if (HasFatalFailure())
      return;
    auto r =
        client().request("PATCH", "/api/admin/workspaces/" + ws_id_,
                         json{{"send",
                               {{"baseUrl", "https://127.0.0.1:" + std::to_string(fake_.port())},
                                {"accessToken", kToken}}}}
                             .dump(),
                         {{"Authorization", std::string("Bearer ") + kAdminToken},
                          {"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 200) << r.body;
  }

  // An inbound text from kContact, sent a few seconds ago (the reply window is open).
  static json inbound_text(const std::string& text) {
    auto body = with_unique_wamids(fixture_case("meta/message.json", "text"));
    body = replace_strings(body, "972987654321", kContact);
    auto& value = body["entry"][0]["changes"][0]["value"];
    value["contacts"][0]["profile"]["name"] = "Ana Souza";
    value["messages"][0]["text"]["body"] = text;
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    value["messages"][0]["timestamp"] = std::to_string(now - 5);
    return body;
  }

  static json status_body(const std::string& wamid, const std::string& status) {
    auto body = fixture_case("meta/message_status.json", "sent");
    body = replace_strings(body, "972987654321", kContact);
    body["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = "Ana Souza";
    auto& s = body["entry"][0]["changes"][0]["value"]["statuses"][0];
    s["id"] = wamid;
    s["status"] = status;
    s["timestamp"] = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
    return body;
  }

  // Polls GET /api/conversations/{id} (every 50 ms, up to kWait) until `field` equals `want`.
  bool api_shows(const std::string& conv, const std::string& field, const json& want) {
    json last;
    for (auto until = steady::now() + kWait; steady::now() < until;
         std::this_thread::sleep_for(50ms)) {
      last = api_get("/api/conversations/" + conv);
      if (last.contains(field) && last[field] == want)
        return true;
    }
    ADD_FAILURE() << "the API never showed " << field << " = " << want.dump()
                  << "; last: " << last.dump();
    return false;
  }

  // The Cloud API send the fake received with text `text`, or null after kWait.
  json sent_to_cloud(const std::string& text) {
    for (auto until = steady::now() + kWait; steady::now() < until;
         std::this_thread::sleep_for(50ms))
      for (auto& r : fake_.requests()) {
        auto body = json::parse(r.body, nullptr, false);
        if (r.method == "POST" && body.is_object() && body.contains("text") &&
            body["text"].value("body", "") == text) {
          EXPECT_EQ(r.target, std::string("/v24.0/") + kPhoneNumberId + "/messages");
          EXPECT_EQ(r.header("authorization"), std::string("Bearer ") + kToken);
          return body;
        }
      }
    return json();
  }

  fake_cloud_api fake_;
};

TEST_F(web_inbox_test,
       an_agent_signs_in_sees_a_webhook_live_replies_assigns_hands_over_and_closes) {
  auto started = steady::now();
  chromium browser;
  browser.set_viewport(1280, 800, false);
  auto base = inboxd_->base_url();
  ASSERT_NO_THROW(browser.navigate(base + "/"));

  // Sign in: a wrong key shows the API's error and keeps the inbox hidden; the real one opens it.
  ASSERT_TRUE(browser.wait_for(visible("#signin"), kWait)) << "no sign-in form";
  EXPECT_FALSE(browser.eval(visible("#app")).get<bool>()) << "the inbox shows before sign-in";
  browser.eval(set_field("#signin-credential", "ibx_" + ws_id_ + "_wrongsecret"));
  browser.eval(click("#signin-submit"));
  EXPECT_TRUE(browser.wait_for(
      "document.getElementById('signin-error').textContent.trim().length > 0", kWait))
      << "a rejected key shows no error";
  EXPECT_FALSE(browser.eval(visible("#app")).get<bool>());

  browser.eval(set_field("#signin-credential", api_key_));
  browser.eval(click("#signin-submit"));
  ASSERT_TRUE(browser.wait_for(visible("#app"), kWait)) << "the inbox never showed";
  EXPECT_FALSE(browser.eval(visible("#signin")).get<bool>());
  EXPECT_EQ(browser.eval("location.href.includes(" + js(api_key_) + ")"), false)
      << "the credential is in the page's URL";
  EXPECT_EQ(browser.eval("Object.keys(sessionStorage).some(k => sessionStorage.getItem(k)"
                         ".includes(" +
                         js(api_key_) + "))"),
            true)
      << "the credential is not kept in sessionStorage";
  // A marker that survives only as long as this document: the list must update without reload.
  browser.eval("window.inboxdTestMarker = 17; true");
  ASSERT_TRUE(browser.wait_for(
      "document.getElementById('live-state').textContent.trim() === 'live'", kWait))
      << "the event stream never opened";

  // A webhook from a new contact appears in the list, live. Its text is hostile markup: it must
  // be shown as text (an <img> through innerHTML would also trip the CSP).
  const std::string inbound = "Olá! <img src=x> & <b>bold</b>?";
  auto webhook = inbound_text(inbound);
  ASSERT_EQ(post_meta(webhook.dump()).status, 200);
  auto convs = all_conversations().value("conversations", json::array());
  ASSERT_EQ(convs.size(), 1u) << convs.dump();
  auto conv = convs[0]["id"].get<std::string>();
  auto item = "li.conversation[data-id=" + js(conv) + "]";
  ASSERT_TRUE(browser.wait_for(visible(item), kWait)) << "the conversation never appeared live";
  EXPECT_EQ(browser.eval("window.inboxdTestMarker"), 17) << "the page was reloaded";
  EXPECT_EQ(browser.eval("document.querySelector(" + js(item + " .preview") +
                         ").textContent.includes(" + js(inbound) + ")"),
            true)
      << browser.eval("document.querySelector(" + js(item) + ").outerHTML");
  auto name = browser.eval("document.querySelector(" + js(item + " .name") + ").textContent");
  EXPECT_TRUE(name.get<std::string>().find("Ana Souza") != std::string::npos ||
              name.get<std::string>().find(kContact) != std::string::npos)
      << name;
  EXPECT_EQ(browser.eval("document.querySelectorAll('#conversation-list img, #conversation-list "
                         "b').length"),
            0)
      << "the message's markup was rendered";

  // Open it with the keyboard: focus its focusable element, press Enter.
  ASSERT_EQ(browser.eval("(() => { const li = document.querySelector(" + js(item) +
                         "); const f = li.querySelector('button, a[href], [tabindex]') || li; "
                         "f.focus(); return document.activeElement === f; })()"),
            true)
      << "the conversation has no focusable element";
  for (auto type : {"keyDown", "keyUp"})
    browser.call("Input.dispatchKeyEvent", {{"type", type},
                                            {"key", "Enter"},
                                            {"code", "Enter"},
                                            {"windowsVirtualKeyCode", 13},
                                            {"nativeVirtualKeyCode", 13},
                                            {"text", std::string(type) == "keyDown" ? "\r" : ""}});
  auto section = "section#conversation[data-id=" + js(conv) + "]";
  ASSERT_TRUE(browser.wait_for(visible(section), kWait)) << "Enter did not open the conversation";
  auto message_with = [&](const std::string& direction, const std::string& text) {
    return "[...document.querySelectorAll('#messages li.message[data-direction=\"" + direction +
           "\"]')].find(m => m.querySelector('.text')?.textContent === " + js(text) + ")";
  };
  ASSERT_TRUE(browser.wait_for(message_with("inbound", inbound), kWait))
      << "the inbound message is not shown as its text";
  EXPECT_EQ(browser.eval("document.querySelectorAll('#messages img[src=\"x\"], #messages b')"
                         ".length"),
            0)
      << "the message's markup was rendered";
  EXPECT_TRUE(browser.wait_for(
      "document.getElementById('window-state').textContent.trim() === 'open'", kWait))
      << "the reply window of a message 5 s old is open";

  // Reply: the fake Cloud API receives the send; the message shows and its ticks move live.
  const std::string reply = "Oi Ana, como posso ajudar? <i>já</i>";
  browser.eval(set_field("#reply-text", reply));
  browser.eval(click("#reply-send"));
  auto sent = sent_to_cloud(reply);
  ASSERT_TRUE(sent.is_object()) << "the fake Cloud API received no send of the reply";
  EXPECT_EQ(sent.value("to", ""), kContact) << sent.dump();
  ASSERT_TRUE(browser.wait_for(message_with("outbound", reply), kWait))
      << "the reply is not in #messages";
  EXPECT_TRUE(
      browser.wait_for(message_with("outbound", reply) + "?.dataset.status === 'sent'", kWait))
      << "the reply's status never became sent on the page";
  std::string wamid;
  for (auto& m :
       api_get("/api/conversations/" + conv + "/messages").value("messages", json::array()))
    if (m.value("direction", "") == "outbound")
      wamid = m.value("waMessageId", "");
  ASSERT_FALSE(wamid.empty());
  ASSERT_EQ(post_meta(status_body(wamid, "delivered").dump()).status, 200);
  EXPECT_TRUE(
      browser.wait_for(message_with("outbound", reply) + "?.dataset.status === 'delivered'", kWait))
      << "a delivery receipt did not reach the page";

  // Assign to a member.
  auto member = client().request("PUT", "/api/admin/workspaces/" + ws_id_ + "/members/" + kAgent,
                                 json{{"role", "agent"}}.dump(),
                                 {{"Authorization", std::string("Bearer ") + kAdminToken},
                                  {"Content-Type", "application/json"}});
  ASSERT_EQ(member.status, 200) << member.body;
  browser.eval(set_field("#assign-to", kAgent));
  browser.eval(click("#assign-button"));
  EXPECT_TRUE(api_shows(conv, "assignedTo", kAgent));
  EXPECT_TRUE(browser.wait_for(
      "document.querySelector(" + js(section) + ").textContent.includes(" + js(kAgent) + ")",
      kWait))
      << "the open conversation does not show its assignee";

  // Screenshots of the open, assigned conversation (the CI artefacts and the README's picture):
  // desktop, then phone width (no sideways scrolling), then back to desktop.
  auto frame =
      "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))";
  auto dir = artifacts_dir();
  ASSERT_TRUE(browser.wait_for(frame, kWait));
  browser.screenshot((dir / "web-inbox-desktop.png").string());
  EXPECT_TRUE(is_png(dir / "web-inbox-desktop.png"));
  browser.set_viewport(390, 844, true);
  EXPECT_TRUE(browser.wait_for("window.innerWidth === 390", kWait))
      << "no <meta name=viewport content=width=device-width>: innerWidth is "
      << browser.eval("window.innerWidth");
  ASSERT_TRUE(browser.wait_for(frame, kWait));
  EXPECT_EQ(browser.eval("document.documentElement.scrollWidth <= window.innerWidth"), true)
      << "the page scrolls sideways at phone width: scrollWidth "
      << browser.eval("document.documentElement.scrollWidth");
  EXPECT_TRUE(browser.eval(visible(section)).get<bool>())
      << "the open conversation is not shown at phone width";
  EXPECT_TRUE(browser.eval(visible("#reply-text")).get<bool>())
      << "the reply box is not shown at phone width";
  browser.screenshot((dir / "web-inbox-phone.png").string());
  EXPECT_TRUE(is_png(dir / "web-inbox-phone.png"));
  browser.set_viewport(1280, 800, false);
  ASSERT_TRUE(browser.wait_for("window.innerWidth === 1280", kWait));
  ASSERT_TRUE(browser.wait_for(visible("#handover-button"), kWait));

  // Hand over to the other mode.
  auto mode = api_get("/api/conversations/" + conv).value("mode", "");
  ASSERT_TRUE(mode == "human" || mode == "ai") << mode;
  auto other = mode == "human" ? "ai" : "human";
  EXPECT_TRUE(browser.wait_for(
      "document.getElementById('handover-button').dataset.mode === " + js(mode), kWait));
  browser.eval(click("#handover-button"));
  EXPECT_TRUE(api_shows(conv, "mode", other));
  EXPECT_TRUE(browser.wait_for(
      "document.getElementById('handover-button').dataset.mode === " + js(other), kWait))
      << "the handover button does not show the new mode";

  // Close it.
  browser.eval(set_field("#status-select", "closed", "change"));
  EXPECT_TRUE(api_shows(conv, "status", "closed"));
  EXPECT_TRUE(browser.wait_for(visible(section), kWait)) << "closing closed the view";
  EXPECT_EQ(browser.eval("window.inboxdTestMarker"), 17) << "the page was reloaded";

  // Nothing went wrong in the page except the rejected key's 401.
  std::vector<std::string> problems;
  for (auto& p : browser.problems())
    if (p.find("status of 401") == std::string::npos)
      problems.push_back(p);
  EXPECT_TRUE(problems.empty()) << [&] {
    std::string all;
    for (auto& p : problems)
      all += "\n  " + p;
    return all;
  }();
  std::cout
      << "web inbox test: screenshots in " << dir.string() << "; "
      << std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started).count()
      << " ms in the browser\n";
}

} // namespace
} // namespace inboxd::test
