// GroupNorm on the CPU: one (batch, group) at a time, spread over OpenMP threads.
//
// A group's C/G channels are contiguous in (B, C, HW), so each group is one run of
// (C/G)*HW floats, normalised with the same statistics as a LayerNorm row (norm_row.h:
// about the group's first element, variance in a second pass, both sums in double).
#include <stdlib.h>

#include "norm_row.h"
#include "ops_impl.h"

#define GN_PAR_MIN (1 << 17) // elements; see PAR_MIN in elementwise_cpu.c

// One (batch, group): its statistics and normalised, affine output.
NORM_SIMD_CLONES
static void gn_group_forward(float *yg, float *mu, float *rs, const float *xg, const float *w,
                             const float *bb, int g, int cpg, int HW, float eps) {
    // yg, xg (C/G, HW); w, bb (C) or NULL
    const vkd_norm_stats_t st = vkd_norm_row_stats(xg, cpg * HW, eps);
    const float x0 = st.x0, ms = st.ms, r = st.r;
    *mu = st.mean;
    *rs = r;
    for (int cc = 0; cc < cpg; cc++) {
        const int c = g * cpg + cc;
        const float a = w ? r * w[c] : r, sh = bb ? bb[c] : 0.0f;
        const float *xc = xg + (size_t)cc * HW;
        float *yc = yg + (size_t)cc * HW;
        for (int j = 0; j < HW; j++) yc[j] = ((xc[j] - x0) - ms) * a + sh;
    }
}

vkd_status_t groupnorm_forward_cpu(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t mean,
                                   vkd_buf_t rstd, vkd_buf_t inp, vkd_buf_t weight,
                                   vkd_buf_t bias, const vkd_groupnorm_t *d) {
    (void)be;
    float *y = out.host;          // (B, C, HW)
    float *mu = mean.host;        // (B, G)
    float *rs = rstd.host;        // (B, G)
    const float *x = inp.host;    // (B, C, HW)
    const float *w = vkd_buf_present(weight) ? weight.host : NULL; // (C) or NULL = 1
    const float *bb = vkd_buf_present(bias) ? bias.host : NULL;    // (C) or NULL = 0
    const int C = d->C, HW = d->HW, G = d->G, cpg = C / G;
    const int n = cpg * HW; // elements per group
    const int items = d->B * G;
#pragma omp parallel for schedule(static) if ((long long)items * n > GN_PAR_MIN)
    for (int it = 0; it < items; it++) {
        const size_t o = (size_t)it * (size_t)n; // group `it` = (b, g) starts here
        gn_group_forward(y + o, mu + it, rs + it, x + o, w, bb, it % G, cpg, HW, d->eps);
    }
    return VKD_OK;
}

vkd_status_t groupnorm_backward_cpu(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dweight,
                                    vkd_buf_t dbias, vkd_buf_t dout, vkd_buf_t inp,
                                    vkd_buf_t weight, vkd_buf_t mean, vkd_buf_t rstd,
                                    const vkd_groupnorm_t *d) {
    (void)be;
    float *dx = dinp.host;        // (B, C, HW)
    const float *dy = dout.host;  // (B, C, HW)
    const float *x = inp.host;    // (B, C, HW)
    const float *w = vkd_buf_present(weight) ? weight.host : NULL; // (C) or NULL = 1
    const float *mu = mean.host;  // (B, G)
    const float *rs = rstd.host;  // (B, G)
    const int B = d->B, C = d->C, HW = d->HW, G = d->G, cpg = C / G;
    const int n = cpg * HW;
    const int items = B * G;
    const int want_w = vkd_buf_present(dweight), want_b = vkd_buf_present(dbias);

    // Per-(b, c) sums (B, 2, C) in double: the (b, g) items of different batches touch the
    // same channels, so each writes its own row and the rows are added in order at the end.
    double *part = NULL;
    if (want_w || want_b) {
        part = calloc((size_t)B * 2 * (size_t)C, sizeof *part);
        if (!part)
            return vkd_fail(VKD_ERR_NOMEM, "op_groupnorm_backward: no memory for %d x %d partial sums",
                            B, 2 * C);
    }
#pragma omp parallel for schedule(static) if ((long long)items * n > GN_PAR_MIN)
    for (int it = 0; it < items; it++) {
        const int b = it / G, g = it % G;
        const size_t o = (size_t)it * (size_t)n;
        const float m = mu[it], r = rs[it];
        // Group sums of dy*w and dy*w*xhat.
        float sg = 0.0f, sgx = 0.0f;
        for (int cc = 0; cc < cpg; cc++) {
            const int c = g * cpg + cc;
            const float wc = w ? w[c] : 1.0f;
            const float *xc = x + o + (size_t)cc * HW, *gc = dy + o + (size_t)cc * HW;
            float a = 0.0f, ax = 0.0f;
#pragma omp simd reduction(+ : a, ax)
            for (int j = 0; j < HW; j++) {
                a += gc[j];
                ax += gc[j] * ((xc[j] - m) * r);
            }
            sg += wc * a;
            sgx += wc * ax;
            if (part) {
                part[(size_t)b * 2 * C + c] += (double)ax;
                part[(size_t)b * 2 * C + C + c] += (double)a;
            }
        }
        const float mg = sg / (float)n, mgx = sgx / (float)n;
        for (int cc = 0; cc < cpg; cc++) {
            const int c = g * cpg + cc;
            const float wc = w ? w[c] : 1.0f;
            const float *xc = x + o + (size_t)cc * HW, *gc = dy + o + (size_t)cc * HW;
            float *dc = dx + o + (size_t)cc * HW;
            for (int j = 0; j < HW; j++) dc[j] += r * (gc[j] * wc - mg - ((xc[j] - m) * r) * mgx);
        }
    }
    if (part) {
        vkd_norm_add_partials(part, B, C, want_w ? dweight.host : NULL,
                              want_b ? dbias.host : NULL);
        free(part);
    }
    return VKD_OK;
}
