// inboxd_loadgen: the benchmark's load generator and its helpers.
//
//   inboxd_loadgen run --port P --scenario NAME --template T [--mode open|closed] ...
//       one measured run; prints one JSON object (see bench/README.md)
//   inboxd_loadgen provision --port P --admin-token T --count N --prefix S --pnid-base B
//                            [--send-base-url URL]
//       creates workspaces and API keys; prints "<workspaceId> <phoneNumberId> <apiKey>" lines
//   inboxd_loadgen free-port
//   inboxd_loadgen report --in runs.jsonl [--out FILE]... [--meta-json '{...}'] [--check]
//       prints the results table and writes {"meta", "runs", "facts"}; --check: exit 1 when a
//       run had no successful request

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/loadgen/engine.hpp"
#include "bench/loadgen/setup.hpp"
#include "bench/loadgen/templates.hpp"

using json = nlohmann::ordered_json;
using namespace inboxd::bench;

namespace {

// --name value pairs (a flag without a value gets "1"); repeated names keep every value.
struct args {
  std::multimap<std::string, std::string> kv;

  args(int argc, char** argv, int from) {
    for (int i = from; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0)
        throw std::invalid_argument("unexpected argument: " + a);
      a = a.substr(2);
      if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0)
        kv.emplace(a, argv[++i]);
      else
        kv.emplace(a, "1");
    }
  }
  bool has(const std::string& k) const { return kv.count(k) != 0; }
  std::string str(const std::string& k, const std::string& def = {}) const {
    auto i = kv.find(k);
    return i == kv.end() ? def : i->second;
  }
  double num(const std::string& k, double def) const {
    auto i = kv.find(k);
    return i == kv.end() ? def : std::stod(i->second);
  }
  uint64_t u64(const std::string& k, uint64_t def) const {
    auto i = kv.find(k);
    return i == kv.end() ? def : std::stoull(i->second);
  }
  std::vector<std::string> all(const std::string& k) const {
    std::vector<std::string> out;
    auto [b, e] = kv.equal_range(k);
    for (auto i = b; i != e; ++i)
      out.push_back(i->second);
    return out;
  }
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty())
      out.push_back(item);
  return out;
}

// --- process statistics from /proc ----------------------------------------------------------------

double cpu_seconds(int pid) {
  if (pid <= 0)
    return 0;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto p = s.rfind(')');
  if (p == std::string::npos)
    return 0;
  std::istringstream rest(s.substr(p + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // After "pid (comm) ": state is field 3; utime 14, stime 15.
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14)
      utime = std::stoull(field);
    if (i == 15)
      stime = std::stoull(field);
  }
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

// A "VmXXX:" value of /proc/<pid>/status in MiB (0 when unreadable).
double vm_mib(int pid, const std::string& name) {
  if (pid <= 0)
    return 0;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(name + ":", 0) == 0) {
      std::istringstream is(line.substr(name.size() + 1));
      double kb = 0;
      is >> kb;
      return kb / 1024.0;
    }
  }
  return 0;
}

// Resets VmHWM (Linux: "5" > clear_refs), so the peak is this run's.
bool reset_peak(int pid) {
  if (pid <= 0)
    return false;
  std::ofstream f("/proc/" + std::to_string(pid) + "/clear_refs");
  f << "5";
  f.flush();
  return bool(f);
}

double self_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double round3(double v) {
  return std::round(v * 1000.0) / 1000.0;
}

json latency_json(std::vector<uint32_t>& v) {
  if (v.empty())
    return {{"samples", 0}, {"p50", nullptr}, {"p95", nullptr}, {"p99", nullptr},
            {"p999", nullptr}, {"max", nullptr}, {"mean", nullptr}};
  std::sort(v.begin(), v.end());
  // Exact nearest-rank percentiles over every sample.
  auto pct = [&](double p) {
    size_t rank = static_cast<size_t>(std::ceil(p * double(v.size())));
    return round3(double(v[std::clamp<size_t>(rank, 1, v.size()) - 1]) / 1000.0);
  };
  double sum = 0;
  for (auto x : v)
    sum += x;
  return {{"samples", v.size()},
          {"p50", pct(0.50)},
          {"p95", pct(0.95)},
          {"p99", pct(0.99)},
          {"p999", pct(0.999)},
          {"max", round3(double(v.back()) / 1000.0)},
          {"mean", round3(sum / double(v.size()) / 1000.0)}};
}

int cmd_run(const args& a) {
  engine_options eo;
  eo.host = a.str("host", "127.0.0.1");
  eo.port = int(a.u64("port", 0));
  if (eo.port == 0)
    throw std::invalid_argument("--port required");
  std::string mode = a.str("mode", "open");
  if (mode != "open" && mode != "closed")
    throw std::invalid_argument("--mode open|closed");
  eo.open_loop = mode == "open";
  eo.rate = a.num("rate", 1000);
  eo.duration_s = a.num("duration", 10);
  eo.connections = int(a.u64("connections", eo.open_loop ? 256 : 64));
  eo.threads = int(a.u64("threads", 1));
  eo.max_requests = a.u64("requests", 0);
  eo.drain_s = a.num("drain", 10);
  if (eo.max_requests && !a.has("duration"))
    eo.duration_s = 3600;

  template_config tc;
  tc.name = a.str("template");
  tc.host_header = eo.host + ":" + std::to_string(eo.port);
  tc.api_key = a.str("key");
  tc.phone_number_ids = split(a.str("pnids"), ',');
  tc.app_secret = a.str("secret");
  tc.run_tag = a.str("run-tag", "r" + std::to_string(::getpid()));
  tc.messages_per_post = int(a.u64("messages", 1));
  tc.statuses_per_post = int(a.u64("statuses", 0));
  tc.echoes = a.has("echoes");
  tc.media = a.has("media");
  tc.history_threads = int(a.u64("history-threads", 50));
  tc.body_bytes = size_t(a.u64("body-bytes", 0));
  tc.per_number_path = a.has("per-number-path");
  tc.contact_base = a.u64("contact-base", tc.contact_base);
  tc.contact_offset = a.u64("contact-offset", 0);
  tc.contacts = a.u64("contacts", 0);
  tc.status_tag = a.str("status-tag");
  tc.status_pool = a.u64("status-pool", 0);
  tc.status_contacts = std::max<uint64_t>(1, a.u64("status-contacts", 1));
  if (auto n = a.u64("conversations", 0); n > 0) {
    tc.conversation_ids = fetch_conversation_ids(eo.host, eo.port, tc.api_key, n);
    if (tc.conversation_ids.empty())
      throw std::runtime_error("the workspace has no conversations");
  }
  auto source = make_source(tc);

  int pid = int(a.u64("pid", 0));
  int redis_pid = int(a.u64("redis-pid", 0));
  bool peak_reset = reset_peak(pid);
  std::atomic<bool> sampling{true};
  std::atomic<double> sampled_peak{vm_mib(pid, "VmRSS")};
  std::thread sampler([&] {
    while (sampling) {
      double r = vm_mib(pid, "VmRSS");
      if (r > sampled_peak)
        sampled_peak = r;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  double cpu0 = cpu_seconds(pid), rcpu0 = cpu_seconds(redis_pid), self0 = self_cpu_seconds();
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_engine(eo, *source);
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double cpu1 = cpu_seconds(pid), rcpu1 = cpu_seconds(redis_pid), self1 = self_cpu_seconds();
  sampling = false;
  sampler.join();

  std::vector<uint32_t> all;
  json kinds = json::object();
  auto names = source->kinds();
  for (size_t k = 0; k < names.size(); ++k) {
    auto& kr = r.kinds[k];
    all.insert(all.end(), kr.latencies_us.begin(), kr.latencies_us.end());
    if (names.size() > 1)
      kinds[names[k]] = {{"requests", kr.requests}, {"ok", kr.ok},
                         {"latencyMs", latency_json(kr.latencies_us)}};
  }
  uint64_t errors = r.http_errors + r.transport_errors + r.unfinished;
  double el = r.elapsed_s > 0 ? r.elapsed_s : 1e-9;
  json statuses = json::object();
  for (auto& [s, n] : r.statuses)
    statuses[std::to_string(s)] = n;
  json out;
  out["scenario"] = a.str("scenario", tc.name);
  out["template"] = tc.name;
  out["mode"] = mode;
  out["targetRate"] = eo.open_loop ? json(eo.rate) : json(nullptr);
  out["connections"] = eo.connections;
  out["threads"] = eo.threads;
  out["duration"] = eo.max_requests && !a.has("duration") ? json(nullptr) : json(eo.duration_s);
  if (tc.name == "webhook")
    out["perPost"] = {{"messages", tc.messages_per_post},
                      {"statuses", tc.statuses_per_post},
                      {"echoes", tc.echoes},
                      {"media", tc.media}};
  out["requests"] = r.requests + r.unfinished;
  out["ok"] = r.ok;
  out["items"] = r.items;
  out["errors"] = errors;
  out["httpErrors"] = r.http_errors;
  out["transportErrors"] = r.transport_errors;
  out["unfinished"] = r.unfinished;
  out["statuses"] = statuses;
  if (!r.first_error.empty())
    out["firstError"] = r.first_error;
  out["elapsed"] = round3(r.elapsed_s);
  out["throughput"] = {{"requestsPerSec", round3(double(r.ok) / el)},
                       {"itemsPerSec", round3(double(r.items) / el)}};
  out["latencyMs"] = latency_json(all);
  if (!kinds.empty())
    out["kinds"] = kinds;
  if (pid > 0) {
    double hwm = vm_mib(pid, "VmHWM");
    out["inboxd"] = {{"pid", pid},
                     {"cpuCores", round3((cpu1 - cpu0) / wall)},
                     {"peakRssMiB", round3(peak_reset ? hwm : std::max(hwm, sampled_peak.load()))},
                     {"peakRssSource", peak_reset ? "VmHWM (reset before the run)" : "VmHWM (process lifetime)"},
                     {"rssMiB", round3(vm_mib(pid, "VmRSS"))}};
  }
  if (redis_pid > 0)
    out["redis"] = {{"cpuCores", round3((rcpu1 - rcpu0) / wall)},
                    {"rssMiB", round3(vm_mib(redis_pid, "VmRSS"))}};
  out["loadgenCpuCores"] = round3((self1 - self0) / wall);
  std::cout << out.dump() << std::endl;
  return 0;
}

int cmd_provision(const args& a) {
  provision_options o;
  o.host = a.str("host", "127.0.0.1");
  o.port = int(a.u64("port", 0));
  o.admin_token = a.str("admin-token");
  o.count = int(a.u64("count", 1));
  o.prefix = a.str("prefix", "bench");
  o.pnid_base = a.u64("pnid-base", 100000000000ULL);
  o.send_base_url = a.str("send-base-url");
  o.access_token = a.str("access-token", "bench-token");
  for (auto& ws : provision(o))
    std::cout << ws.id << ' ' << ws.phone_number_id << ' ' << ws.api_key << '\n';
  return 0;
}

std::string fmt(const json& v, int prec = 1) {
  if (v.is_null())
    return "-";
  if (v.is_number_integer() || v.is_number_unsigned())
    return std::to_string(v.get<long long>());
  if (v.is_number()) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", prec, v.get<double>());
    return buf;
  }
  return v.is_string() ? v.get<std::string>() : v.dump();
}

const json& at(const json& j, std::initializer_list<const char*> path) {
  static const json null_json;
  const json* cur = &j;
  for (auto* p : path) {
    if (!cur->is_object() || !cur->contains(p))
      return null_json;
    cur = &(*cur)[p];
  }
  return *cur;
}

int cmd_report(const args& a) {
  std::ifstream in(a.str("in"));
  if (!in)
    throw std::runtime_error("cannot read --in " + a.str("in"));
  json runs = json::array(), facts = json::array();
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty())
      continue;
    auto j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      continue;
    if (j.value("type", "") == "facts")
      facts.push_back(j);
    else
      runs.push_back(j);
  }
  json doc;
  doc["meta"] = a.has("meta-json") ? json::parse(a.str("meta-json")) : json::object();
  doc["runs"] = runs;
  doc["facts"] = facts;

  std::vector<std::vector<std::string>> rows = {
    {"scenario", "mode", "target/s", "achieved/s", "items/s", "p50 ms", "p95 ms", "p99 ms",
     "max ms", "errors", "CPU cores", "peak RSS MiB"}};
  for (auto& r : runs) {
    std::string mode = r.value("mode", "");
    if (mode == "closed")
      mode += " c=" + fmt(r["connections"]);
    auto add = [&](std::string name, const json& lat, const json& achieved) {
      rows.push_back({name, mode, fmt(r["targetRate"], 0), fmt(achieved, 0),
                      r.value("items", 0) > 0 ? fmt(at(r, {"throughput", "itemsPerSec"}), 0) : "-",
                      fmt(at(lat, {"p50"}), 2), fmt(at(lat, {"p95"}), 2), fmt(at(lat, {"p99"}), 2),
                      fmt(at(lat, {"max"}), 1), fmt(r["errors"]),
                      fmt(at(r, {"inboxd", "cpuCores"}), 2), fmt(at(r, {"inboxd", "peakRssMiB"}), 0)});
    };
    add(r.value("scenario", "?"), r["latencyMs"], at(r, {"throughput", "requestsPerSec"}));
    if (r.contains("kinds"))
      for (auto& [k, kv] : r["kinds"].items())
        rows.push_back({"  " + k, "", "", "", "", fmt(at(kv, {"latencyMs", "p50"}), 2),
                        fmt(at(kv, {"latencyMs", "p95"}), 2), fmt(at(kv, {"latencyMs", "p99"}), 2),
                        fmt(at(kv, {"latencyMs", "max"}), 1), "", "", ""});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  for (size_t n = 0; n < rows.size(); ++n) {
    std::string out;
    for (size_t i = 0; i < rows[n].size(); ++i) {
      std::string cell = rows[n][i];
      // Left-align the first two columns, right-align the numbers (UTF-8-free cells).
      if (i < 2)
        out += cell + std::string(width[i] - cell.size(), ' ');
      else
        out += std::string(width[i] - cell.size(), ' ') + cell;
      out += i + 1 < rows[n].size() ? "  " : "";
    }
    std::cout << out << '\n';
    if (n == 0) {
      size_t total = 0;
      for (auto w : width)
        total += w + 2;
      std::cout << std::string(total - 2, '-') << '\n';
    }
  }
  for (auto& f : facts) {
    std::cout << "\n" << f.value("scenario", "facts") << ":";
    for (auto& [k, v] : f.items())
      if (k != "type" && k != "scenario")
        std::cout << "  " << k << "=" << fmt(v, 1);
    std::cout << '\n';
  }
  for (auto& path : a.all("out")) {
    std::ofstream o(path);
    o << doc.dump(2) << '\n';
    if (!o)
      throw std::runtime_error("cannot write " + path);
  }
  if (a.has("check")) {
    int bad = 0;
    for (auto& r : runs)
      if (r.value("ok", 0) == 0) {
        std::cerr << "report: scenario " << r.value("scenario", "?")
                  << " had no successful request: " << r.value("firstError", "") << '\n';
        ++bad;
      }
    if (runs.empty()) {
      std::cerr << "report: no runs\n";
      ++bad;
    }
    return bad ? 1 : 0;
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: inboxd_loadgen run|provision|free-port|report [--options]\n"
                 "see bench/README.md\n";
    return 2;
  }
  try {
    std::string cmd = argv[1];
    args a(argc, argv, 2);
    if (cmd == "run")
      return cmd_run(a);
    if (cmd == "provision")
      return cmd_provision(a);
    if (cmd == "free-port") {
      std::cout << free_port() << '\n';
      return 0;
    }
    if (cmd == "report")
      return cmd_report(a);
    std::cerr << "inboxd_loadgen: unknown command " << cmd << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "inboxd_loadgen: " << e.what() << '\n';
    return 1;
  }
}
