// op_copy_strided on the CPU: the innermost axis is the loop the compiler vectorises (a
// plain memcpy-like loop when both inner strides are 1).
//
// Callers describe views in whatever axis order is natural to them, which can leave a
// length-1 or a short strided axis innermost (a channel concatenation of (B, C, H*W) written
// as (B, C, H*W, 1) walks one element per inner loop). So the axes are normalised first:
// length-1 axes dropped, an axis merged into the next inner one when it continues it in both
// views (same visiting order), and, when the order of the writes cannot change the result,
// a long unit-stride axis moved innermost.
#include "ops_impl.h"

#define COPY_PAR_MIN 65536 // elements; below, waking a worker costs more than the copy
#define COPY_CHUNK 16384   // elements per task when one contiguous run is split

typedef struct {
    int64_t n, so, si; // length, output stride, input stride
} axis_t;

// Worth being the inner loop: a unit stride (output first: contiguous stores), then length.
static int64_t inner_score(const axis_t *a) {
    return (a->so == 1 ? 4 : a->si == 1 ? 2 : 1) * (a->n < (1 << 28) ? a->n : (1 << 28));
}

// ax[0..3] outermost first, padded with length-1 axes in front; returns the number of real
// axes (0 when every length is 1).
static int normalise(const vkd_copy_strided_t *d, axis_t ax[4]) {
    axis_t a[4];
    int k = 0;
    for (int i = 0; i < 4; i++)
        if (d->n[i] != 1) a[k++] = (axis_t){d->n[i], d->out_stride[i], d->inp_stride[i]};
    // Merging keeps the visiting order exactly, so it is always allowed.
    int m = 0;
    for (int i = k - 1; i >= 0; i--) {
        if (m > 0 && a[i].so == ax[0].so * ax[0].n && a[i].si == ax[0].si * ax[0].n) {
            ax[0].n *= a[i].n;
            continue;
        }
        for (int j = m; j > 0; j--) ax[j] = ax[j - 1];
        ax[0] = a[i];
        m++;
    }
    // Reordering changes which reads come first; that only matters when several reads land
    // on one output element (an output stride of 0) and they accumulate.
    int reorder = m > 1;
    for (int i = 0; i < m; i++)
        if (ax[i].so == 0) reorder = 0;
    if (reorder && !(inner_score(&ax[m - 1]) >= 4 * 16 && ax[m - 1].so == 1)) {
        int best = m - 1;
        for (int i = 0; i < m - 1; i++)
            if (inner_score(&ax[i]) > inner_score(&ax[best])) best = i;
        const axis_t t = ax[best];
        for (int i = best; i < m - 1; i++) ax[i] = ax[i + 1];
        ax[m - 1] = t;
    }
    for (int i = m - 1; i >= 0; i--) ax[i + 4 - m] = ax[i];
    for (int i = 0; i < 4 - m; i++) ax[i] = (axis_t){1, 0, 0};
    return m;
}

static void run_inner(float *restrict po, const float *restrict px, int64_t n, int64_t so,
                      int64_t si, int acc) {
    if (so == 1 && si == 1) {
        if (acc)
            for (int64_t i = 0; i < n; i++) po[i] += px[i];
        else
            for (int64_t i = 0; i < n; i++) po[i] = px[i];
    } else if (acc) {
        for (int64_t i = 0; i < n; i++) po[i * so] += px[i * si];
    } else {
        for (int64_t i = 0; i < n; i++) po[i * so] = px[i * si];
    }
}

vkd_status_t copy_strided_cpu(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp,
                              const vkd_copy_strided_t *d) {
    (void)be;
    float *o = out.host + d->out_off;      // strided view, see ops.h
    const float *x = inp.host + d->inp_off; // strided view
    const int acc = d->accumulate;
    axis_t ax[4];
    const int m = normalise(d, ax);
    const int64_t n0 = ax[0].n, n1 = ax[1].n, n2 = ax[2].n, n3 = ax[3].n;
    const int64_t total = n0 * n1 * n2 * n3;
    if (m <= 1) {
        // One run: split it so a long copy still uses every core.
        const int64_t chunks = (n3 + COPY_CHUNK - 1) / COPY_CHUNK;
        const int64_t so = ax[3].so, si = ax[3].si;
#pragma omp parallel for schedule(static) if (total > COPY_PAR_MIN && so != 0)
        for (int64_t c = 0; c < chunks; c++) {
            const int64_t i0 = c * COPY_CHUNK, len = n3 - i0 < COPY_CHUNK ? n3 - i0 : COPY_CHUNK;
            run_inner(o + i0 * so, x + i0 * si, len, so, si, acc);
        }
        return VKD_OK;
    }
#pragma omp parallel for collapse(2) schedule(static) if (total > COPY_PAR_MIN)
    for (int64_t i0 = 0; i0 < n0; i0++)
        for (int64_t i1 = 0; i1 < n1; i1++)
            for (int64_t i2 = 0; i2 < n2; i2++)
                run_inner(o + i0 * ax[0].so + i1 * ax[1].so + i2 * ax[2].so,
                          x + i0 * ax[0].si + i1 * ax[1].si + i2 * ax[2].si, n3, ax[3].so,
                          ax[3].si, acc);
    return VKD_OK;
}
