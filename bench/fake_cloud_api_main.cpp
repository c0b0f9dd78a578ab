// inboxd_fake_cloud_api: the tests' fake WhatsApp Cloud API as a standalone plain-HTTP server
// for the benchmark's send and media scenarios. Prints its port on the first line of stdout and
// runs until SIGTERM/SIGINT, then prints how many requests it served. It answers
//  - POST .../messages (a send): 200 and a fresh wamid;
//  - GET /<version>/<mediaId> (a media lookup): the URL /files/<mediaId> on itself;
//  - GET /files/<mediaId>: `media_bytes` bytes (argv[1], default 262144) of image/jpeg, the
//    same for every id (inboxd stores them once, under their SHA-256).

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/support/fake_cloud_api.hpp"

using namespace inboxd::test;

int main(int argc, char** argv) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  // Block before the server's thread starts, so only sigwait below sees them.
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  try {
    size_t media_bytes = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 256 * 1024;
    std::string file(media_bytes, '\0');
    for (size_t i = 0; i < file.size(); ++i)
      file[i] = static_cast<char>((i * 2654435761u) >> 13);
    fake_cloud_api api(/*tls=*/false);
    std::atomic<uint64_t> wamids{0};
    auto base = "http://127.0.0.1:" + std::to_string(api.port());
    api.set_responder([&](const recorded_request& r) {
      auto path = r.target.substr(0, r.target.find('?'));
      if (r.method == "GET" && path.rfind("/files/", 0) == 0) {
        reply out;
        out.body = file;
        out.headers = {{"Content-Type", "image/jpeg"}};
        return out;
      }
      if (r.method == "GET") {
        auto id = path.substr(path.rfind('/') + 1);
        nlohmann::json j = {{"messaging_product", "whatsapp"},
                            {"url", base + "/files/" + id},
                            {"mime_type", "image/jpeg"},
                            {"file_size", std::to_string(file.size())},
                            {"id", id}};
        return reply::json(200, j.dump());
      }
      auto j = nlohmann::json::parse(r.body, nullptr, false);
      std::string to = j.is_object() ? j.value("to", std::string()) : std::string();
      return reply::json(200, meta_success_body(to, "wamid.fake." + std::to_string(++wamids)));
    });
    std::printf("%d\n", api.port());
    std::fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    std::printf("requests %zu connections %zu\n", api.count(), api.connections());
    std::fflush(stdout);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inboxd_fake_cloud_api: %s\n", e.what());
    return 1;
  }
  return 0;
}
