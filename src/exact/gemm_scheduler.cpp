// The scheduler of the fast exact contraction: worker threads kept between calls, and the
// partition of a call's items (tiles, or rows on the simple path) over them through one atomic
// counter. Nothing here affects the values computed, only which thread computes them.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "roundoff/exact/gemm.hpp"

#define ROUNDOFF_EXACT_INTERNAL 1
#include "detail/gemm_scheduler.hpp"

namespace roundoff::exact {
namespace detail {
namespace {

using i64 = std::int64_t;

/// Worker threads kept between calls (starting threads cost 50-100 us a call, against calls of
/// a few ms). A call hands one job to `helpers` parked threads and runs a share itself; the job
/// pulls its items from a shared counter, so a helper that wakes late just finds none left.
/// One call at a time: a call that finds the pool busy (another user thread's gemm_exact, or a
/// nested call) starts its own threads instead. The threads live until the process exits.
class worker_pool {
 public:
  ~worker_pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }

  /// Runs job on the calling thread and on `helpers` other threads; returns when all are done.
  /// job must not throw.
  void run(int helpers, const std::function<void()>& job) {
    bool expected = false;
    if (!busy_.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
      std::vector<std::thread> own;
      for (int t = 0; t < helpers; ++t) own.emplace_back(job);
      job();
      for (auto& th : own) th.join();
      return;
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      while (static_cast<int>(threads_.size()) < helpers)
        threads_.emplace_back([this] { serve(); });
      job_ = &job;
      ++generation_;
      wanted_ = helpers;
    }
    wake_.notify_all();
    job();
    {
      std::unique_lock<std::mutex> lk(mu_);
      wanted_ = 0;  // helpers not yet awake skip this job: its items are all taken
      done_.wait(lk, [this] { return running_ == 0; });
      job_ = nullptr;
    }
    busy_.store(false, std::memory_order_release);
  }

 private:
  void serve() {
    std::uint64_t seen = 0;
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      wake_.wait(lk, [&] { return stop_ || (generation_ != seen && wanted_ > 0); });
      if (stop_) return;
      seen = generation_;
      --wanted_;
      ++running_;
      const std::function<void()>* job = job_;
      lk.unlock();
      (*job)();
      lk.lock();
      if (--running_ == 0) done_.notify_all();
    }
  }

  std::atomic<bool> busy_{false};
  std::mutex mu_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;
  const std::function<void()>* job_ = nullptr;
  std::uint64_t generation_ = 0;
  int wanted_ = 0, running_ = 0;
  bool stop_ = false;
};

worker_pool& workers() {
  static worker_pool p;
  return p;
}

}  // namespace

void run_workers(int threads, i64 count, const worker_job& work) {
  std::atomic<i64> next{0};
  std::exception_ptr err;
  std::mutex err_mu;
  const std::function<void()> worker = [&] {
    const ieee_underflow_guard ieee;
    try {
      work(next, count);
    } catch (...) {
      std::lock_guard<std::mutex> lk(err_mu);
      if (!err) err = std::current_exception();
      next.store(count);
    }
  };
  if (threads <= 1)
    worker();
  else
    workers().run(threads - 1, worker);
  if (err) std::rethrow_exception(err);
}

}  // namespace detail

void run_on_engine_workers(
    int threads, std::int64_t count,
    const std::function<void(std::atomic<std::int64_t>& next, std::int64_t count)>& work) {
  detail::run_workers(threads, count, work);
}

int engine_threads(int requested) noexcept {
  if (requested > 0) return requested;
  if (const char* env = std::getenv("ROUNDOFF_THREADS")) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v >= 1 && v <= 1024) return static_cast<int>(v);
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace roundoff::exact
