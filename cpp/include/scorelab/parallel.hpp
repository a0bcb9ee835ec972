// scorelab — a minimal fork-join loop with cooperative cancellation.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace scorelab {

/// Run body(item) for item in [0, n_items) on `threads` threads (work stealing by an
/// atomic counter). While the workers run, the calling thread invokes poll() about
/// every 50 ms; if poll() returns true, `cancel` is set and no new item starts.
/// Returns false if cancelled. The first exception thrown by body is rethrown.
inline bool parallel_for(std::size_t n_items, int threads, const std::function<void(std::size_t)>& body,
                         const std::function<bool()>& poll, std::atomic<bool>& cancel) {
  if (n_items == 0) return !cancel.load();
  threads = std::max(1, std::min<int>(threads, static_cast<int>(n_items)));
  std::atomic<std::size_t> next{0};
  std::exception_ptr err;
  std::mutex mu;
  std::condition_variable cv;
  int running = threads;
  auto work = [&]() {
    try {
      for (;;) {
        if (cancel.load(std::memory_order_relaxed)) break;
        const std::size_t i = next.fetch_add(1);
        if (i >= n_items) break;
        body(i);
      }
    } catch (...) {
      std::lock_guard<std::mutex> g(mu);
      if (!err) err = std::current_exception();
      cancel.store(true);
    }
    std::lock_guard<std::mutex> g(mu);
    if (--running == 0) cv.notify_all();
  };
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (int t = 0; t < threads; ++t) pool.emplace_back(work);
  {
    std::unique_lock<std::mutex> lk(mu);
    while (running > 0) {
      cv.wait_for(lk, std::chrono::milliseconds(50));
      if (running > 0 && poll) {
        lk.unlock();
        if (poll()) cancel.store(true);
        lk.lock();
      }
    }
  }
  for (auto& t : pool) t.join();
  if (err) std::rethrow_exception(err);
  return !cancel.load();
}

}  // namespace scorelab
