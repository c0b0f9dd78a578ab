#include "tests/support/firefox.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "tests/support/browser_process.hpp"

namespace inboxd::test {

using json = nlohmann::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

constexpr size_t kMaxMessage = 64 * 1024 * 1024; // a screenshot's base64 fits easily
constexpr size_t kMaxMessages = 1000;
constexpr size_t kMaxHandshake = 16 * 1024;
constexpr const char* kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr const char* kListening = "WebDriver BiDi listening on ws://127.0.0.1:";
constexpr const char* kCspPrefix = "Content-Security-Policy:"; // Firefox's CSP reports

// RFC 6455 opcodes.
constexpr int kOpContinuation = 0x0, kOpText = 0x1, kOpBinary = 0x2, kOpClose = 0x8, kOpPing = 0x9,
              kOpPong = 0xA;

// Preferences of the fresh profile: no update checks, telemetry, remote settings, safe browsing,
// captive portal or connectivity probes (the test machine has no network; a probe that hangs
// would only slow the start), no first-run pages. Firefox's remote agent applies its
// recommended automation preferences on top (remote.prefs.recommended), but only once it runs:
// these hold from the first moment.
constexpr const char* kUserJs = R"(user_pref("app.normandy.api_url", "");
user_pref("app.normandy.enabled", false);
user_pref("app.update.auto", false);
user_pref("app.update.checkInstallTime", false);
user_pref("app.update.disabledForTesting", true);
user_pref("app.update.enabled", false);
user_pref("browser.aboutwelcome.enabled", false);
user_pref("browser.chrome.site_icons", false);
user_pref("browser.discovery.enabled", false);
user_pref("browser.newtabpage.enabled", false);
user_pref("browser.newtab.preload", false);
user_pref("browser.newtabpage.activity-stream.feeds.system.topstories", false);
user_pref("browser.newtabpage.activity-stream.feeds.telemetry", false);
user_pref("browser.ping-centre.telemetry", false);
user_pref("browser.region.network.url", "");
user_pref("browser.region.update.enabled", false);
user_pref("browser.safebrowsing.blockedURIs.enabled", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("browser.safebrowsing.downloads.remote.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.provider.google4.updateURL", "");
user_pref("browser.safebrowsing.provider.mozilla.updateURL", "");
user_pref("browser.search.update", false);
user_pref("browser.sessionstore.resume_from_crash", false);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage", "about:blank");
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("browser.startup.page", 0);
user_pref("browser.tabs.warnOnClose", false);
user_pref("browser.topsites.contile.enabled", false);
user_pref("browser.translations.enable", false);
user_pref("browser.urlbar.suggest.searches", false);
user_pref("captivedetect.canonicalURL", "");
user_pref("datareporting.healthreport.service.enabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.policy.dataSubmissionPolicyBypassNotification", true);
user_pref("datareporting.usage.uploadEnabled", false);
user_pref("dom.push.connection.enabled", false);
user_pref("extensions.getAddons.cache.enabled", false);
user_pref("extensions.systemAddon.update.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("geo.provider.network.url", "");
user_pref("identity.fxaccounts.enabled", false);
user_pref("messaging-system.rsexperimentloader.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.http.speculative-parallel-limit", 0);
user_pref("network.prefetch-next", false);
user_pref("remote.prefs.recommended", true);
user_pref("security.remote_settings.intermediates.enabled", false);
user_pref("services.settings.server", "data:,#remote-settings-dummy/v1");
user_pref("toolkit.telemetry.archive.enabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("toolkit.telemetry.server", "");
user_pref("toolkit.telemetry.unified", false);
user_pref("toolkit.telemetry.updatePing.enabled", false);
// Scrollbars that take no layout space, like Chromium with --hide-scrollbars.
user_pref("ui.useOverlayScrollbars", 1);
)";

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    throw std::runtime_error("firefox: RAND_bytes failed");
  return out;
}

std::string base64_encode(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// Sec-WebSocket-Accept for `key`: base64(SHA-1(key + GUID)).
std::string websocket_accept(const std::string& key) {
  std::string input = key + kWebSocketGuid;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha1(), nullptr) != 1)
    throw std::runtime_error("firefox: SHA-1 failed");
  return base64_encode(std::string(reinterpret_cast<char*>(digest), len));
}

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t");
  auto e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// What the value is: a BiDi RemoteValue converted like JSON.stringify would. `omit` tells an
// object's member to leave the key out (undefined, functions, symbols); elsewhere they are null.
json remote_to_json(const json& v, bool& omit, int depth = 0) {
  omit = false;
  if (depth > 1000)
    throw std::runtime_error("firefox: a result nested too deep");
  if (!v.is_object())
    throw std::runtime_error("firefox: not a RemoteValue: " + v.dump().substr(0, 200));
  auto type = v.value("type", "");
  const json* value = v.contains("value") ? &v["value"] : nullptr;
  if (type == "undefined" || type == "function" || type == "symbol") {
    omit = true;
    return nullptr;
  }
  if (type == "null")
    return nullptr;
  if (type == "string" || type == "boolean") {
    if (!value)
      throw std::runtime_error("firefox: a " + type + " without a value");
    return *value;
  }
  if (type == "number") {
    if (!value)
      throw std::runtime_error("firefox: a number without a value");
    if (value->is_string()) // "NaN", "-0", "Infinity", "-Infinity"
      return *value == "-0" ? json(0) : json(nullptr);
    return *value;
  }
  if (type == "bigint" || type == "date") // a decimal string, an ISO date string
    return value ? *value : json(nullptr);
  if (type == "array" || type == "set" || type == "nodelist" || type == "htmlcollection") {
    if (!value || !value->is_array())
      throw std::runtime_error("firefox: a " + type +
                               " without its items (a cycle, or too deep to serialize)");
    json out = json::array();
    bool skip = false;
    for (auto& item : *value)
      out.push_back(remote_to_json(item, skip, depth + 1));
    return out;
  }
  if (type == "object" || type == "map") {
    if (!value || !value->is_array())
      throw std::runtime_error("firefox: an " + type +
                               " without its members (a cycle, or too deep to serialize)");
    json out = json::object();
    for (auto& pair : *value) {
      if (!pair.is_array() || pair.size() != 2)
        throw std::runtime_error("firefox: an object member is not a [key, value] pair");
      std::string key;
      if (pair[0].is_string())
        key = pair[0].get<std::string>();
      else {
        bool key_omit = false;
        auto k = remote_to_json(pair[0], key_omit, depth + 1);
        key = k.is_string() ? k.get<std::string>() : k.dump();
      }
      bool skip = false;
      auto member = remote_to_json(pair[1], skip, depth + 1);
      if (!skip)
        out[key] = std::move(member);
    }
    return out;
  }
  // regexp, error, promise, node, window, weak collections, typed arrays...: what
  // JSON.stringify gives for most of them.
  return json::object();
}

// The text of a RemoteValue for a log line.
std::string remote_text(const json& v) {
  if (v.contains("value") && v["value"].is_string())
    return v["value"].get<std::string>();
  if (v.contains("value") && v["value"].is_primitive())
    return v["value"].dump();
  return v.value("type", "?");
}

// "url:line" of a BiDi stack trace's top frame, or "".
std::string top_frame(const json& params) {
  if (!params.contains("stackTrace") || !params["stackTrace"].is_object())
    return "";
  auto frames = params["stackTrace"].value("callFrames", json::array());
  if (!frames.is_array() || frames.empty() || !frames[0].is_object())
    return "";
  auto& f = frames[0];
  auto line = f.contains("lineNumber") && f["lineNumber"].is_number_integer()
                  ? f["lineNumber"].get<long>() + 1 // zero-based in BiDi
                  : 0;
  return f.value("url", "") + ":" + std::to_string(line);
}

// The keys press_key knows: their WebDriver key codes (a code point of the Private Use Area).
struct named_key {
  const char* name;
  const char* code; // UTF-8
};
constexpr named_key kKeys[] = {
    {"Enter", "\xee\x80\x87"},      {"Escape", "\xee\x80\x8c"},    {"Tab", "\xee\x80\x84"},
    {"Backspace", "\xee\x80\x83"},  {"ArrowLeft", "\xee\x80\x92"}, {"ArrowUp", "\xee\x80\x93"},
    {"ArrowRight", "\xee\x80\x94"}, {"ArrowDown", "\xee\x80\x95"},
};

// Whether `s` is exactly one UTF-8 encoded code point.
bool one_code_point(const std::string& s) {
  if (s.empty())
    return false;
  auto c = static_cast<unsigned char>(s[0]);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  return len != 0 && s.size() == len;
}

// The pids of Firefox's crash helpers for the Firefox of pid `parent`: processes
// "<firefox dir>/crashhelper <parent> ...". Firefox starts one at launch, always
// (MOZ_CRASHREPORTER_DISABLE notwithstanding), in a session and process group of its own: killing
// Firefox's group leaves it to notice its parent's death by itself (about 1.5 s).
std::vector<pid_t> crash_helpers_of(pid_t parent) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    auto name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos)
      continue;
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::string program, first;
    if (std::getline(in, program, '\0') && std::getline(in, first, '\0') &&
        program.ends_with("/crashhelper") && first == std::to_string(parent))
      out.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return out;
}

} // namespace

firefox::firefox(std::chrono::milliseconds startup_timeout) {
  auto deadline = steady::now() + startup_timeout;
  char tmpl[] = "/tmp/inboxd-firefox-XXXXXX";
  if (!::mkdtemp(tmpl))
    throw std::runtime_error(std::string("firefox: mkdtemp: ") + std::strerror(errno));
  dir_ = tmpl;
  try {
    write_profile();
    launch();
    connect(wait_for_port(deadline), deadline);
    start_session(deadline);
  } catch (...) {
    shut_down();
    throw;
  }
}

firefox::~firefox() {
  shut_down();
}

void firefox::write_profile() {
  std::filesystem::create_directories(dir_ + "/profile");
  std::ofstream out(dir_ + "/profile/user.js", std::ios::trunc);
  out << kUserJs;
  if (!out)
    throw std::runtime_error("firefox: cannot write " + dir_ + "/profile/user.js");
}

void firefox::launch() {
  browser_launch launch;
  launch.args = {kBinary,
                 "--headless",
                 "--no-remote",
                 "--profile",
                 dir_ + "/profile",
                 "--remote-debugging-port=0", // Firefox picks a free one
                 "--remote-allow-hosts=127.0.0.1",
                 "about:blank"};
  launch.log_path = dir_ + "/firefox.log";
  launch.drop_env = {"MOZ_"};
  launch.add_env = {"MOZ_CRASHREPORTER_DISABLE=1", "MOZ_HEADLESS=1"};
  try {
    pid_ = spawn_browser(launch);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("firefox: ") + e.what());
  }
}

int firefox::wait_for_port(steady::time_point deadline) {
  for (;;) {
    std::ifstream in(dir_ + "/firefox.log");
    std::string line;
    while (std::getline(in, line) && !in.eof()) { // whole lines only
      auto at = line.find(kListening);
      if (at == std::string::npos)
        continue;
      auto digits = line.substr(at + std::strlen(kListening));
      int port = std::atoi(digits.c_str());
      if (port > 0 && port < 65536)
        return port;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      // Reaped: kill what may remain of its group here, shut_down can no longer wait for it.
      ::kill(-pid_, SIGKILL);
      for (int i = 0; i < 500 && process_group_runs(pid_); ++i)
        std::this_thread::sleep_for(10ms);
      pid_ = -1;
      fail("Firefox exited before it listened (status " + std::to_string(status) + ")");
    }
    if (steady::now() >= deadline)
      fail("Firefox did not print \"" + std::string(kListening) + "<port>\" in time");
    std::this_thread::sleep_for(20ms);
  }
}

void firefox::connect(int port, steady::time_point deadline) {
  socket_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (socket_ < 0)
    fail(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(socket_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(socket_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno != EINPROGRESS)
      fail("connecting to port " + std::to_string(port) + ": " + std::strerror(errno));
    for (;;) {
      pollfd p{socket_, POLLOUT, 0};
      int r = ::poll(&p, 1, poll_ms(deadline));
      if (r < 0 && errno == EINTR)
        continue;
      if (r > 0)
        break;
      if (r < 0 || steady::now() >= deadline)
        fail("connecting to port " + std::to_string(port) + ": timed out");
    }
    int error = 0;
    socklen_t len = sizeof(error);
    ::getsockopt(socket_, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0)
      fail("connecting to port " + std::to_string(port) + ": " + std::strerror(error));
  }

  // The opening handshake (RFC 6455 section 4): an HTTP/1.1 Upgrade. Firefox refuses a request
  // with an Origin header and checks Host against --remote-allow-hosts.
  auto key = base64_encode(random_bytes(16));
  std::string request =
      "GET /session HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
      "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  send_all(request, "the WebSocket handshake", deadline);
  std::string response;
  size_t end = std::string::npos;
  while ((end = response.find("\r\n\r\n")) == std::string::npos) {
    if (response.size() > kMaxHandshake)
      fail("a WebSocket handshake answer over " + std::to_string(kMaxHandshake) + " bytes");
    pollfd p{socket_, POLLIN, 0};
    int r = ::poll(&p, 1, poll_ms(deadline));
    if (r < 0 && errno != EINTR)
      fail(std::string("poll: ") + std::strerror(errno));
    if (r <= 0) {
      if (steady::now() >= deadline)
        fail("no answer to the WebSocket handshake in time");
      continue;
    }
    char chunk[4096];
    auto n = ::recv(socket_, chunk, sizeof(chunk), 0);
    if (n == 0)
      fail("Firefox closed the connection during the WebSocket handshake: " + response);
    if (n < 0 && errno != EINTR && errno != EAGAIN)
      fail(std::string("reading the WebSocket handshake: ") + std::strerror(errno));
    if (n > 0)
      response.append(chunk, static_cast<size_t>(n));
  }
  buffer_ = response.substr(end + 4); // frames that came with the answer
  std::istringstream head(response.substr(0, end));
  std::string status_line, line;
  std::getline(head, status_line);
  if (!status_line.starts_with("HTTP/1.1 101"))
    fail("the WebSocket handshake was refused: " + response.substr(0, end));
  std::string accept, upgrade;
  while (std::getline(head, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos)
      continue;
    auto name = lower(trim(line.substr(0, colon)));
    auto value = trim(line.substr(colon + 1));
    if (name == "sec-websocket-accept")
      accept = value;
    else if (name == "upgrade")
      upgrade = lower(value);
  }
  if (upgrade != "websocket" || accept != websocket_accept(key))
    fail("a WebSocket handshake answer with the wrong Upgrade or Sec-WebSocket-Accept: " +
         response.substr(0, end));
}

void firefox::start_session(steady::time_point deadline) {
  auto left = [&] {
    return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()),
                    1ms);
  };
  call("session.new", {{"capabilities", json::object()}}, left());
  call("session.subscribe",
       {{"events", {"log.entryAdded", "network.responseCompleted", "network.fetchError"}}}, left());
  auto tree = call("browsingContext.getTree", {{"maxDepth", 0}}, left());
  auto contexts = tree.value("contexts", json::array());
  if (!contexts.is_array() || contexts.empty() || !contexts[0].is_object() ||
      !contexts[0].contains("context") || !contexts[0]["context"].is_string())
    fail("browsingContext.getTree gave no tab: " + tree.dump());
  context_ = contexts[0]["context"].get<std::string>();
}

json firefox::call(const std::string& method, const json& params,
                   std::chrono::milliseconds timeout) {
  if (pid_ <= 0 || socket_ < 0 || closing_)
    throw std::runtime_error("firefox: not running (" + method + ")");
  auto deadline = steady::now() + timeout;
  long id = next_id_++;
  // (`{}` as an argument is JSON null: BiDi wants an object.)
  send_frame(
      kOpText,
      json{{"id", id}, {"method", method}, {"params", params.is_null() ? json::object() : params}}
          .dump(),
      deadline);
  json in;
  while (read_message(in, deadline)) {
    if (in.value("type", "") == "event") {
      try {
        on_event(in);
      } catch (const nlohmann::json::exception& e) { // a field of an unexpected type
        add_message("driver: an event it could not read (" + std::string(e.what()) +
                    "): " + in.dump().substr(0, 500));
      }
      continue;
    }
    if (!in.contains("id") || !in["id"].is_number_integer()) {
      if (in.value("type", "") == "error") // an answer to a message it could not parse
        fail(method + ": " + in.dump().substr(0, 2000));
      continue;
    }
    if (in["id"].get<long>() != id)
      continue; // an answer to an earlier call that timed out
    if (in.value("type", "") == "error")
      throw std::runtime_error("firefox: " + method + " failed: " + in.value("error", "?") + ": " +
                               in.value("message", ""));
    return in.value("result", json::object());
  }
  fail(method + ": no answer within " + std::to_string(timeout.count()) + " ms");
}

void firefox::send_frame(int opcode, const std::string& payload, steady::time_point deadline) {
  std::string frame;
  frame.push_back(static_cast<char>(0x80 | opcode)); // FIN: never fragmented
  if (payload.size() < 126)
    frame.push_back(static_cast<char>(0x80 | payload.size())); // masked, as a client must
  else if (payload.size() <= 0xFFFF) {
    frame.push_back(static_cast<char>(0x80 | 126));
    frame.push_back(static_cast<char>(payload.size() >> 8));
    frame.push_back(static_cast<char>(payload.size() & 0xFF));
  } else {
    frame.push_back(static_cast<char>(0x80 | 127));
    for (int shift = 56; shift >= 0; shift -= 8)
      frame.push_back(static_cast<char>((static_cast<uint64_t>(payload.size()) >> shift) & 0xFF));
  }
  auto mask = random_bytes(4);
  frame += mask;
  auto at = frame.size();
  frame += payload;
  for (size_t i = 0; i < payload.size(); ++i)
    frame[at + i] = static_cast<char>(frame[at + i] ^ mask[i % 4]);
  send_all(frame, "a WebSocket frame", deadline);
}

void firefox::send_all(const std::string& bytes, const std::string& what,
                       steady::time_point deadline) {
  size_t done = 0;
  while (done < bytes.size()) {
    pollfd p{socket_, POLLOUT, 0};
    int r = ::poll(&p, 1, poll_ms(deadline));
    if (r < 0 && errno != EINTR)
      fail(std::string("poll: ") + std::strerror(errno));
    if (r <= 0) {
      if (steady::now() >= deadline)
        fail("timed out writing " + what);
      continue;
    }
    // MSG_NOSIGNAL: a connection Firefox has closed gives EPIPE, not a SIGPIPE that kills.
    auto n = ::send(socket_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n > 0)
      done += static_cast<size_t>(n);
    else if (n < 0 && errno != EINTR && errno != EAGAIN)
      fail("writing " + what + ": " + std::strerror(errno));
  }
}

firefox::frame firefox::take_frame(std::string& out, steady::time_point deadline) {
  if (buffer_.size() < 2)
    return frame::incomplete;
  auto b0 = static_cast<unsigned char>(buffer_[0]);
  auto b1 = static_cast<unsigned char>(buffer_[1]);
  bool fin = b0 & 0x80;
  int opcode = b0 & 0x0F;
  if (b0 & 0x70)
    fail("a WebSocket frame with reserved bits set (no extension was negotiated)");
  if (b1 & 0x80)
    fail("a masked WebSocket frame from the server");
  uint64_t length = b1 & 0x7F;
  size_t header = 2;
  if (length == 126) {
    if (buffer_.size() < 4)
      return frame::incomplete;
    length = (static_cast<uint64_t>(static_cast<unsigned char>(buffer_[2])) << 8) |
             static_cast<unsigned char>(buffer_[3]);
    header = 4;
  } else if (length == 127) {
    if (buffer_.size() < 10)
      return frame::incomplete;
    length = 0;
    for (size_t i = 2; i < 10; ++i)
      length = (length << 8) | static_cast<unsigned char>(buffer_[i]);
    header = 10;
  }
  if (length > kMaxMessage)
    fail("a WebSocket frame of " + std::to_string(length) + " bytes (the limit is " +
         std::to_string(kMaxMessage) + ")");
  if (buffer_.size() < header + length)
    return frame::incomplete;
  std::string payload = buffer_.substr(header, static_cast<size_t>(length));
  buffer_.erase(0, header + static_cast<size_t>(length));

  if (opcode >= 0x8) { // control frames: never fragmented, at most 125 bytes
    if (!fin || length > 125)
      fail("a fragmented or oversized WebSocket control frame");
    if (opcode == kOpPing) {
      send_frame(kOpPong, payload, deadline);
      return frame::other;
    }
    if (opcode == kOpPong)
      return frame::other;
    if (opcode == kOpClose) {
      std::string why;
      if (payload.size() >= 2)
        why = std::to_string((static_cast<unsigned char>(payload[0]) << 8) |
                             static_cast<unsigned char>(payload[1])) +
              " " + payload.substr(2);
      if (!closing_) {
        closing_ = true;
        try {
          send_frame(kOpClose, payload.substr(0, std::min<size_t>(payload.size(), 2)),
                     std::min(deadline, steady::now() + 1s));
        } catch (const std::exception&) {
          // it may have gone already
        }
      }
      fail("Firefox closed the WebSocket (" + (why.empty() ? std::string("no code") : why) + ")");
    }
    fail("a WebSocket control frame of unknown opcode " + std::to_string(opcode));
  }
  if (opcode == kOpText || opcode == kOpBinary) {
    if (in_message_)
      fail("a new WebSocket message inside a fragmented one");
    fragments_ = std::move(payload);
  } else if (opcode == kOpContinuation) {
    if (!in_message_)
      fail("a WebSocket continuation frame outside a message");
    if (fragments_.size() + payload.size() > kMaxMessage)
      fail("a WebSocket message over " + std::to_string(kMaxMessage) + " bytes");
    fragments_ += payload;
  } else {
    fail("a WebSocket data frame of unknown opcode " + std::to_string(opcode));
  }
  in_message_ = !fin;
  if (!fin)
    return frame::other;
  out = std::move(fragments_);
  fragments_.clear();
  return frame::message;
}

bool firefox::read_message(json& out, steady::time_point deadline) {
  for (;;) {
    std::string text;
    frame got;
    while ((got = take_frame(text, deadline)) == frame::other) {
    }
    if (got == frame::message) {
      try {
        out = json::parse(text);
      } catch (const std::exception& e) {
        fail("not JSON from the BiDi WebSocket (" + std::string(e.what()) +
             "): " + text.substr(0, 2000));
      }
      if (!out.is_object())
        fail("not a JSON object from the BiDi WebSocket: " + text.substr(0, 2000));
      return true;
    }
    pollfd p{socket_, POLLIN, 0};
    int r = ::poll(&p, 1, poll_ms(deadline));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      fail(std::string("poll: ") + std::strerror(errno));
    if (r == 0) {
      if (steady::now() >= deadline)
        return false;
      continue;
    }
    char chunk[65536];
    auto n = ::recv(socket_, chunk, sizeof(chunk), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n < 0)
      fail(std::string("reading the BiDi WebSocket: ") + std::strerror(errno));
    if (n == 0)
      fail("Firefox closed the BiDi WebSocket (it exited?)");
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

void firefox::add_message(std::string line) {
  if (messages_.size() < kMaxMessages)
    messages_.push_back(std::move(line));
}

void firefox::on_event(const json& event) {
  auto method = event.value("method", "");
  const auto& params =
      event.contains("params") && event["params"].is_object() ? event["params"] : json::object();
  if (method == "log.entryAdded") {
    // The page's entries only: the browser's own have no browsing context.
    auto source = params.value("source", json::object());
    if (!source.is_object() || !source.contains("context") || !source["context"].is_string())
      return;
    auto type = params.value("type", "");
    auto text = params.contains("text") && params["text"].is_string()
                    ? params["text"].get<std::string>()
                    : std::string();
    if (type == "console") {
      // Chromium's names for the methods whose names differ.
      auto m = params.value("method", params.value("level", "log"));
      if (m == "warn")
        m = "warning";
      else if (m == "group")
        m = "startGroup";
      else if (m == "groupCollapsed")
        m = "startGroupCollapsed";
      else if (m == "groupEnd")
        m = "endGroup";
      if (text.empty())
        for (auto& arg : params.value("args", json::array()))
          text += (text.empty() ? "" : " ") + remote_text(arg);
      add_message("console." + m + ": " + text);
    } else if (text.starts_with(kCspPrefix)) {
      // Firefox's report of a CSP violation, under Chromium's words for it.
      add_message("log.security.error: Content Security Policy:" +
                  text.substr(std::strlen(kCspPrefix)));
    } else {
      // Uncaught exceptions and unhandled rejections, and Firefox's other script errors of the
      // page (a script that failed to load or compile, an EventSource that cannot connect).
      auto where = top_frame(params);
      add_message("exception: " + text + (where.empty() ? "" : " (" + where + ")"));
    }
    return;
  }
  if (method == "network.responseCompleted" || method == "network.fetchError") {
    if (!params.contains("context") || !params["context"].is_string())
      return; // the browser's own requests
    auto request = params.value("request", json::object());
    auto url = request.is_object() ? request.value("url", "") : std::string();
    if (method == "network.fetchError") {
      auto error = params.value("errorText", "");
      // An aborted request (a page that navigates away, closes its EventSource or aborts a
      // fetch) is no failure; Chromium does not log those either.
      if (error == "NS_BINDING_ABORTED" || error == "NS_ERROR_ABORT")
        return;
      add_message("log.network.error: " + error + " (" + url + ")");
    } else {
      auto response = params.value("response", json::object());
      int status = response.is_object() && response.contains("status") &&
                           response["status"].is_number_integer()
                       ? response["status"].get<int>()
                       : 0;
      if (status >= 400)
        add_message("log.network.error: " + std::to_string(status) + " (" + url + ")");
    }
  }
}

void firefox::navigate(const std::string& url, std::chrono::milliseconds timeout) {
  auto deadline = steady::now() + timeout;
  try {
    call("browsingContext.navigate", {{"context", context_}, {"url", url}, {"wait", "complete"}},
         timeout);
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    if (what.starts_with("firefox: "))
      what.erase(0, 9);
    throw std::runtime_error("firefox: navigating to " + url + ": " + what);
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
  if (!wait_for("document.readyState === 'complete'", std::max(left, 100ms)))
    fail("document.readyState of " + url + " never became complete");
  auto status = eval("performance.getEntriesByType('navigation')[0]?.responseStatus ?? 0");
  if (status.is_number_integer() && status.get<int>() >= 400)
    fail("navigating to " + url + ": HTTP " + status.dump());
}

json firefox::eval(const std::string& js) {
  auto result = call("script.evaluate", {{"expression", js},
                                         {"target", {{"context", context_}}},
                                         {"awaitPromise", true},
                                         {"resultOwnership", "none"},
                                         {"userActivation", true}});
  if (result.value("type", "") == "exception") {
    auto details = result.value("exceptionDetails", json::object());
    std::string text = details.is_object() ? details.value("text", "") : "";
    if (text.empty() && details.is_object() && details.contains("exception"))
      text = remote_text(details["exception"]);
    throw std::runtime_error("firefox: evaluating `" + js + "` threw: " + text);
  }
  if (result.value("type", "") != "success" || !result.contains("result"))
    fail("script.evaluate gave neither a result nor an exception: " +
         result.dump().substr(0, 2000));
  bool omit = false;
  return remote_to_json(result["result"], omit);
}

void firefox::press_key(const std::string& key) {
  std::string code;
  for (auto& k : kKeys)
    if (key == k.name)
      code = k.code;
  if (code.empty() && one_code_point(key))
    code = key;
  if (code.empty())
    throw std::runtime_error("firefox: press_key does not know the key " + key);
  call("input.performActions",
       {{"context", context_},
        {"actions",
         {{{"type", "key"},
           {"id", "keyboard"},
           {"actions",
            {{{"type", "keyDown"}, {"value", code}}, {{"type", "keyUp"}, {"value", code}}}}}}}});
  call("input.releaseActions", {{"context", context_}});
}

void firefox::set_viewport(int width, int height, bool /*mobile*/) {
  call("browsingContext.setViewport", {{"context", context_},
                                       {"viewport", {{"width", width}, {"height", height}}},
                                       {"devicePixelRatio", 1}});
}

void firefox::screenshot(const std::string& path) {
  auto result = call("browsingContext.captureScreenshot", {{"context", context_}}, 30s);
  write_file(path, base64_decode(result.value("data", ""), "firefox"));
}

std::string firefox::log(size_t max_chars) const {
  std::ifstream in(dir_ + "/firefox.log", std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return tail(s, max_chars);
}

[[noreturn]] void firefox::fail(const std::string& what) const {
  throw std::runtime_error("firefox: " + what + "\n---- firefox log ----\n" + log(4000) +
                           "\n---- end of firefox log ----");
}

void firefox::shut_down() {
  if (pid_ > 0) {
    auto helpers = crash_helpers_of(pid_);
    if (socket_ >= 0 && !closing_) {
      try {
        call("browser.close", json::object(), 3s); // ends the session and quits
      } catch (const std::exception&) {
        // it may close the connection before it answers
      }
    }
    end_browser(pid_, 5s); // its content, socket and GPU processes write into the profile
    // Its crash helper, outside the group, by pid: found while Firefox ran (its pid named only
    // ours then), killed only if that pid still is such a helper. Not our child: init reaps it.
    auto still = crash_helpers_of(pid_);
    for (auto helper : helpers)
      if (std::find(still.begin(), still.end(), helper) != still.end())
        ::kill(helper, SIGKILL);
    for (auto helper : helpers)
      for (int i = 0; i < 200 && process_runs(helper); ++i)
        std::this_thread::sleep_for(10ms);
    pid_ = -1;
  }
  if (socket_ >= 0) {
    ::close(socket_);
    socket_ = -1;
  }
  if (dir_.empty())
    return;
  report_if_failed(dir_ + "/firefox.log");
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  dir_.clear();
}

} // namespace inboxd::test
