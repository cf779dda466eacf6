// Sum / mean over the middle axis of (outer, n, inner) on the CPU.
//
// Accumulation: float with Kahan compensation everywhere (error O(eps) + O(n eps^2),
// independent of n to first order), in 16 independent lanes along a contiguous row
// (inner == 1) or one lane per column across rows (inner > 1), so the loops vectorise.
// (The build is ISO C without -ffast-math, so the compiler keeps the compensation.)
// Long rows are cut into fixed chunks summed in parallel, then the chunk sums are
// Kahan-added in order: results do not depend on the thread count.
#include <stdlib.h>

#include "ops_impl.h"

#define RCHUNK 16384       // elements of a contiguous row per work item
#define COLS 256           // columns per work item when inner > 1
#define PAR_MIN (1 << 15)  // elements below which threads cost more than they save

typedef struct {
    float s, c; // running sum and compensation (true sum = s - c)
} kahan_t;

static inline void kahan_add(kahan_t *k, float v) {
    const float y = v - k->c;
    const float t = k->s + y;
    k->c = (t - k->s) - y;
    k->s = t;
}

// Kahan sum of x (len) in 16 lanes, lanes combined by a last Kahan pass.
static float row_sum(const float *x, size_t len) {
    float s[16] = {0}, c[16] = {0};
    size_t i = 0;
    for (; i + 16 <= len; i += 16) {
        for (int l = 0; l < 16; l++) {
            const float y = x[i + l] - c[l];
            const float t = s[l] + y;
            c[l] = (t - s[l]) - y;
            s[l] = t;
        }
    }
    kahan_t k = {0.0f, 0.0f};
    for (int l = 0; l < 16; l++) {
        kahan_add(&k, s[l]);
        kahan_add(&k, -c[l]);
    }
    for (; i < len; i++) kahan_add(&k, x[i]);
    return k.s - k.c;
}

// inner == 1: out[o] = scale * sum of the contiguous row o (n).
static vkd_status_t reduce_rows(float *out, const float *x, size_t outer, size_t n, float scale) {
    // out (outer), x (outer, n)
    const size_t nch = (n + RCHUNK - 1) / RCHUNK, items = outer * nch;
    float *part = malloc(items * sizeof *part); // (outer, nch)
    if (!part) return vkd_fail(VKD_ERR_NOMEM, "op_reduce_forward: %zu partial sums", items);
#pragma omp parallel for schedule(static) if (outer * n > PAR_MIN && items > 1)
    for (size_t it = 0; it < items; it++) {
        const size_t o = it / nch, ch = it % nch;
        const size_t i0 = ch * RCHUNK, len = (n - i0 < RCHUNK) ? n - i0 : RCHUNK;
        part[it] = row_sum(x + o * n + i0, len);
    }
    for (size_t o = 0; o < outer; o++) {
        kahan_t k = {0.0f, 0.0f};
        for (size_t ch = 0; ch < nch; ch++) kahan_add(&k, part[o * nch + ch]);
        out[o] = (k.s - k.c) * scale;
    }
    free(part);
    return VKD_OK;
}

// inner > 1: out[o, j] = scale * sum_i x[o, i, j], a block of COLS columns per work item
// walking the rows in order (contiguous inner loop over j).
static void reduce_cols(float *out, const float *x, size_t outer, size_t n, size_t inner,
                        float scale) {
    // out (outer, inner), x (outer, n, inner)
    const size_t nblk = (inner + COLS - 1) / COLS, items = outer * nblk;
#pragma omp parallel for schedule(static) if (outer * n * inner > PAR_MIN && items > 1)
    for (size_t it = 0; it < items; it++) {
        const size_t o = it / nblk, j0 = (it % nblk) * COLS;
        const size_t w = (inner - j0 < COLS) ? inner - j0 : COLS;
        float s[COLS], c[COLS];
        for (size_t j = 0; j < w; j++) s[j] = c[j] = 0.0f;
        for (size_t i = 0; i < n; i++) {
            const float *row = x + (o * n + i) * inner + j0; // (w)
            for (size_t j = 0; j < w; j++) {
                const float y = row[j] - c[j];
                const float t = s[j] + y;
                c[j] = (t - s[j]) - y;
                s[j] = t;
            }
        }
        for (size_t j = 0; j < w; j++) out[o * inner + j0 + j] = (s[j] - c[j]) * scale;
    }
}

static float reduce_scale(const vkd_reduce_t *d) {
    return d->mean ? (float)(1.0 / (double)d->n) : 1.0f;
}

vkd_status_t reduce_forward_cpu(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp,
                                const vkd_reduce_t *d) {
    (void)be;
    // out (outer, inner), inp (outer, n, inner)
    if (d->inner == 1) return reduce_rows(out.host, inp.host, d->outer, d->n, reduce_scale(d));
    reduce_cols(out.host, inp.host, d->outer, d->n, d->inner, reduce_scale(d));
    return VKD_OK;
}

vkd_status_t reduce_backward_cpu(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dout,
                                 const vkd_reduce_t *d) {
    (void)be;
    float *dx = dinp.host;       // (outer, n, inner)
    const float *dy = dout.host; // (outer, inner)
    const size_t outer = d->outer, n = d->n, inner = d->inner;
    const float scale = reduce_scale(d);
    const int par = outer * n * inner > PAR_MIN;
    if (inner == 1 && n >= outer) {
        // Few long rows: parallelise along each row.
        for (size_t o = 0; o < outer; o++) {
            const float v = dy[o] * scale;
            float *row = dx + o * n; // (n)
#pragma omp parallel for schedule(static) if (par)
            for (size_t i = 0; i < n; i++) row[i] += v;
        }
        return VKD_OK;
    }
    // Many rows (o, i), each a contiguous run of inner gradients.
#pragma omp parallel for schedule(static) if (par)
    for (size_t r = 0; r < outer * n; r++) {
        const float *g = dy + (r / n) * inner; // (inner)
        float *row = dx + r * inner;            // (inner)
        for (size_t j = 0; j < inner; j++) row[j] += g[j] * scale;
    }
    return VKD_OK;
}
