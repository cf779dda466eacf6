// im2col / col2im (see conv2d_col.h). Rows of col are independent: im2col writes each row
// contiguously; col2im owns one input channel per thread (all KH*KW rows that add into
// it), so no two threads add into the same pixel. Within a row the valid output columns
// [lo, hi) are found once so the inner loops have no bounds test and vectorise.
#include <cblas.h>
#include <string.h>

#include "conv2d_col.h"

// Output columns ow with 0 <= ow*s - dl < W, dl = pad_l - kw, as [*lo, *hi).
static void valid_cols(int W, int Wo, int s, int dl, int *lo, int *hi) {
    int l = dl > 0 ? (dl + s - 1) / s : 0;
    int h = (W + dl + s - 1) / s; // first ow with iw >= W
    if (l > Wo) l = Wo;
    if (h > Wo) h = Wo;
    if (h < l) h = l;
    *lo = l, *hi = h;
}

int vkd_conv2d_is_pointwise(const vkd_conv2d_t *c) {
    return c->KH == 1 && c->KW == 1 && c->stride == 1 && c->pad_t == 0 && c->pad_b == 0 &&
           c->pad_l == 0 && c->pad_r == 0;
}

void vkd_conv2d_im2col(float *col, const float *x, const vkd_conv2d_t *c, int Ho, int Wo) {
    const int KK = c->KH * c->KW, rows = c->Cin * KK, s = c->stride;
    const long work = (long)rows * Ho * Wo;
#pragma omp parallel for schedule(static) if (work > (1L << 16))
    for (int r = 0; r < rows; r++) {
        const int ci = r / KK, kh = (r % KK) / c->KW, kw = r % c->KW;
        const float *xc = x + (size_t)ci * c->H * c->W; // (H, W)
        const int dl = c->pad_l - kw;
        int lo, hi;
        valid_cols(c->W, Wo, s, dl, &lo, &hi);
        for (int oh = 0; oh < Ho; oh++) {
            float *dst = col + ((size_t)r * Ho + oh) * Wo; // (Wo)
            const int ih = oh * s - c->pad_t + kh;
            if (ih < 0 || ih >= c->H) {
                memset(dst, 0, (size_t)Wo * sizeof(float));
                continue;
            }
            const float *src = xc + (size_t)ih * c->W; // (W)
            for (int ow = 0; ow < lo; ow++) dst[ow] = 0.0f;
            if (s == 1 && hi > lo)
                memcpy(dst + lo, src + (lo - dl), (size_t)(hi - lo) * sizeof(float));
            else
                for (int ow = lo; ow < hi; ow++) dst[ow] = src[ow * s - dl];
            for (int ow = hi; ow < Wo; ow++) dst[ow] = 0.0f;
        }
    }
}

void vkd_conv2d_col2im_add(float *dx, const float *col, const vkd_conv2d_t *c, int Ho, int Wo) {
    const int KK = c->KH * c->KW, s = c->stride;
    const long work = (long)c->Cin * KK * Ho * Wo;
#pragma omp parallel for schedule(static) if (work > (1L << 16) && c->Cin > 1)
    for (int ci = 0; ci < c->Cin; ci++) {
        float *xc = dx + (size_t)ci * c->H * c->W; // (H, W)
        for (int kh = 0; kh < c->KH; kh++)
            for (int kw = 0; kw < c->KW; kw++) {
                const float *rowp = col + ((size_t)ci * KK + kh * c->KW + kw) * Ho * Wo; // (Ho, Wo)
                const int dl = c->pad_l - kw;
                int lo, hi;
                valid_cols(c->W, Wo, s, dl, &lo, &hi);
                for (int oh = 0; oh < Ho; oh++) {
                    const int ih = oh * s - c->pad_t + kh;
                    if (ih < 0 || ih >= c->H) continue;
                    const float *src = rowp + (size_t)oh * Wo; // (Wo)
                    float *dst = xc + (size_t)ih * c->W;       // (W)
                    if (s == 1) {
                        float *d = dst - dl; // d[ow] is pixel ow - dl; only [lo, hi) touched
                        for (int ow = lo; ow < hi; ow++) d[ow] += src[ow];
                    } else {
                        for (int ow = lo; ow < hi; ow++) dst[ow * s - dl] += src[ow];
                    }
                }
            }
    }
}

int vkd_conv2d_blas_single_begin(void) {
    const int prev = openblas_get_num_threads();
    if (prev > 1) openblas_set_num_threads(1);
    return prev;
}

void vkd_conv2d_blas_single_end(int prev) {
    if (prev > 1) openblas_set_num_threads(prev);
}
