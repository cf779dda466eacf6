// Scaled dot-product attention: argument checks shared by both backends, then the table
// call. Layouts are given by strides (see vkd_attention_t in ops.h); strides must be
// non-negative and every tensor must span fewer than 2^31 elements (shader indices are
// 32-bit). The output's elements must not overlap (each is written by one thread).
#include <math.h>
#include <stdint.h>

#include "ops_impl.h"

static const char OP[] = "op_attention_forward";

// Elements spanned by a (B, H, L, W) view with strides (sb, sh, sl, 1).
static vkd_status_t view_extent(const char *op, const char *name, int B, int H, int L, int W,
                                int64_t sb, int64_t sh, int64_t sl, int64_t *extent) {
    if (sb < 0 || sh < 0 || sl < 0 || sb > INT32_MAX || sh > INT32_MAX || sl > INT32_MAX)
        return vkd_fail(VKD_ERR_INVALID,
                        "%s: %s strides (%lld, %lld, %lld) must be in [0, 2^31)", op, name,
                        (long long)sb, (long long)sh, (long long)sl);
    // Each term is < 2^31 * 2^31: no int64 overflow.
    int64_t e = (int64_t)(B - 1) * sb + (int64_t)(H - 1) * sh + (int64_t)(L - 1) * sl + W;
    if (e > INT32_MAX)
        return vkd_fail(VKD_ERR_INVALID, "%s: %s spans %lld elements, more than 2^31-1", op,
                        name, (long long)e);
    *extent = e;
    return VKD_OK;
}

vkd_status_t vkd_attention_view_distinct(const char *op, const char *name, int B, int H, int L,
                                         int W, int64_t sb, int64_t sh, int64_t sl) {
    // Sufficient condition: ordered by stride, every axis of size > 1 steps over everything
    // spanned by the axes inside it.
    int64_t n[3] = {B, H, L}, s[3] = {sb, sh, sl};
    for (int i = 0; i < 3; i++) // sort by stride (3 elements)
        for (int j = i + 1; j < 3; j++)
            if (s[j] < s[i]) {
                int64_t t = s[i]; s[i] = s[j]; s[j] = t;
                t = n[i]; n[i] = n[j]; n[j] = t;
            }
    int64_t span = W;
    for (int i = 0; i < 3; i++) {
        if (n[i] == 1) continue;
        if (s[i] < span)
            return vkd_fail(VKD_ERR_INVALID,
                            "%s: %s strides (%lld, %lld, %lld) make its elements overlap (row "
                            "length %d); it needs distinct elements", op, name, (long long)sb,
                            (long long)sh, (long long)sl, W);
        span = (n[i] - 1) * s[i] + span;
    }
    return VKD_OK;
}

vkd_status_t vkd_attention_check(const char *op, const vkd_attention_t *a, const char *out_name,
                                 int64_t *eq, int64_t *ek, int64_t *ev, int64_t *eo) {
    if (!a) return vkd_fail(VKD_ERR_INVALID, "%s: descriptor is NULL", op);
    if (a->B <= 0 || a->H <= 0 || a->Lq <= 0 || a->Lk <= 0 || a->D <= 0 || a->Dv <= 0)
        return vkd_fail(VKD_ERR_INVALID,
                        "%s: B = %d, H = %d, Lq = %d, Lk = %d, D = %d, Dv = %d must be positive",
                        op, a->B, a->H, a->Lq, a->Lk, a->D, a->Dv);
    if (!isfinite(a->scale))
        return vkd_fail(VKD_ERR_INVALID, "%s: scale = %g is not finite", op, (double)a->scale);
    if (a->causal && a->Lq != a->Lk)
        return vkd_fail(VKD_ERR_INVALID, "%s: causal mask needs Lq == Lk (got %d and %d)", op,
                        a->Lq, a->Lk);
    VKD_TRY(view_extent(op, "q", a->B, a->H, a->Lq, a->D, a->sq_b, a->sq_h, a->sq_l, eq));
    VKD_TRY(view_extent(op, "k", a->B, a->H, a->Lk, a->D, a->sk_b, a->sk_h, a->sk_l, ek));
    VKD_TRY(view_extent(op, "v", a->B, a->H, a->Lk, a->Dv, a->sv_b, a->sv_h, a->sv_l, ev));
    VKD_TRY(view_extent(op, out_name, a->B, a->H, a->Lq, a->Dv, a->so_b, a->so_h, a->so_l, eo));
    // The output (forward) is written once per element and dout (backward) is read as GEMM
    // rows in place: both need distinct elements.
    return vkd_attention_view_distinct(op, out_name, a->B, a->H, a->Lq, a->Dv, a->so_b, a->so_h,
                                       a->so_l);
}

vkd_status_t op_attention_forward(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t q, vkd_buf_t k,
                                  vkd_buf_t v, const vkd_attention_t *a) {
    if (!be) return vkd_fail(VKD_ERR_INVALID, "%s: backend is NULL", OP);
    int64_t eq, ek, ev, eo;
    VKD_TRY(vkd_attention_check(OP, a, "out", &eq, &ek, &ev, &eo));
    VKD_TRY(vkd_check_buf(OP, "out", out, (size_t)eo, 0)); // (B, H, Lq, Dv) strided
    VKD_TRY(vkd_check_buf(OP, "q", q, (size_t)eq, 0));     // (B, H, Lq, D) strided
    VKD_TRY(vkd_check_buf(OP, "k", k, (size_t)ek, 0));     // (B, H, Lk, D) strided
    VKD_TRY(vkd_check_buf(OP, "v", v, (size_t)ev, 0));     // (B, H, Lk, Dv) strided
    const vkd_buf_t bufs[] = {out, q, k, v};
    VKD_TRY(vkd_check_backend(OP, be, bufs, 4));
    return VKD_CALL(be, attention_forward, out, q, k, v, a);
}
