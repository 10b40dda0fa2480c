// Internal to src/exact: the scheduler of the fast exact contraction. A persistent pool of worker
// threads shares the tiles of a call through an atomic counter (docs/exact-fast.md §1 for the
// thread count, §2 step 7 for the tiles); each worker runs under IEEE gradual underflow.
#pragma once

#ifndef ROUNDOFF_EXACT_INTERNAL
#error "roundoff/src/exact/detail headers are internal to the exact layer"
#endif

#include <atomic>
#include <cstdint>
#include <functional>

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

namespace roundoff::exact::detail {

/// Turns off flush-to-zero and denormals-are-zero in the current thread while alive, restoring
/// the caller's mode after: the slicing (and the accumulator's rounding) need IEEE gradual
/// underflow. New threads inherit the creating thread's mode, so each worker sets its own.
class ieee_underflow_guard {
 public:
#if defined(__SSE2__)
  ieee_underflow_guard() noexcept : saved_(_mm_getcsr()) {
    _mm_setcsr(saved_ & ~0x8040u);
  }
  ~ieee_underflow_guard() {
    _mm_setcsr(saved_);
  }
  ieee_underflow_guard(const ieee_underflow_guard&) = delete;
  ieee_underflow_guard& operator=(const ieee_underflow_guard&) = delete;

 private:
  unsigned saved_;
#endif
};

/// What a worker runs: it takes item numbers from `next` (fetch_add) until they reach `count`.
using worker_job = std::function<void(std::atomic<std::int64_t>& next, std::int64_t count)>;

/// Runs work on `threads` threads (the caller's among them, the others from the persistent pool),
/// each under an ieee_underflow_guard, over items [0, count). The first exception stops the
/// others (the counter jumps to the end) and is rethrown once all are done.
void run_workers(int threads, std::int64_t count, const worker_job& work);

}  // namespace roundoff::exact::detail
