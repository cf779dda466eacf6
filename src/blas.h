// OpenBLAS kernel choice and the GEMM entry point of the CPU backend.
//
// Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) does not recognise recent CPUs (e.g. AMD Zen 5)
// and falls back to its generic "Prescott" kernels, 5x slower than the AVX-512 ones. The
// core type can only be chosen through OPENBLAS_CORETYPE before the library initialises,
// so vkd_blas_init() re-executes the program with it set when the user set nothing and
// the CPU supports a better kernel, then checks the kernel's results against a plain-C
// reference; a kernel that computes wrong results is not used (the next candidate is
// tried, and in the end vkdream's own plain-C GEMM).
#ifndef VKD_BLAS_H
#define VKD_BLAS_H

#include "status.h"

// Call first thing in main() of every program. May not return (re-exec). Idempotent.
vkd_status_t vkd_blas_init(int argc, char **argv);

typedef struct {
    char core[64];        // OpenBLAS core name in use, or "none" (plain-C GEMM)
    char config[256];     // openblas_get_config()
    char source[64];      // "user OPENBLAS_CORETYPE", "auto-selected", "library default", ...
    int threads;
    int parallel;         // 0 sequential, 1 pthreads, 2 OpenMP
    int verified;         // the correctness check passed
    double check_rel_err; // of the check
    int use_openblas;     // 0: every GEMM goes to the plain-C fallback
} vkd_blas_info_t;
const vkd_blas_info_t *vkd_blas_info(void);

// Row-major single-precision GEMM: C (M,N) = alpha op(A) op(B) + beta C.
// lda/ldb/ldc are row strides in elements.
void vkd_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
               int lda, const float *B, int ldb, float beta, float *C, int ldc);
// GEMMs below this many multiply-adds run on one OpenBLAS thread (vkd_sgemm): measured on
// the bundled prior's UNet forward, B = 2 (bench/RESULTS.md).
#define VKD_SGEMM_SINGLE_MNK 1e7
// OpenBLAS single-threaded until _end (the count is process-wide: call both outside any
// parallel region, from one thread). Returns the previous thread count for _end.
int vkd_blas_single_begin(void);
void vkd_blas_single_end(int prev);
// The plain-C reference (also the fallback): blocked, OpenMP-parallel, slow but correct.
void vkd_sgemm_ref(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc);

#endif
