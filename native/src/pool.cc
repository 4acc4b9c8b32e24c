// The addon's thread pool behind dg::parallel_for: threads() - 1 persistent workers plus the calling thread take
// chunks of the index range from an atomic counter (so a core slowed by another process does not hold up the rest).
// Nested or concurrent calls (another thread already using the pool) run serially on the caller.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels.h"

namespace dg {
namespace {

thread_local bool t_in_pool = false;

struct Pool {
  std::mutex use;  // held by the one caller running a job
  std::mutex m;
  std::condition_variable wake, done;
  std::vector<std::thread> workers;
  uint64_t generation = 0;
  bool stop = false;
  // the current job
  void (*call)(void*, int64_t, int64_t) = nullptr;
  void* ctx = nullptr;
  int64_t n = 0, grain = 1;
  std::atomic<int64_t> next{0};
  std::atomic<int> running{0};

  void work() {
    int64_t b;
    while ((b = next.fetch_add(grain, std::memory_order_relaxed)) < n) call(ctx, b, std::min(n, b + grain));
  }

  void worker_loop() {
    t_in_pool = true;
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(m);
        wake.wait(lock, [&] { return stop || generation != seen; });
        if (stop) return;
        seen = generation;
      }
      work();
      if (running.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(m);
        done.notify_one();
      }
    }
  }

  void resize(int nWorkers) {
    if (int(workers.size()) == nWorkers) return;
    {
      std::lock_guard<std::mutex> lock(m);
      stop = true;
    }
    wake.notify_all();
    for (auto& t : workers) t.join();
    workers.clear();
    stop = false;
    for (int i = 0; i < nWorkers; i++) workers.emplace_back([this] { worker_loop(); });
  }
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: workers may outlive static destructors at exit
  return *p;
}

}  // namespace

void run_parallel(int64_t n, int64_t grain, void (*call)(void*, int64_t, int64_t), void* ctx) {
  Pool& p = pool();
  if (t_in_pool || !p.use.try_lock()) {
    call(ctx, 0, n);
    return;
  }
  std::lock_guard<std::mutex> owned(p.use, std::adopt_lock);
  p.resize(threads() - 1);
  if (p.workers.empty()) {
    call(ctx, 0, n);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(p.m);
    p.call = call;
    p.ctx = ctx;
    p.n = n;
    p.grain = grain;
    p.next.store(0, std::memory_order_relaxed);
    p.running.store(int(p.workers.size()), std::memory_order_relaxed);
    p.generation++;
  }
  p.wake.notify_all();
  t_in_pool = true;
  p.work();
  t_in_pool = false;
  // Wait for the workers' last chunks: spin briefly (they usually finish together), then sleep.
  for (int i = 0; i < 4000 && p.running.load(std::memory_order_acquire) != 0; i++) std::this_thread::yield();
  std::unique_lock<std::mutex> lock(p.m);
  p.done.wait(lock, [&] { return p.running.load(std::memory_order_acquire) == 0; });
}

}  // namespace dg
