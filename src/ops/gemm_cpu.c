// GEMM on the CPU: OpenBLAS (vkd_sgemm) per batch, plus the bias-gradient column sums.
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "ops_impl.h"

// Below this many multiply-adds per batch vkd_sgemm runs OpenBLAS single-threaded
// (blas.h), so the batches themselves are spread over the cores.
#define GEMM_SMALL_MNK ((long)VKD_SGEMM_SINGLE_MNK)

// C (M,N) = beta C + bias, broadcast over rows; C is not read when beta == 0.
static void init_rows_with_bias(float *C, const float *bias, int M, int N, float beta) {
    for (int m = 0; m < M; m++) {
        float *row = C + (size_t)m * N;
        if (beta == 0.0f)
            memcpy(row, bias, (size_t)N * sizeof(float));
        else
            for (int n = 0; n < N; n++) row[n] = beta * row[n] + bias[n];
    }
}

// One batch: C = alpha op(A) op(B) + beta C + bias. The bias goes into C first so that
// the product accumulates onto it with beta = 1.
static void gemm_one(const vkd_gemm_t *g, float *C, const float *A, const float *B,
                     const float *bias, float beta) {
    const int lda = g->trans_a ? g->M : g->K, ldb = g->trans_b ? g->K : g->N;
    if (bias) {
        init_rows_with_bias(C, bias, g->M, g->N, beta);
        beta = 1.0f;
    }
    vkd_sgemm(g->trans_a, g->trans_b, g->M, g->N, g->K, g->alpha, A, lda, B, ldb, beta, C, g->N);
}

vkd_status_t gemm_forward_cpu(vkd_backend_t *be, vkd_buf_t c, vkd_buf_t a, vkd_buf_t b,
                              vkd_buf_t bias, const vkd_gemm_t *g) {
    (void)be;
    float *C = c.host;                                           // (batch, M, N)
    const float *A = a.host;                                     // (batch, M, K) / (batch, K, M)
    const float *B = b.host;                                     // (batch, K, N) / (batch, N, K)
    const float *bs = vkd_buf_present(bias) ? bias.host : NULL; // (N)
    if (g->batch > 1 && g->stride_c == 0) {
        // Shared output: every batch accumulates into the one C (bias added once).
        gemm_one(g, C, A, B, bs, g->beta);
        for (int i = 1; i < g->batch; i++)
            gemm_one(g, C, A + i * g->stride_a, B + i * g->stride_b, NULL, 1.0f);
        return VKD_OK;
    }
    const long mnk = (long)g->M * g->N * g->K;
#pragma omp parallel for schedule(dynamic) if (g->batch > 1 && mnk < GEMM_SMALL_MNK)
    for (int i = 0; i < g->batch; i++)
        gemm_one(g, C + i * g->stride_c, A + i * g->stride_a, B + i * g->stride_b, bs, g->beta);
    return VKD_OK;
}

// dbias (N) += column sums of dc (rows, N). Each thread sums a block of rows into its
// own partial vector (contiguous, vectorised), then the partials are added in order.
vkd_status_t bias_grad_cpu(vkd_backend_t *be, vkd_buf_t dbias, vkd_buf_t dc, int rows, int N) {
    (void)be;
    float *out = dbias.host;    // (N)
    const float *x = dc.host;   // (rows, N)
    enum { MAX_PARTS = 64 };
    int parts = rows / 256 < MAX_PARTS ? rows / 256 : MAX_PARTS;
    if (parts < 1) parts = 1;
    float *part = calloc((size_t)parts * N, sizeof(float)); // (parts, N)
    if (!part)
        return vkd_fail(VKD_ERR_NOMEM, "bias_grad: out of host memory for %d x %d partial sums",
                        parts, N);
#pragma omp parallel for schedule(static) if (parts > 1)
    for (int p = 0; p < parts; p++) {
        float *acc = part + (size_t)p * N;
        const int r0 = (int)((long)rows * p / parts), r1 = (int)((long)rows * (p + 1) / parts);
        for (int r = r0; r < r1; r++) {
            const float *row = x + (size_t)r * N;
            for (int n = 0; n < N; n++) acc[n] += row[n];
        }
    }
    for (int p = 0; p < parts; p++)
        for (int n = 0; n < N; n++) out[n] += part[(size_t)p * N + n];
    free(part);
    return VKD_OK;
}
