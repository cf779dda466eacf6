// LayerNorm on the CPU: one row at a time, rows spread over OpenMP threads. The row
// statistics (shifted, two-pass, summed in double) are norm_row.h's, shared with GroupNorm.
#include <omp.h>
#include <stdlib.h>

#include "norm_row.h"
#include "ops_impl.h"

// Elements (N*D) below which threads cost more than they save.
#define LN_PAR_MIN (1 << 17) // elements; see PAR_MIN in elementwise_cpu.c

NORM_SIMD_CLONES
static void ln_row_forward(float *y, float *mean, float *rstd, const float *x,
                           const float *w, const float *b, int D, float eps) {
    const vkd_norm_stats_t st = vkd_norm_row_stats(x, D, eps);
    const float x0 = st.x0, ms = st.ms, r = st.r;
    *mean = st.mean;
    *rstd = r;
    for (int j = 0; j < D; j++) y[j] = ((x[j] - x0) - ms) * r;
    if (w)
        for (int j = 0; j < D; j++) y[j] *= w[j];
    if (b)
        for (int j = 0; j < D; j++) y[j] += b[j];
}

vkd_status_t layernorm_forward_cpu(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t mean,
                                   vkd_buf_t rstd, vkd_buf_t inp, vkd_buf_t weight,
                                   vkd_buf_t bias, int N, int D, float eps) {
    (void)be;
    float *y = out.host;          // (N, D)
    float *mu = mean.host;        // (N)
    float *rs = rstd.host;        // (N)
    const float *x = inp.host;    // (N, D)
    const float *w = vkd_buf_present(weight) ? weight.host : NULL; // (D) or NULL = 1
    const float *b = vkd_buf_present(bias) ? bias.host : NULL;     // (D) or NULL = 0
#pragma omp parallel for schedule(static) if ((long long)N * D > LN_PAR_MIN)
    for (int i = 0; i < N; i++) {
        size_t o = (size_t)i * (size_t)D;
        ln_row_forward(y + o, mu + i, rs + i, x + o, w, b, D, eps);
    }
    return VKD_OK;
}

// dinp of one row; when pw/pb are given, also adds this row's dweight/dbias terms.
static void ln_row_backward(float *dx, double *pw, double *pb, const float *g, const float *x,
                            const float *w, float mu, float r, int D) {
    float sg = 0.0f, sgx = 0.0f; // sum(g w), sum(g w xhat)
#pragma omp simd reduction(+ : sg, sgx)
    for (int j = 0; j < D; j++) {
        float gw = w ? g[j] * w[j] : g[j];
        sg += gw;
        sgx += gw * ((x[j] - mu) * r);
    }
    const float mg = sg / (float)D, mgx = sgx / (float)D;
    if (w) {
        for (int j = 0; j < D; j++)
            dx[j] += r * (g[j] * w[j] - mg - ((x[j] - mu) * r) * mgx);
    } else {
        for (int j = 0; j < D; j++) dx[j] += r * (g[j] - mg - ((x[j] - mu) * r) * mgx);
    }
    if (pw)
        for (int j = 0; j < D; j++) pw[j] += (double)(g[j] * ((x[j] - mu) * r));
    if (pb)
        for (int j = 0; j < D; j++) pb[j] += (double)g[j];
}

vkd_status_t layernorm_backward_cpu(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dweight,
                                    vkd_buf_t dbias, vkd_buf_t dout, vkd_buf_t inp,
                                    vkd_buf_t weight, vkd_buf_t mean, vkd_buf_t rstd, int N,
                                    int D) {
    (void)be;
    float *dx = dinp.host;        // (N, D)
    const float *g = dout.host;   // (N, D)
    const float *x = inp.host;    // (N, D)
    const float *w = vkd_buf_present(weight) ? weight.host : NULL; // (D) or NULL = 1
    const float *mu = mean.host;  // (N)
    const float *rs = rstd.host;  // (N)
    const int want_w = vkd_buf_present(dweight), want_b = vkd_buf_present(dbias);

    // dweight/dbias are sums over rows: each thread sums its rows into its own double
    // partials (threads, 2, D), added up in a fixed order afterwards (no races, and
    // the same result for the same thread count).
    const int nt = omp_get_max_threads();
    double *part = NULL; // (nt, 2, D)
    if (want_w || want_b) {
        part = calloc((size_t)nt * 2 * (size_t)D, sizeof *part);
        if (!part)
            return vkd_fail(VKD_ERR_NOMEM, "op_layernorm_backward: no memory for %d x %d partial sums",
                            nt, 2 * D);
    }
#pragma omp parallel num_threads(nt) if ((long long)N * D > LN_PAR_MIN)
    {
        double *pw = NULL, *pb = NULL;
        if (part) {
            double *mine = part + (size_t)omp_get_thread_num() * 2 * (size_t)D;
            pw = want_w ? mine : NULL;
            pb = want_b ? mine + D : NULL;
        }
#pragma omp for schedule(static)
        for (int i = 0; i < N; i++) {
            size_t o = (size_t)i * (size_t)D;
            ln_row_backward(dx + o, pw, pb, g + o, x + o, w, mu[i], rs[i], D);
        }
    }
    if (part) {
        vkd_norm_add_partials(part, nt, D, want_w ? dweight.host : NULL,
                              want_b ? dbias.host : NULL);
        free(part);
    }
    return VKD_OK;
}
