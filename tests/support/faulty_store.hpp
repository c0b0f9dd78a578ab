#pragma once
// A fault-injecting wrapper around a real store (DESIGN.md: "no mock replaces Redis"). Commits
// are counted from 1; for a chosen commit it can
//  - fail it: nothing reaches the real store, the caller gets commit_status::failed;
//  - drop its reply: the real store applies it, the caller gets commit_status::unknown;
//  - hang it: the real store applies it, the reply is held until release() is called.
// Reads pass through. Thread-safe.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "storage/store.hpp"

namespace inboxd::test {

class faulty_store final : public store {
public:
  enum class fault { fail, drop_reply, hang };

  explicit faulty_store(std::shared_ptr<store> real) : real_(std::move(real)) {}

  /// Injects `f` into the n-th commit from now on (1 = the next one).
  void inject(int n, fault f) {
    std::lock_guard lock(mu_);
    faults_[commits_ + n] = f;
  }

  /// Delivers a hung commit's reply; false when none is held.
  bool release() {
    std::function<void()> f;
    {
      std::lock_guard lock(mu_);
      if (!held_)
        return false;
      f = std::move(*held_);
      held_.reset();
    }
    f();
    return true;
  }

  /// True once a hung commit's reply is being held.
  bool holding() const {
    std::lock_guard lock(mu_);
    return held_.has_value();
  }

  int commits() const {
    std::lock_guard lock(mu_);
    return commits_;
  }

  bool reachable() const override { return real_->reachable(); }

  void commit(change_set cs, uint64_t epoch, std::function<void(commit_result)> done) override {
    std::optional<fault> f;
    {
      std::lock_guard lock(mu_);
      auto n = ++commits_;
      if (auto i = faults_.find(n); i != faults_.end()) {
        f = i->second;
        faults_.erase(i);
      }
    }
    if (!f)
      return real_->commit(std::move(cs), epoch, std::move(done));
    if (*f == fault::fail) {
      commit_result r;
      r.status = commit_status::failed;
      r.error = "injected failure";
      return done(std::move(r));
    }
    if (*f == fault::drop_reply)
      return real_->commit(std::move(cs), epoch, [done = std::move(done)](commit_result) {
        commit_result r;
        r.status = commit_status::unknown;
        r.error = "injected: reply dropped";
        done(std::move(r));
      });
    real_->commit(std::move(cs), epoch, [this, done = std::move(done)](commit_result r) mutable {
      std::lock_guard lock(mu_);
      held_ = [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); };
    });
  }

  void load_targets(std::string ws, std::vector<std::string> ids,
                    std::function<void(message_targets)> done) override {
    real_->load_targets(std::move(ws), std::move(ids), std::move(done));
  }

  void load_conversation(std::string ws, std::string conv, std::string ct,
                         std::function<void(conversation_records)> done) override {
    real_->load_conversation(std::move(ws), std::move(conv), std::move(ct), std::move(done));
  }

  void load_messages(std::string ws, std::vector<std::string> ids, std::string cmid,
                     std::function<void(message_lookup)> done) override {
    real_->load_messages(std::move(ws), std::move(ids), std::move(cmid), std::move(done));
  }

  void load_timeline(std::string ws, std::string conv, int64_t before, int64_t limit,
                     std::function<void(timeline_page)> done) override {
    real_->load_timeline(std::move(ws), std::move(conv), before, limit, std::move(done));
  }

  void load_queue(std::string ws, job_queue q, std::function<void(queue_read)> done) override {
    real_->load_queue(std::move(ws), q, std::move(done));
  }

  void read_events(std::string ws, std::string after, std::string upto, size_t count,
                   std::function<void(event_read)> done) override {
    real_->read_events(std::move(ws), std::move(after), std::move(upto), count, std::move(done));
  }

  void media_garbage(std::string ws, std::vector<std::string> also,
                     std::function<void(media_garbage_read)> done) override {
    real_->media_garbage(std::move(ws), std::move(also), std::move(done));
  }

  void media_collected(std::string ws, std::vector<std::string> removed,
                       std::function<void(bool)> done) override {
    real_->media_collected(std::move(ws), std::move(removed), std::move(done));
  }

private:
  std::shared_ptr<store> real_;
  mutable std::mutex mu_;
  int commits_ = 0;
  std::map<int, fault> faults_;
  std::optional<std::function<void()>> held_;
};

} // namespace inboxd::test
