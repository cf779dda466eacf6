// OpenBLAS's own cblas_sgemm on the shapes `vkdream info --bench` uses, with no vkdream
// code in between: the peer that the CPU backend's GEMM rate is compared with. The kernel
// is whatever OPENBLAS_CORETYPE (or the library's own detection) selects; it is printed.
//   usage: bench_sgemm [seconds-per-shape]
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

char *openblas_get_corename(void);
int openblas_get_num_threads(void);

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    double budget = argc > 1 ? atof(argv[1]) : 0.5;
    static const int shapes[][3] = {{65536, 64, 64}, {65536, 128, 128}, {1024, 64, 576},
                                    {1024, 1024, 1024}};
    printf("OpenBLAS core %s, %d thread(s)\n", openblas_get_corename(), openblas_get_num_threads());
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
        float *C = malloc(sizeof(float) * M * N);
        if (!A || !B || !C) return 1;
        for (long i = 0; i < (long)M * K; i++) A[i] = (float)(i % 13) * 0.01f;
        for (long i = 0; i < (long)K * N; i++) B[i] = (float)(i % 7) * 0.01f;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, A, K, B, N, 0, C, N);
        // Median of single calls, as `vkdream info --bench` reports for the CPU backend.
        enum { MAX_REPS = 200 };
        double t[MAX_REPS];
        int reps = 0;
        double start = now_s();
        do {
            double t0 = now_s();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, A, K, B, N, 0, C, N);
            t[reps++] = now_s() - t0;
        } while (now_s() - start < budget && reps < MAX_REPS);
        qsort(t, (size_t)reps, sizeof *t, cmp_double);
        double med = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
        printf("  %5d x %4d x %4d  %8.3f ms  %7.1f GFLOP/s  (median of %d)\n", M, N, K, med * 1e3,
               2.0 * M * N * K / med * 1e-9, reps);
        free(A), free(B), free(C);
    }
    return 0;
}
