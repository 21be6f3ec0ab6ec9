// One process-wide pool of worker threads. parallel_for() runs on the calling thread plus up
// to max_threads - 1 workers, so concurrent callers (several searches on libuv's threads)
// share the pool instead of each spawning threads.
#pragma once
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace lmrec {

class ThreadPool {
 public:
  static ThreadPool& global();
  explicit ThreadPool(int workers);
  ~ThreadPool();

  // Calls fn(i) for every i in [0, n); rethrows the first exception any call threw.
  void parallel_for(int n, int max_threads, const std::function<void(int)>& fn);
  int workers() const { return int(threads_.size()); }

 private:
  struct Job;
  void worker_loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Job*> queue_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;
};

int hardware_threads();

}  // namespace lmrec
