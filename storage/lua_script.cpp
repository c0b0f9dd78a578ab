#include "storage/lua_script.hpp"

#include <utility>

#include <openssl/sha.h>

#include "storage/redis_client.hpp"

namespace inboxd {

namespace {

std::string sha1_hex(const std::string& s) {
  unsigned char d[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (auto c : d) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 15]);
  }
  return out;
}

} // namespace

lua_script::lua_script(std::string text) : source(std::move(text)), sha(sha1_hex(source)) {}

} // namespace inboxd

namespace inboxd {

void run_script(const std::shared_ptr<redis_executor>& client, const lua_script& script,
                std::vector<std::string> keys, std::vector<std::string> args,
                std::function<void(redis_result)> done) {
  auto command = [&script, keys = std::move(keys), args = std::move(args)](bool load) {
    redis_command cmd{load ? "EVAL" : "EVALSHA", load ? script.source : script.sha,
                      std::to_string(keys.size())};
    cmd.insert(cmd.end(), keys.begin(), keys.end());
    cmd.insert(cmd.end(), args.begin(), args.end());
    return cmd;
  };
  auto first = command(false);
  client->exec_durable({std::move(first)}, [client, command = std::move(command),
                                            done = std::move(done)](redis_result r) mutable {
    bool noscript =
        !r.replies.empty() && r.replies[0].is_error() && r.replies[0].str.rfind("NOSCRIPT", 0) == 0;
    if (!noscript)
      return done(std::move(r));
    client->exec_durable({command(true)}, std::move(done));
  });
}

} // namespace inboxd
