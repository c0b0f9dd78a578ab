// End-to-end: the web inbox served by the real binary at `/`, driven in Debian's headless
// Chromium and Firefox ESR (tests/support/browser.hpp), with a real redis-server and a local
// HTTPS fake of the Cloud API. An agent signs in with an API key, a webhook's message
// appears in the list without a reload, the agent opens it with the keyboard, replies (the fake
// Cloud API receives the send; the message's ticks move live), assigns, hands over and closes.
// Screenshots at desktop and phone width go to <build dir>/artifacts/ (CI artefacts). The page
// relies on the ids and attributes README "Web inbox" lists; any JS exception, console error,
// CSP violation or failed load fails the test.
// A second test scrolls back through a long history (older pages load), checks unread badges and
// mark read, tags, filters and counts, a template when the 24-hour window is closed, and kills
// inboxd (-9) under the open page: the event stream comes back by itself and the list updates
// live again. A third signs in as an agent with a user token, shows each kind of message
// (location, contacts, a reply's quote) and the changes that arrive live (a reaction, an edit, a
// deletion), pages the list (25, then "More"), and takes the conversation ("Assign to me",
// then the "Mine" filter). Each test runs in every browser open_browser (web_page.hpp) drives.

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "http/jwt.hpp"
#include "messages/crypto.hpp"
#include "messages/ids.hpp"
#include "tests/e2e/e2e_test.hpp"
#include "tests/e2e/web_page.hpp"
#include "tests/support/fake_cloud_api.hpp"

namespace inboxd::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr const char* kToken = "meta-web-token";
constexpr const char* kContact = "5511987650001"; // a new contact's wa_id
constexpr const char* kAgent = "agent-ana";
constexpr const char* kJwtSecret = "web-jwt-secret";

// A user token (HS256, valid for an hour) of `user`, as the workspace's auth provider issues.
std::string token_for(const std::string& user) {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto head = base64url_encode(json{{"alg", "HS256"}, {"typ", "JWT"}}.dump()) + "." +
              base64url_encode(json{{"sub", user}, {"exp", now + 3600}}.dump());
  return head + "." + base64url_encode(hmac_sha256_raw(kJwtSecret, head));
}

class web_inbox_test : public e2e_test, public ::testing::WithParamInterface<std::string> {
protected:
  inboxd_process::env_map extra_env() const override {
    return {{"INBOXD_TLS_CA_FILE", fake_.ca_file()},
            {"INBOXD_JWT_SECRET", kJwtSecret},
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

  // A Meta webhook from `contact` (profile name `name`) with one text message per entry of
  // `texts`, oldest first: the last one `newest_age_s` seconds old, each earlier one a second
  // older than the next. Every message has a fresh wamid; the contact's user id is its own.
  static json inbound_texts(const std::string& contact, const std::string& name,
                            const std::vector<std::string>& texts, int64_t newest_age_s) {
    auto body = replace_strings(fixture_case("meta/message.json", "text"), "972987654321", contact);
    auto& value = body["entry"][0]["changes"][0]["value"];
    value["contacts"][0]["profile"]["name"] = name;
    value["contacts"][0]["user_id"] = "US." + contact; // one user per contact, not the fixture's
    auto model = value["messages"][0];
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    value["messages"] = json::array();
    for (size_t i = 0; i < texts.size(); ++i) {
      auto m = model;
      m["id"] = "wamid." + unique_id("web");
      m["text"]["body"] = texts[i];
      m["timestamp"] =
          std::to_string(now - newest_age_s - static_cast<int64_t>(texts.size() - 1 - i));
      value["messages"].push_back(std::move(m));
    }
    return body;
  }

  // The id of the conversation with contact `phone` ("" after kWait).
  std::string conversation_of(const std::string& phone) {
    for (auto until = steady::now() + kWait; steady::now() < until;
         std::this_thread::sleep_for(50ms))
      for (auto& c : all_conversations().value("conversations", json::array()))
        if (c["contact"].value("phone", "") == phone)
          return c.value("id", "");
    ADD_FAILURE() << "no conversation with " << phone << ": " << all_conversations().dump();
    return "";
  }

  // Polls GET /api/conversations/{id} (every 50 ms, up to kWait) until `ok` holds; returns the
  // last answer (the test checks it again).
  json conversation_when(const std::string& conv, const std::function<bool(const json&)>& ok) {
    json last;
    for (auto until = steady::now() + kWait; steady::now() < until;
         std::this_thread::sleep_for(50ms)) {
      last = api_get("/api/conversations/" + conv);
      if (ok(last))
        break;
    }
    return last;
  }

  void put_member(const std::string& user) {
    auto r = client().request("PUT", "/api/admin/workspaces/" + ws_id_ + "/members/" + user,
                              json{{"role", "agent"}}.dump(),
                              {{"Authorization", std::string("Bearer ") + kAdminToken},
                               {"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 200) << r.body;
  }

  // A browser of this test's kind with the inbox signed in (the event stream live) and
  // window.inboxdTestMarker set, which a reload would lose; null after a fatal failure. Signed
  // in with the API key, or with a user token of `user` (and the workspace's id).
  std::unique_ptr<browser> signed_in_page(const std::string& user = "") {
    auto page = open_browser(GetParam());
    if (user.empty())
      sign_in(*page, inboxd_->base_url(), api_key_);
    else
      sign_in(*page, inboxd_->base_url(), token_for(user), ws_id_);
    if (HasFatalFailure())
      return nullptr;
    page->eval("window.inboxdTestMarker = 17; true");
    return page;
  }

  fake_cloud_api fake_;
};

TEST_P(web_inbox_test,
       an_agent_signs_in_sees_a_webhook_live_replies_assigns_hands_over_and_closes) {
  auto started = steady::now();
  auto opened = open_browser(GetParam());
  auto& browser = *opened;
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
  browser.press_key("Enter");
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
  ASSERT_EQ(post_meta(status_body(wamid, "read").dump()).status, 200);
  EXPECT_TRUE(browser.wait_for(
      message_with("outbound", reply) + "?.querySelector('.ticks.read')?.textContent === '✓✓'",
      kWait))
      << "a read receipt did not reach the page";

  // Assign to a member.
  put_member(kAgent);
  // The field offers the workspace's members (GET /api/members, read again when what one types
  // matches none of those it has).
  browser.eval(set_field("#assign-to", "agent"));
  EXPECT_TRUE(browser.wait_for(
      "document.querySelector('#assign-members option[value=" + js(kAgent) + "]') !== null", kWait))
      << "the assignee field does not offer the new member: "
      << browser.eval("document.getElementById('assign-members').outerHTML");
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
  browser.screenshot((dir / ("web-inbox-" + browser.name() + "-desktop.png")).string());
  EXPECT_TRUE(is_png(dir / ("web-inbox-" + browser.name() + "-desktop.png")));
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
  browser.screenshot((dir / ("web-inbox-" + browser.name() + "-phone.png")).string());
  EXPECT_TRUE(is_png(dir / ("web-inbox-" + browser.name() + "-phone.png")));
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

  // Nothing went wrong in the page except the rejected key's 401 (the page checks a key by
  // reading one conversation).
  std::vector<std::string> problems;
  for (auto& p : browser.problems())
    if (p.find("401") == std::string::npos ||
        p.find(base + "/api/conversations?limit=1") == std::string::npos)
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

constexpr const char* kHistoryContact = "5511987650002"; // 60 texts
constexpr const char* kOldContact = "5511987650003";     // one text, 2 days old
constexpr const char* kLateContact = "5511987650004";    // writes after the restart

// The texts of #messages, in the page's order.
constexpr const char* kShownTexts =
    "[...document.querySelectorAll('#messages > li.message .text')].map(e => e.textContent)";

// Counts the page's requests in flight and its pending short timers (the list reads its counts
// 300 ms after a change), so that the test can wait until the page is idle: a request cut by
// the kill -9 below would be a failed load the test cannot tell from a real one.
constexpr const char* kTrackActivity = R"((() => {
  const fetch = window.fetch, setTimeout = window.setTimeout, clearTimeout = window.clearTimeout;
  const timers = new Set();
  let requests = 0;
  window.inboxdIdle = () => requests === 0 && timers.size === 0;
  window.fetch = function (...args) {
    requests++;
    return fetch.apply(window, args).finally(() => { requests--; });
  };
  window.setTimeout = function (fn, ms, ...args) {
    if ((ms ?? 0) > 1000) return setTimeout(fn, ms, ...args);
    const id = setTimeout((...a) => { timers.delete(id); fn(...a); }, ms, ...args);
    timers.add(id);
    return id;
  };
  window.clearTimeout = function (id) {
    timers.delete(id);
    return clearTimeout(id);
  };
  return true;
})())";

std::string live_state_is(const std::string& state) {
  return "document.getElementById('live-state').textContent.trim() === " + js(state);
}

// History (infinite scroll back, 50 a page), unread badges and mark read, tags, the list's
// filters and counts, a template when the window is closed, and a kill -9 of inboxd with the
// page open: the event stream comes back by itself and the list updates live again.
TEST_P(web_inbox_test, history_filters_templates_tags_read_and_a_restart) {
  auto started = steady::now();
  // One conversation with 60 texts "m 0".."m 59" (the newest 2 minutes old), one whose only
  // message is 2 days old (its reply window is closed).
  std::vector<std::string> texts;
  for (int i = 0; i < 60; ++i)
    texts.push_back("m " + std::to_string(i));
  ASSERT_EQ(post_meta(inbound_texts(kHistoryContact, "Bia Lima", texts, 120).dump()).status, 200);
  ASSERT_EQ(
      post_meta(inbound_texts(kOldContact, "Caio Reis", {"old news"}, 2 * 24 * 3600).dump()).status,
      200);
  auto history = conversation_of(kHistoryContact);
  auto old = conversation_of(kOldContact);
  ASSERT_FALSE(history.empty());
  ASSERT_FALSE(old.empty());
  auto unread = conversation_when(history, [](const json& c) {
                  return c.value("unreadCount", 0) == 60;
                }).value("unreadCount", -1);
  ASSERT_EQ(unread, 60);
  ASSERT_FALSE(api_get("/api/conversations/" + old).value("canReply", true));

  auto opened = signed_in_page();
  if (!opened)
    return;
  auto& browser = *opened;
  ASSERT_EQ(browser.eval(kTrackActivity), true);

  // The unread badge shows before the conversation is opened.
  auto item = "li.conversation[data-id=" + js(history) + "]";
  auto badge = item + " .unread";
  ASSERT_TRUE(browser.wait_for(visible(item), kWait)) << "the conversation is not in the list";
  EXPECT_TRUE(browser.wait_for(
      visible(badge) + " && document.querySelector(" + js(badge) + ").textContent.trim() === '60'",
      kWait))
      << "no unread badge of 60: "
      << browser.eval("document.querySelector(" + js(item) + ").outerHTML");

  // Open it: the newest page (50) shows, scrolled to its end; opening marks it read and the
  // badge goes.
  browser.eval(click(item));
  auto section = "section#conversation[data-id=" + js(history) + "]";
  ASSERT_TRUE(browser.wait_for(visible(section), kWait)) << "a click did not open it";
  auto last_in_view =
      "(() => { const ul = document.getElementById('messages'); "
      "const li = ul.lastElementChild; const r = li.getBoundingClientRect(), "
      "u = ul.getBoundingClientRect(); return li.querySelector('.text')"
      ".textContent === 'm 59' && r.bottom <= u.bottom + 2 && r.top >= u.top - 2; "
      "})()";
  ASSERT_TRUE(browser.wait_for(last_in_view, kWait))
      << "the newest message is not shown at the end of #messages: " << browser.eval(kShownTexts);
  EXPECT_EQ(browser.eval(kShownTexts),
            json(std::vector<std::string>(texts.begin() + 10, texts.end())))
      << "the first page is not the newest 50, oldest first";
  EXPECT_TRUE(api_shows(history, "unreadCount", 0)) << "opening did not mark it read";
  EXPECT_TRUE(browser.wait_for("!" + visible(badge), kWait))
      << "the unread badge stayed: "
      << browser.eval("document.querySelector(" + js(item) + ").outerHTML");

  // Scroll back to the top until the oldest message shows: older pages load.
  EXPECT_TRUE(browser.wait_for(
      "(() => { const ul = document.getElementById('messages'); if (" + std::string(kShownTexts) +
          ".includes('m 0')) return true; ul.scrollTop = 0; ul.dispatchEvent(new "
          "Event('scroll')); return false; })()",
      kWait))
      << "scrolling up never brought \"m 0\": " << browser.eval(kShownTexts);
  EXPECT_EQ(browser.eval(kShownTexts), json(texts)) << "not every message once, oldest first";
  EXPECT_TRUE(browser.wait_for("!" + visible("#messages-loading"), kWait));

  // Tags: saved through the API, shown in the list.
  browser.eval(set_field("#tags-input", "vip, billing"));
  browser.eval(click("#tags-save"));
  auto tagged = conversation_when(history, [](const json& c) {
    auto t = c.value("tags", json::array());
    return t.size() == 2 && std::count(t.begin(), t.end(), "vip") == 1 &&
           std::count(t.begin(), t.end(), "billing") == 1;
  });
  auto tags = tagged.value("tags", json::array());
  ASSERT_EQ(tags.size(), 2u) << "the API never showed the tags vip, billing: " << tagged.dump();
  auto list_tags =
      "[...document.querySelectorAll(" + js(item + " .flag.tag") + ")].map(e => e.textContent)";
  EXPECT_TRUE(browser.wait_for("JSON.stringify(" + list_tags + ") === " + js(tags.dump()), kWait))
      << "the list shows tags " << browser.eval(list_tags) << ", the API " << tags;

  // Filters: by tag, by search, by the reply window; the counts line follows the list.
  auto listed =
      "JSON.stringify([...document.querySelectorAll('#conversation-list > "
      "li.conversation')].map(e => e.dataset.id).sort())";
  auto only = [&](std::vector<std::string> ids) {
    std::sort(ids.begin(), ids.end());
    return std::string(listed) + " === " + js(json(ids).dump()) +
           " && document.getElementById('counts').textContent.includes('showing " +
           std::to_string(ids.size()) + " of " + std::to_string(ids.size()) + "')";
  };
  ASSERT_TRUE(browser.wait_for(only({history, old}), kWait)) << browser.eval(listed);
  browser.eval(set_field("#filter-tags", "vip", "change"));
  EXPECT_TRUE(browser.wait_for(only({history}), kWait))
      << "tag filter vip: " << browser.eval(listed) << " "
      << browser.eval("document.getElementById('counts').textContent");
  browser.eval(set_field("#filter-tags", "", "change"));
  browser.eval(set_field("#filter-search", "Caio", "change"));
  EXPECT_TRUE(browser.wait_for(only({old}), kWait)) << "search Caio: " << browser.eval(listed);
  browser.eval(set_field("#filter-search", "", "change"));
  browser.eval(
      "(() => { const e = document.getElementById('filter-active'); e.checked = true; "
      "e.dispatchEvent(new Event('change', {bubbles: true})); return true; })()");
  EXPECT_TRUE(browser.wait_for(only({history}), kWait))
      << "reply window open: " << browser.eval(listed);
  browser.eval(
      "(() => { const e = document.getElementById('filter-active'); e.checked = false; "
      "e.dispatchEvent(new Event('change', {bubbles: true})); return true; })()");
  ASSERT_TRUE(browser.wait_for(only({history, old}), kWait)) << browser.eval(listed);

  // The conversation whose reply window is closed: no reply box, a template goes out instead.
  auto old_item = "li.conversation[data-id=" + js(old) + "]";
  ASSERT_TRUE(browser.wait_for(visible(old_item), kWait));
  // With the keyboard: from the first conversation (newest activity) down to it, Enter opens it.
  ASSERT_EQ(browser.eval("(() => { const li = document.querySelector('#conversation-list > "
                         "li.conversation'); li.focus(); return li.dataset.id; })()"),
            history);
  browser.press_key("ArrowDown");
  EXPECT_EQ(browser.eval("document.activeElement.closest('li.conversation')?.dataset.id"), old)
      << "ArrowDown did not move to the next conversation";
  browser.press_key("ArrowUp");
  EXPECT_EQ(browser.eval("document.activeElement.closest('li.conversation')?.dataset.id"), history)
      << "ArrowUp did not move back";
  browser.press_key("ArrowDown");
  browser.press_key("Enter");
  auto old_section = "section#conversation[data-id=" + js(old) + "]";
  ASSERT_TRUE(browser.wait_for(visible(old_section), kWait)) << "Enter did not open it";
  ASSERT_TRUE(browser.wait_for("JSON.stringify(" + std::string(kShownTexts) +
                                   ") === " + js(json::array({"old news"}).dump()),
                               kWait))
      << browser.eval(kShownTexts);
  EXPECT_TRUE(browser.wait_for(
      "document.getElementById('window-state').textContent.trim() === 'closed'", kWait))
      << "the window of a message 2 days old is not closed";
  EXPECT_FALSE(browser.eval(visible("#reply-text")).get<bool>())
      << "the reply box shows with the window closed";
  ASSERT_TRUE(browser.eval(visible("#template-form")).get<bool>())
      << "no template form with the window closed";
  browser.eval(set_field("#template-name", "hello_world"));
  browser.eval(set_field("#template-language", "en_US"));
  browser.eval(click("#template-send"));
  json wire;
  for (auto until = steady::now() + kWait; wire.is_null() && steady::now() < until;
       std::this_thread::sleep_for(50ms))
    for (auto& r : fake_.requests()) {
      auto body = json::parse(r.body, nullptr, false);
      if (r.method == "POST" && body.is_object() && body.value("type", "") == "template") {
        EXPECT_EQ(r.target, std::string("/v24.0/") + kPhoneNumberId + "/messages");
        EXPECT_EQ(r.header("authorization"), std::string("Bearer ") + kToken);
        wire = body;
      }
    }
  ASSERT_TRUE(wire.is_object()) << "the fake Cloud API received no template send";
  EXPECT_EQ(wire.value("to", ""), kOldContact) << wire.dump();
  EXPECT_EQ(wire.value(json::json_pointer("/template/name"), ""), "hello_world") << wire.dump();
  EXPECT_EQ(wire.value(json::json_pointer("/template/language/code"), ""), "en_US") << wire.dump();
  EXPECT_TRUE(browser.wait_for(
      "[...document.querySelectorAll('#messages li.message[data-direction=\"outbound\"] .text')]"
      ".some(e => e.textContent === 'Template hello_world (en_US)')",
      kWait))
      << "the template is not in #messages: " << browser.eval(kShownTexts);
  EXPECT_TRUE(browser.wait_for(
      "[...document.querySelectorAll('#messages li.message[data-direction=\"outbound\"]')]"
      ".some(e => e.dataset.status === 'sent')",
      kWait))
      << "the template's status never became sent on the page";
  ASSERT_TRUE(browser.wait_for("window.inboxdIdle()", kWait)) << "the page never became idle";

  // kill -9 inboxd with the page open: the page says so and keeps trying by itself.
  auto base = inboxd_->base_url();
  auto window_from = browser.messages().size();
  inboxd_->kill(SIGKILL);
  ASSERT_NE(inboxd_->wait(kWait), -1);
  EXPECT_TRUE(browser.wait_for(live_state_is("reconnecting"), kWait))
      << "the page did not notice the dropped stream";
  // Some of its attempts meet the dead port (connection refused) before it starts again.
  std::this_thread::sleep_for(1500ms);
  EXPECT_TRUE(browser.eval(live_state_is("reconnecting")).get<bool>());

  // Start it again on the same port. inboxd listens before it has read its workspaces and
  // answers 503 (Retry-After: 1) until then, as a load balancer's /readyz check expects; the
  // page's stream attempts meeting that are failed loads in the browser's log, as the refused
  // ones are. The page opens the stream again on its own timer.
  ASSERT_NO_THROW(inboxd_->start());
  ASSERT_EQ(inboxd_->base_url(), base) << "not the same port";
  wait_ready();
  EXPECT_TRUE(browser.wait_for(live_state_is("live"), kWait))
      << "the event stream did not come back by itself";

  // A new contact writes: its conversation appears in the list without a reload.
  ASSERT_EQ(post_meta(inbound_texts(kLateContact, "Davi Melo", {"still there?"}, 1).dump()).status,
            200);
  auto late = conversation_of(kLateContact);
  ASSERT_FALSE(late.empty());
  auto late_item = "li.conversation[data-id=" + js(late) + "]";
  EXPECT_TRUE(browser.wait_for(visible(late_item), kWait))
      << "the new conversation never appeared live after the restart";
  EXPECT_EQ(browser.eval("window.inboxdTestMarker"), 17) << "the page was reloaded";
  auto window_to = browser.messages().size();

  // Nothing went wrong in the page, except its API requests that met inboxd down (refused) or
  // starting (503) between the kill and the live update above: the stream's attempts, and the
  // counts the list reads again when the browser gives a stream up (it ignores a failed read;
  // the next change reads them again).
  auto events_failure = [&](const std::string& m) {
    return m.find(base + "/api/") != std::string::npos;
  };
  std::vector<std::string> problems;
  size_t excused = 0;
  auto& all = browser.messages();
  auto broken = browser.problems();
  for (size_t i = 0; i < all.size(); ++i) {
    if (std::find(broken.begin(), broken.end(), all[i]) == broken.end())
      continue;
    if (i >= window_from && i < window_to && events_failure(all[i]))
      ++excused;
    else
      problems.push_back(all[i]);
  }
  EXPECT_TRUE(problems.empty()) << joined(problems);
  std::cout
      << "web inbox history/restart test (" << browser.name() << "): " << excused
      << " failed API requests while inboxd restarted; "
      << std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started).count()
      << " ms\n";
}

// Every kind of message the page describes, with the changes that arrive live (a reaction, an
// edit, a deletion), and the list's paging: 25 at first, "More" brings the rest.
TEST_P(web_inbox_test, message_kinds_live_changes_and_list_paging) {
  auto started = steady::now();
  // 26 other contacts, older than kContact's messages: the list has 27 conversations.
  for (int i = 0; i < 26; ++i) {
    auto phone = "55119800" + std::to_string(10000 + i);
    ASSERT_EQ(post_meta(inbound_texts(phone, "Pessoa " + std::to_string(i), {"oi"}, 600 + i).dump())
                  .status,
              200);
  }
  // kContact's messages, `age_s` seconds old, each built from `message` (its type's fields).
  auto post = [&](json message, int64_t age_s) {
    auto body = inbound_texts(kContact, "Eva Lins", {"x"}, age_s);
    auto& m = body["entry"][0]["changes"][0]["value"]["messages"][0];
    message["from"] = kContact;
    message["id"] = m["id"];
    message["timestamp"] = m["timestamp"];
    m = message;
    EXPECT_EQ(post_meta(body.dump()).status, 200) << message.dump();
    return message["id"].get<std::string>();
  };
  auto text = [](const std::string& t) { return json{{"type", "text"}, {"text", {{"body", t}}}}; };
  auto first = post(text("first"), 50);
  auto doomed = post(text("to be deleted"), 40);
  auto located = fixture_case("meta/message.json",
                              "chosen_location")["entry"][0]["changes"][0]["value"]["messages"][0];
  located.erase("context");
  post(located, 30);
  post(fixture_case("meta/message.json",
                    "contacts")["entry"][0]["changes"][0]["value"]["messages"][0],
       20);
  auto reply = text("replying");
  reply["context"] = {{"from", kContact}, {"id", first}};
  post(reply, 10);
  auto conv = conversation_of(kContact);
  ASSERT_FALSE(conv.empty());

  // Signed in as an agent, with a user token and the workspace.
  put_member("agent-eva");
  auto opened = signed_in_page("agent-eva");
  if (!opened)
    return;
  auto& browser = *opened;

  // Paging: the newest 25 first, then the rest.
  auto shown = "document.querySelectorAll('#conversation-list > li.conversation').length";
  auto counts = "document.getElementById('counts').textContent";
  EXPECT_TRUE(browser.wait_for(std::string(shown) + " === 25 && " + counts +
                                   ".includes('showing 25 of 27') && " + visible("#list-more"),
                               kWait))
      << browser.eval(shown) << " shown; " << browser.eval(counts);
  browser.eval(click("#list-more"));
  EXPECT_TRUE(browser.wait_for(std::string(shown) + " === 27 && " + counts +
                                   ".includes('showing 27 of 27') && !" + visible("#list-more"),
                               kWait))
      << browser.eval(shown) << " shown; " << browser.eval(counts);

  // The kinds, as the page describes them.
  auto item = "li.conversation[data-id=" + js(conv) + "]";
  ASSERT_EQ(browser.eval("document.querySelector('#conversation-list > li.conversation')"
                         ".dataset.id"),
            conv)
      << "the newest activity is not first";
  browser.eval(click(item));
  ASSERT_TRUE(browser.wait_for(visible("section#conversation[data-id=" + js(conv) + "]"), kWait));
  auto texts =
      "JSON.stringify([...document.querySelectorAll('#messages > li.message')]"
      ".map(li => li.querySelector('.text').textContent))";
  auto expected = json::array({"first", "to be deleted",
                               "📍 Facebook HQ, 1 Hacker Way, Menlo Park, CA 94025 "
                               "(37.46120, -122.21644)",
                               "👤 Chandler Bing (+1 555-555-5555); Monica (+1 666-666-6666); "
                               "Rachel Green (+1 777-777-7777)",
                               "replying"});
  EXPECT_TRUE(browser.wait_for(std::string(texts) + " === " + js(expected.dump()), kWait))
      << browser.eval(texts);
  auto li = [&](const std::string& wamid) {
    return "document.querySelector(" +
           js("#messages > li.message[data-id=" + js(message_id_for_wamid(wamid)) + "]") + ")";
  };
  EXPECT_EQ(browser.eval("[...document.querySelectorAll('#messages .reply-quote')]"
                         ".map(q => q.textContent)"),
            json::array({"first"}))
      << "the reply does not quote the message it answers";

  // Live: a reaction, an edit and a deletion change the messages they name.
  post({{"type", "reaction"}, {"reaction", {{"message_id", first}, {"emoji", "👍"}}}}, 3);
  post({{"type", "edit"},
        {"edit", {{"original_message_id", first}, {"message", text("first, edited")}}}},
       2);
  post({{"type", "revoke"}, {"revoke", {{"original_message_id", doomed}}}}, 1);
  EXPECT_TRUE(
      browser.wait_for(li(first) + ".querySelector('.reaction')?.textContent === '👍'", kWait))
      << "no reaction on the message";
  EXPECT_TRUE(browser.wait_for(li(first) +
                                   ".querySelector('.text').textContent === "
                                   "'first, edited' && " +
                                   li(first) + ".querySelector('.edited') !== null",
                               kWait))
      << "the edit did not show: " << browser.eval(li(first) + ".outerHTML");
  EXPECT_TRUE(browser.wait_for(li(doomed) + ".classList.contains('deleted') && " + li(doomed) +
                                   ".querySelector('.text').textContent === "
                                   "'This message was deleted'",
                               kWait))
      << "the deletion did not show: " << browser.eval(li(doomed) + ".outerHTML");
  // The agent takes it ("Assign to me"); the "Mine" filter then lists it alone.
  EXPECT_TRUE(browser.eval("document.getElementById('whoami').textContent.includes('agent-eva')")
                  .get<bool>())
      << browser.eval("document.getElementById('whoami').textContent");
  ASSERT_TRUE(browser.wait_for(visible("#assign-me"), kWait)) << "no Assign to me for a user";
  browser.eval(click("#assign-me"));
  EXPECT_TRUE(api_shows(conv, "assignedTo", "agent-eva"));
  browser.eval(set_field("#filter-assignee", "mine", "change"));
  auto listed =
      "JSON.stringify([...document.querySelectorAll('#conversation-list > "
      "li.conversation')].map(e => e.dataset.id))";
  EXPECT_TRUE(browser.wait_for(std::string(listed) + " === " + js(json::array({conv}).dump()) +
                                   " && " + counts + ".includes('Mine 1')",
                               kWait))
      << "Mine: " << browser.eval(listed) << "; " << browser.eval(counts);
  EXPECT_EQ(browser.eval("window.inboxdTestMarker"), 17) << "the page was reloaded";
  EXPECT_TRUE(browser.problems().empty()) << joined(browser.problems());
  std::cout
      << "web inbox kinds/paging test (" << browser.name() << "): "
      << std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started).count()
      << " ms\n";
}

INSTANTIATE_TEST_SUITE_P(browsers, web_inbox_test, ::testing::Values("chromium", "firefox"),
                         [](const auto& info) { return info.param; });

} // namespace
} // namespace inboxd::test
