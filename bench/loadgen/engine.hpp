#pragma once
// The load generator's engine: many keep-alive HTTP/1.1 connections to one host:port, spread over
// its own threads (one io_context each), in one of two modes:
//   open loop:   requests are *scheduled* at a constant arrival rate; each one's latency is measured
//                from its scheduled send time, so a request that waited for a free connection (it
//                queues in the generator) counts its wait: no coordinated omission.
//   closed loop: every connection sends back to back (peak throughput); latency from the send.
// Requests come from a request_source (raw HTTP bytes, built per request number). Headers only
// need "Host" etc. from the source; the engine never rewrites a request.
// Not reentrant: run() blocks until the run (and its drain) is over.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace inboxd::bench {

/// What one request is, as far as accounting goes.
struct request_meta {
  int kind = 0;     // index into request_source::kinds() (per-kind latencies)
  int items = 0;    // webhook items (messages + statuses) the request carries
  int expect = 200; // the status that counts as success (any 2xx also does)
};

class request_source {
public:
  virtual ~request_source() = default;
  /// Builds request number `n` (unique per run, from 0) into `out` (raw HTTP/1.1 bytes).
  /// Called concurrently from every engine thread: implementations keep no mutable shared state.
  virtual void make(uint64_t n, std::string& out, request_meta& meta) const = 0;
  /// Names of the kinds make() reports; at least one.
  virtual std::vector<std::string> kinds() const { return {"all"}; }
};

struct engine_options {
  std::string host = "127.0.0.1";
  int port = 0;
  bool open_loop = true;
  double rate = 1000;         // open loop: requests per second (total)
  double duration_s = 10;     // scheduling (open) or sending (closed) time
  int connections = 64;       // total, split over threads
  int threads = 1;
  uint64_t max_requests = 0;  // closed loop: stop after this many (0: duration only)
  double drain_s = 10;        // after the duration, wait this long for outstanding requests
};

struct kind_result {
  std::vector<uint32_t> latencies_us; // successful requests only
  uint64_t requests = 0;
  uint64_t ok = 0;
};

struct engine_result {
  uint64_t requests = 0;         // completed (answered or failed)
  uint64_t ok = 0;               // 2xx (or the expected status)
  uint64_t http_errors = 0;      // answered with another status
  uint64_t transport_errors = 0; // connect/read/write failures
  uint64_t unfinished = 0;       // open loop: scheduled but not answered by the end of the drain
  uint64_t items = 0;            // items of successful requests
  double elapsed_s = 0;          // first scheduled send to the last answer
  std::map<int, uint64_t> statuses;
  std::string first_error;       // a sample: the first non-2xx status line + body, or transport error
  std::vector<kind_result> kinds;
};

engine_result run_engine(const engine_options& opts, const request_source& source);

} // namespace inboxd::bench
