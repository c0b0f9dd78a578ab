// inboxd_fake_cloud_api: the tests' fake WhatsApp Cloud API as a standalone plain-HTTP server
// for the benchmark's send scenario. Prints its port on the first line of stdout, answers every
// send with 200 and a fresh wamid, and runs until SIGTERM/SIGINT, then prints how many requests
// it served.

#include <csignal>
#include <cstdio>
#include <exception>

#include "tests/support/fake_cloud_api.hpp"

int main() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  // Block before the server's thread starts, so only sigwait below sees them.
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  try {
    inboxd::test::fake_cloud_api api(/*tls=*/false);
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
