#include "util/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <exception>

namespace lmrec {

struct ThreadPool::Job {
  const std::function<void(int)>* fn;
  int n;
  std::atomic<int> next{0};
  std::atomic<int> done{0};
  int helpers_wanted = 0;  // workers that may still join (guarded by the pool's mutex)
  int active = 0;          // workers inside work() (guarded by mu)
  std::mutex mu;
  std::condition_variable finished;
  std::exception_ptr error;

  // Claims indices until none are left; returns after the last one claimed is done.
  void work() {
    for (int i; (i = next.fetch_add(1)) < n;) {
      try {
        (*fn)(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
      }
      if (done.fetch_add(1) + 1 == n) {
        std::lock_guard<std::mutex> lock(mu);
        finished.notify_all();
      }
    }
  }

  void help() {
    work();
    std::lock_guard<std::mutex> lock(mu);
    --active;
    finished.notify_all();
  }
};

int hardware_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

ThreadPool& ThreadPool::global() {
  static ThreadPool pool(hardware_threads() - 1);
  return pool;
}

ThreadPool::ThreadPool(int workers) {
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::worker_loop() {
  for (;;) {
    Job* job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = queue_.front();
      if (--job->helpers_wanted == 0) queue_.erase(queue_.begin());
      std::lock_guard<std::mutex> job_lock(job->mu);
      ++job->active;
    }
    job->help();
  }
}

void ThreadPool::parallel_for(int n, int max_threads, const std::function<void(int)>& fn) {
  if (n <= 0) return;
  Job job;
  job.fn = &fn;
  job.n = n;
  job.helpers_wanted = std::min({max_threads - 1, n - 1, workers()});
  if (job.helpers_wanted > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(&job);
  }
  if (job.helpers_wanted > 0) cv_.notify_all();
  job.work();
  {  // no worker may join once we stop waiting, so take the job off the queue first
    std::lock_guard<std::mutex> lock(mu_);
    queue_.erase(std::remove(queue_.begin(), queue_.end(), &job), queue_.end());
  }
  {
    std::unique_lock<std::mutex> lock(job.mu);
    job.finished.wait(lock, [&] { return job.done.load() == n && job.active == 0; });
  }
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace lmrec
