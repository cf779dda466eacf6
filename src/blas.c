// OpenBLAS kernel choice, its correctness check, and the CPU GEMM entry point.
// See blas.h for why this exists.
#include "blas.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// OpenBLAS extensions (not in cblas.h on every distribution).
char *openblas_get_corename(void);
char *openblas_get_config(void);
int openblas_get_num_threads(void);
int openblas_get_parallel(void);
void openblas_set_num_threads(int n);

// Process-wide by nature: the library's kernel is chosen once per process.
static vkd_blas_info_t g_info;
static int g_ready;

// Kernel tiers by instruction set; a library core below the CPU's tier is a misdetection.
static int core_tier(const char *core) {
    static const char *avx512[] = {"skylakex", "cooperlake", "sapphirerapids"};
    static const char *avx2[] = {"haswell", "zen", "skylake"};
    static const char *avx[] = {"sandybridge", "bulldozer", "piledriver", "steamroller",
                                "excavator"};
    for (size_t i = 0; i < sizeof avx512 / sizeof *avx512; i++)
        if (!strcasecmp(core, avx512[i])) return 3;
    for (size_t i = 0; i < sizeof avx2 / sizeof *avx2; i++)
        if (!strcasecmp(core, avx2[i])) return 2;
    for (size_t i = 0; i < sizeof avx / sizeof *avx; i++)
        if (!strcasecmp(core, avx[i])) return 1;
    return 0;
}

// Candidate kernels for this CPU, best first (NULL-terminated).
static const char **cpu_candidates(void) {
#if defined(__x86_64__)
    static const char *k512[] = {"SkylakeX", "Haswell", NULL};
    static const char *k2[] = {"Haswell", NULL};
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return k512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return k2;
#endif
    static const char *none[] = {NULL};
    return none;
}

// ---- the plain-C reference GEMM ----------------------------------------------------------

void vkd_sgemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc) {
    // Row i of C accumulates alpha * A[i,k] * B[k,:] over k: the inner loop runs along a
    // row of B (contiguous when not transposed) and vectorises.
#pragma omp parallel for schedule(static) if ((long)M * N * K > 32768)
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        if (beta == 0.0f) memset(c, 0, sizeof(float) * (size_t)N);
        else if (beta != 1.0f)
            for (int j = 0; j < N; j++) c[j] *= beta;
        for (int k = 0; k < K; k++) {
            float a = alpha * (ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]);
            if (!tb) {
                const float *b = B + (size_t)k * ldb;
                for (int j = 0; j < N; j++) c[j] += a * b[j];
            } else {
                for (int j = 0; j < N; j++) c[j] += a * B[(size_t)j * ldb + k];
            }
        }
    }
}

void vkd_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { // C = beta C; BLAS does the same, but some builds choke on K = 0
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    if (!g_ready) vkd_blas_init(0, NULL);
    if (!g_info.use_openblas) {
        vkd_sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    // A mid-size GEMM split over OpenBLAS's threads costs more CPU than it saves: its level-3
    // driver synchronises the workers by spinning on shared flags (sched_yield), and on a
    // loaded 2-core machine a descheduled worker stalls the other. Inside a parallel region
    // OpenBLAS (OpenMP build) already runs on one thread, and the thread count is a global
    // of the library, so it is only switched from outside one.
    const double mnk = (double)M * N * K;
    const int single = mnk < VKD_SGEMM_SINGLE_MNK && !omp_in_parallel();
    const int prev = single ? vkd_blas_single_begin() : 1;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
                N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (single) vkd_blas_single_end(prev);
}

int vkd_blas_single_begin(void) {
    const int prev = openblas_get_num_threads();
    if (prev > 1) openblas_set_num_threads(1);
    return prev;
}

void vkd_blas_single_end(int prev) {
    if (prev > 1) openblas_set_num_threads(prev);
}

// ---- the correctness check -------------------------------------------------------------

// Compare OpenBLAS against a double-precision product on shapes that exercise the edge
// handling of its kernels (odd sizes, all transposes, alpha/beta). Returns max rel error.
static double check_kernel(void) {
    static const int shapes[][3] = {{97, 83, 71}, {256, 64, 64}, {5, 130, 17}, {64, 1, 300}};
    double worst = 0;
    uint32_t st = 12345u;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
        float *C = malloc(sizeof(float) * M * N);
        double *R = malloc(sizeof(double) * M * N);
        if (!A || !B || !C || !R) {
            free(A), free(B), free(C), free(R);
            return INFINITY;
        }
        for (int i = 0; i < M * K; i++) A[i] = (float)((st = st * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
        for (int i = 0; i < K * N; i++) B[i] = (float)((st = st * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
        for (int t = 0; t < 4; t++) {
            int ta = t & 1, tb = t >> 1;
            float alpha = 0.75f, beta = t == 3 ? 0.5f : 0.0f;
            for (int i = 0; i < M * N; i++) C[i] = 1.0f;
            double maxref = 0, maxerr = 0;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double acc = 0;
                    for (int k = 0; k < K; k++)
                        acc += (double)(ta ? A[k * M + i] : A[i * K + k]) *
                               (tb ? B[j * K + k] : B[k * N + j]);
                    R[i * N + j] = alpha * acc + beta * 1.0;
                    if (fabs(R[i * N + j]) > maxref) maxref = fabs(R[i * N + j]);
                }
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                        M, N, K, alpha, A, ta ? M : K, B, tb ? K : N, beta, C, N);
            for (int i = 0; i < M * N; i++) {
                double e = fabs(C[i] - R[i]);
                if (!(e <= maxerr)) maxerr = isnan(e) ? INFINITY : e;
            }
            double rel = maxerr / (maxref > 0 ? maxref : 1);
            if (rel > worst) worst = rel;
        }
        free(A), free(B), free(C), free(R);
    }
    return worst;
}

#define CHECK_TOL 1e-5

static void reexec(char **argv, const char *core, const char *tried) {
    if (!argv) return; // initialised lazily from a library call: cannot restart
    unsetenv("VKDREAM_BLAS_SIMULATED");
    setenv("OPENBLAS_CORETYPE", core, 1);
    setenv("VKDREAM_BLAS_AUTO", core, 1);
    setenv("VKDREAM_BLAS_TRIED", tried, 1);
    fflush(NULL);
    execv("/proc/self/exe", argv);
    // exec failed: carry on with the kernel we have (reported by `vkdream info`).
}

vkd_status_t vkd_blas_init(int argc, char **argv) {
    (void)argc;
    if (g_ready) return VKD_OK;
    g_ready = 1;
    const char *user = getenv("OPENBLAS_CORETYPE");
    const char *autoset = getenv("VKDREAM_BLAS_AUTO");
    const char *tried = getenv("VKDREAM_BLAS_TRIED");
    const char *simulate = getenv("VKDREAM_BLAS_SIMULATE_MISDETECT");
    int no_reexec = getenv("VKDREAM_NO_REEXEC") != NULL;
    int user_set = user && user[0] && !(autoset && !strcmp(autoset, user));

    // Test hook: make the library start on the generic kernel, as on CPUs it does not
    // know, so that the automatic upgrade below can be exercised on any machine.
    if (simulate && !user && !autoset && !no_reexec && argv) {
        setenv("OPENBLAS_CORETYPE", "Prescott", 1);
        setenv("VKDREAM_BLAS_AUTO", "Prescott", 1);
        setenv("VKDREAM_BLAS_SIMULATED", "1", 1);
        unsetenv("VKDREAM_BLAS_SIMULATE_MISDETECT");
        fflush(NULL);
        execv("/proc/self/exe", argv);
    }
    int simulated = getenv("VKDREAM_BLAS_SIMULATED") != NULL;

    const char *core = openblas_get_corename();
    snprintf(g_info.core, sizeof g_info.core, "%s", core ? core : "unknown");
    snprintf(g_info.config, sizeof g_info.config, "%s", openblas_get_config());
    g_info.threads = openblas_get_num_threads();
    g_info.parallel = openblas_get_parallel();
    if (user_set) snprintf(g_info.source, sizeof g_info.source, "OPENBLAS_CORETYPE set by user");
    else if (autoset && !simulated) snprintf(g_info.source, sizeof g_info.source, "auto-selected by vkdream");
    else snprintf(g_info.source, sizeof g_info.source, "library default%s",
                  simulated ? " (simulated misdetection)" : "");

    // Upgrade a misdetected kernel (only when the user chose nothing).
    const char **cand = cpu_candidates();
    if (!user_set && !no_reexec && cand[0] && core_tier(core) < core_tier(cand[0]) &&
        !(autoset && !simulated)) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", cand[0]);
        reexec(argv, cand[0], buf);
    }

    g_info.check_rel_err = check_kernel();
    // Test hook: treat the named kernel as one that computes wrong results.
    const char *bad = getenv("VKDREAM_BLAS_SIMULATE_BAD_KERNEL");
    if (bad && !strcasecmp(bad, g_info.core)) g_info.check_rel_err = 1.0;
    g_info.verified = g_info.check_rel_err < CHECK_TOL;
    g_info.use_openblas = g_info.verified;
    if (g_info.verified) return VKD_OK;

    // A kernel that computes wrong results is never used. Try the next candidate we
    // have not tried (automatic choice only), else fall back to the plain-C GEMM.
    if (!user_set && !no_reexec && autoset) {
        for (int i = 0; cand[i]; i++) {
            if (tried && strstr(tried, cand[i])) continue;
            char buf[512];
            snprintf(buf, sizeof buf, "%s,%s", tried ? tried : "", cand[i]);
            fprintf(stderr, "vkdream: OpenBLAS kernel %s failed its check (rel err %.2g); trying %s\n",
                    g_info.core, g_info.check_rel_err, cand[i]);
            reexec(argv, cand[i], buf);
        }
    }
    fprintf(stderr, "vkdream: OpenBLAS kernel %s computes wrong results (rel err %.2g); using the "
            "slower built-in GEMM instead\n", g_info.core, g_info.check_rel_err);
    snprintf(g_info.source + strlen(g_info.source), sizeof g_info.source - strlen(g_info.source),
             ", failed check");
    return VKD_OK;
}

const vkd_blas_info_t *vkd_blas_info(void) { return &g_info; }
