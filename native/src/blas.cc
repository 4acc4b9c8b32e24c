// Finds a BLAS library at run time (dlopen), so the addon builds with only a C++ compiler.
// Order: $DEEPGEN_BLAS (a path, or "builtin"), OpenBLAS, MKL, BLIS, then libblas.so.3 only if it is one of those;
// the netlib reference BLAS (~8 GFLOPS) is rejected in favour of the built-in kernel.
#include <dlfcn.h>
#include <link.h>
#include <sched.h>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "kernels.h"

namespace dg {
namespace {

enum { RowMajor = 101, NoTrans = 111, Trans = 112 };
typedef void (*sgemm32_t)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*,
                          int);
typedef void (*sgemm64_t)(int, int, int, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                          int64_t, float, float*, int64_t);

sgemm32_t g_sgemm32 = nullptr;
sgemm64_t g_sgemm64 = nullptr;
void (*g_set_threads)(int) = nullptr;
BlasInfo g_info;
int g_threads = 1;
std::once_flag g_once;

int default_threads() {
  const char* env = std::getenv("DEEPGEN_THREADS");
  if (env && *env) {
    int n = std::atoi(env);
    if (n >= 1) return n;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n >= 1) return n;
  }
  unsigned n = std::thread::hardware_concurrency();
  return n >= 1 ? int(n) : 1;
}

std::string lib_path(void* h) {
  struct link_map* lm = nullptr;
  if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name) {
    char buf[PATH_MAX];
    if (realpath(lm->l_name, buf)) return buf;
    return lm->l_name;
  }
  return "";
}

bool try_lib(const char* name, bool onlyKnown) {
  void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (!h) return false;
  auto sym = [h](const char* s) { return dlsym(h, s); };
  std::string kind, config;
  if (auto cfg = (char* (*)())sym("openblas_get_config")) {
    kind = "OpenBLAS";
    config = cfg();
  } else if (auto cfg64 = (char* (*)())sym("openblas_get_config64_")) {
    kind = "OpenBLAS";
    config = cfg64();
  } else if (sym("MKL_Get_Max_Threads") || sym("mkl_get_max_threads")) {
    kind = "MKL";
  } else if (sym("bli_info_get_version_str")) {
    kind = "BLIS";
    config = ((const char* (*)())sym("bli_info_get_version_str"))();
  } else if (sym("cblas_sgemm") && std::strstr(name, "Accelerate")) {
    kind = "Accelerate";
  }
  if (kind.empty() && onlyKnown) {
    if (sym("cblas_sgemm") || sym("sgemm_")) {
      g_info.warning = std::string(name) + " (" + lib_path(h) +
                       ") looks like the netlib reference BLAS (slow); ignored, using the built-in kernel";
    }
    dlclose(h);
    return false;
  }
  auto s32 = (sgemm32_t)sym("cblas_sgemm");
  auto s64 = (sgemm64_t)sym("cblas_sgemm64_");
  if (!s32 && !s64) {
    dlclose(h);
    return false;
  }
  if (s32) g_sgemm32 = s32; else g_sgemm64 = s64;
  g_info.name = kind.empty() ? "BLAS" : kind;
  g_info.path = lib_path(h);
  g_info.config = config;
  if (kind == "OpenBLAS") {
    g_set_threads = (void (*)(int))sym("openblas_set_num_threads");
    if (!g_set_threads) g_set_threads = (void (*)(int))sym("openblas_set_num_threads64_");
  } else if (kind == "MKL") {
    g_set_threads = (void (*)(int))sym("MKL_Set_Num_Threads");
  } else if (kind == "BLIS") {
    g_set_threads = (void (*)(int))sym("bli_thread_set_num_threads");
  }
  return true;  // the handle stays open for the life of the process
}

void init_once() {
  g_threads = default_threads();
  const char* env = std::getenv("DEEPGEN_BLAS");
  bool found = false;
  if (env && *env) {
    if (std::strcmp(env, "builtin") == 0) {
      g_info.name = "builtin";
      found = true;
      g_info.config = "forced by DEEPGEN_BLAS=builtin";
    } else {
      found = try_lib(env, false);
      if (!found) g_info.warning = std::string("DEEPGEN_BLAS=") + env + " could not be loaded";
    }
  }
  const char* candidates[] = {
#ifdef __APPLE__
      "/System/Library/Frameworks/Accelerate.framework/Accelerate",
      "libopenblas.dylib",
#endif
      "libopenblas.so.0",
      "libopenblas.so",
      "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
      "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0",
      "/usr/lib/x86_64-linux-gnu/openblas-serial/libopenblas.so.0",
      "libopenblasp-r0.so",
      "libopenblas64_.so.0",
      "libopenblas64.so.0",
      "libmkl_rt.so.2",
      "libmkl_rt.so",
      "libblis.so.4",
      "libblis-mt.so.4",
      "libblis.so",
  };
  for (const char* c : candidates) {
    if (found) break;
    found = try_lib(c, false);
  }
  if (!found) found = try_lib("libblas.so.3", true) || try_lib("libcblas.so.3", true);
  if (!found) {
    g_info.name = "builtin";
    g_info.path = "";
  }
  if (g_set_threads) g_set_threads(g_threads);
}

}  // namespace

void blas_init() { std::call_once(g_once, init_once); }
const BlasInfo& blas_info() {
  blas_init();
  return g_info;
}
int threads() {
  blas_init();
  return g_threads;
}
void set_threads(int n) {
  blas_init();
  g_threads = n >= 1 ? n : 1;
  if (g_set_threads) g_set_threads(g_threads);
}

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  blas_init();
  if (M <= 0 || N <= 0) return;
  const int64_t big = INT_MAX;
  // Small products (under ~4 MFLOP, e.g. a time-embedding projection) run on the built-in kernel: a BLAS call wakes
  // its thread pool, whose start-up and spinning cost more than the product. Rank-1 updates (bias adds) stay.
  if (K >= 4 && double(M) * double(N) * double(K) < double(1 << 21)) {
    sgemm_builtin(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  if (g_sgemm32 && M < big && N < big && K < big && lda < big && ldb < big && ldc < big && K > 0) {
    g_sgemm32(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, int(M), int(N), int(K), alpha, A,
              int(lda), B, int(ldb), beta, C, int(ldc));
  } else if (g_sgemm64 && K > 0) {
    g_sgemm64(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C,
              ldc);
  } else {
    sgemm_builtin(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
}

}  // namespace dg
