/* Stand-in libcublas.so.12 for xrnn's _cublas_capture (NOT cuBLAS): a reference column-major GEMM with
   cuBLAS's argument checks, a handle -> stream binding, and a capture hook (a GEMM issued on a capturing
   stream is handed to Python as a record, alpha and beta read by value, and executed when the graph
   replays). Valid C and C++; compiled as C++ by cupy/_build.py on first use, with the soname libcublas.so.12. */
#include <stdint.h>
#include <string.h>
#include <stdio.h>
#include <pthread.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct { void *stream; int pointer_mode; int set_stream_calls; } Handle;
typedef struct {
  int dbl, ta, tb, m, n, k; double alpha, beta;
  const void *A; int lda; const void *B; int ldb; void *C; int ldc;
} GemmRecord;
typedef void (*hook_t)(const GemmRecord *);

#define MAX 256
static Handle handles[MAX];
static int n_handles = 0;
static void *capturing[MAX];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static hook_t hook = 0;
static long gemm_calls = 0;

void *standin_new_handle(void) {
  pthread_mutex_lock(&lock);
  void *h = n_handles < MAX ? &handles[n_handles++] : 0;
  pthread_mutex_unlock(&lock);
  return h;
}
static int valid(void *h) { return h >= (void *)&handles[0] && h < (void *)&handles[n_handles]; }
static int is_capturing(void *stream) {
  int found = 0;
  pthread_mutex_lock(&lock);
  for (int k = 0; k < MAX; ++k) if (capturing[k] && capturing[k] == stream) found = 1;
  pthread_mutex_unlock(&lock);
  return found;
}
void standin_set_hook(hook_t h) { hook = h; }
int standin_set_capturing(void *stream, int on) {
  int done = 0;
  pthread_mutex_lock(&lock);
  for (int k = 0; k < MAX && !done; ++k) {
    if (on && !capturing[k]) { capturing[k] = stream; done = 1; }
    else if (!on && capturing[k] == stream) { capturing[k] = 0; done = 1; }
  }
  pthread_mutex_unlock(&lock);
  return done ? 0 : 1;
}
void *standin_handle_stream(void *h) { return ((Handle *)h)->stream; }
int standin_handle_pointer_mode(void *h) { return ((Handle *)h)->pointer_mode; }
long standin_gemm_calls(void) { return gemm_calls; }

int cublasSetStream_v2(void *h, void *stream) {
  if (!valid(h)) return 1; /* NOT_INITIALIZED */
  ((Handle *)h)->stream = stream; ((Handle *)h)->set_stream_calls++; return 0;
}
int cublasSetPointerMode_v2(void *h, int mode) {
  if (!valid(h)) return 1;
  if (mode != 0 && mode != 1) return 7;
  ((Handle *)h)->pointer_mode = mode; return 0;
}

#define AT(P, ld, r, c) P[(size_t)(r) + (size_t)(c) * (size_t)(ld)]
#define GEMM_BODY(TYPE)                                                                 \
  const TYPE *A = (const TYPE *)r->A, *B = (const TYPE *)r->B; TYPE *C = (TYPE *)r->C; \
  for (int j = 0; j < r->n; ++j)                                                        \
    for (int i = 0; i < r->m; ++i) {                                                    \
      TYPE sum = 0;                                                                     \
      for (int l = 0; l < r->k; ++l) {                                                  \
        TYPE a = r->ta ? AT(A, r->lda, l, i) : AT(A, r->lda, i, l);                   \
        TYPE b = r->tb ? AT(B, r->ldb, j, l) : AT(B, r->ldb, l, j);                   \
        sum += a * b;                                                                   \
      }                                                                                 \
      TYPE value = (TYPE)r->alpha * sum;                                                \
      if (r->beta != 0) value += (TYPE)r->beta * AT(C, r->ldc, i, j);                   \
      AT(C, r->ldc, i, j) = value;                                                      \
    }

void standin_gemm_exec(const GemmRecord *r) {
  if (r->dbl) { GEMM_BODY(double) } else { GEMM_BODY(float) }
}

static int max1(int v) { return v > 1 ? v : 1; }

static int gemm(void *h, int dbl, int ta, int tb, int m, int n, int k, double alpha, const void *A, int lda,
                const void *B, int ldb, double beta, void *C, int ldc) {
  if (!valid(h)) return 1;
  if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1)) return 7;
  if (m < 0 || n < 0 || k < 0) return 7;
  if (lda < max1(ta == 0 ? m : k) || ldb < max1(tb == 0 ? k : n) || ldc < max1(m)) return 7; /* INVALID_VALUE */
  __sync_fetch_and_add(&gemm_calls, 1);
  GemmRecord r = {dbl, ta, tb, m, n, k, alpha, beta, A, lda, B, ldb, C, ldc};
  if (is_capturing(((Handle *)h)->stream)) { /* recorded into that stream's graph, run at replay */
    if (!hook) return 13;
    hook(&r);
    return 0;
  }
  standin_gemm_exec(&r);
  return 0;
}

int cublasSgemm_v2(void *h, int ta, int tb, int m, int n, int k, const float *alpha, const float *A, int lda,
                   const float *B, int ldb, const float *beta, float *C, int ldc) {
  return gemm(h, 0, ta, tb, m, n, k, *alpha, A, lda, B, ldb, *beta, C, ldc);
}
int cublasDgemm_v2(void *h, int ta, int tb, int m, int n, int k, const double *alpha, const double *A, int lda,
                   const double *B, int ldb, const double *beta, double *C, int ldc) {
  return gemm(h, 1, ta, tb, m, n, k, *alpha, A, lda, B, ldb, *beta, C, ldc);
}

#ifdef __cplusplus
}  /* extern "C" */
#endif
