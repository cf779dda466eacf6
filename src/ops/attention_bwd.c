// Scaled dot-product attention backward: argument checks shared by both backends, then
// the table call. Sizes and strides follow op_attention_forward; each present gradient
// takes the strides of its forward tensor and must have distinct elements (it is
// accumulated with GEMMs, which write each element once).
#include <math.h>
#include <stdint.h>

#include "ops_impl.h"

static const char OP[] = "op_attention_backward";

// Elements spanned by a (B, H, L, W) view with strides (sb, sh, sl, 1).
static vkd_status_t view_extent(const char *name, int B, int H, int L, int W, int64_t sb,
                                int64_t sh, int64_t sl, int64_t *extent) {
    if (sb < 0 || sh < 0 || sl < 0 || sb > INT32_MAX || sh > INT32_MAX || sl > INT32_MAX)
        return vkd_fail(VKD_ERR_INVALID, "%s: %s strides (%lld, %lld, %lld) must be in [0, 2^31)",
                        OP, name, (long long)sb, (long long)sh, (long long)sl);
    int64_t e = (int64_t)(B - 1) * sb + (int64_t)(H - 1) * sh + (int64_t)(L - 1) * sl + W;
    if (e > INT32_MAX)
        return vkd_fail(VKD_ERR_INVALID, "%s: %s spans %lld elements, more than 2^31-1", OP,
                        name, (long long)e);
    *extent = e;
    return VKD_OK;
}

// Sufficient condition for distinct elements of a (B, H, L, W) view: ordered by stride,
// every axis of size > 1 steps over everything spanned by the axes inside it.
static vkd_status_t check_distinct(const char *name, int B, int H, int L, int W, int64_t sb,
                                   int64_t sh, int64_t sl) {
    int64_t n[3] = {B, H, L}, s[3] = {sb, sh, sl};
    for (int i = 0; i < 3; i++)
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
                            "length %d); a gradient needs distinct elements", OP, name,
                            (long long)sb, (long long)sh, (long long)sl, W);
        span = (n[i] - 1) * s[i] + span;
    }
    return VKD_OK;
}

vkd_status_t op_attention_backward(vkd_backend_t *be, vkd_buf_t dq, vkd_buf_t dk, vkd_buf_t dv,
                                   vkd_buf_t dout, vkd_buf_t q, vkd_buf_t k, vkd_buf_t v,
                                   const vkd_attention_t *a) {
    if (!be) return vkd_fail(VKD_ERR_INVALID, "%s: backend is NULL", OP);
    if (!a) return vkd_fail(VKD_ERR_INVALID, "%s: descriptor is NULL", OP);
    if (a->B <= 0 || a->H <= 0 || a->Lq <= 0 || a->Lk <= 0 || a->D <= 0 || a->Dv <= 0)
        return vkd_fail(VKD_ERR_INVALID,
                        "%s: B = %d, H = %d, Lq = %d, Lk = %d, D = %d, Dv = %d must be positive",
                        OP, a->B, a->H, a->Lq, a->Lk, a->D, a->Dv);
    if (!isfinite(a->scale))
        return vkd_fail(VKD_ERR_INVALID, "%s: scale = %g is not finite", OP, (double)a->scale);
    if (a->causal && a->Lq != a->Lk)
        return vkd_fail(VKD_ERR_INVALID, "%s: causal mask needs Lq == Lk (got %d and %d)", OP,
                        a->Lq, a->Lk);
    int64_t eq, ek, ev, eo;
    VKD_TRY(view_extent("q", a->B, a->H, a->Lq, a->D, a->sq_b, a->sq_h, a->sq_l, &eq));
    VKD_TRY(view_extent("k", a->B, a->H, a->Lk, a->D, a->sk_b, a->sk_h, a->sk_l, &ek));
    VKD_TRY(view_extent("v", a->B, a->H, a->Lk, a->Dv, a->sv_b, a->sv_h, a->sv_l, &ev));
    VKD_TRY(view_extent("dout", a->B, a->H, a->Lq, a->Dv, a->so_b, a->so_h, a->so_l, &eo));
    // dout rows are GEMM operands read in place: distinct rows, like the forward's out.
    VKD_TRY(check_distinct("dout", a->B, a->H, a->Lq, a->Dv, a->so_b, a->so_h, a->so_l));
    if (vkd_buf_present(dq))
        VKD_TRY(check_distinct("dq", a->B, a->H, a->Lq, a->D, a->sq_b, a->sq_h, a->sq_l));
    if (vkd_buf_present(dk))
        VKD_TRY(check_distinct("dk", a->B, a->H, a->Lk, a->D, a->sk_b, a->sk_h, a->sk_l));
    if (vkd_buf_present(dv))
        VKD_TRY(check_distinct("dv", a->B, a->H, a->Lk, a->Dv, a->sv_b, a->sv_h, a->sv_l));
    VKD_TRY(vkd_check_buf(OP, "dq", dq, (size_t)eq, 1));     // (B, H, Lq, D) strided as q
    VKD_TRY(vkd_check_buf(OP, "dk", dk, (size_t)ek, 1));     // (B, H, Lk, D) strided as k
    VKD_TRY(vkd_check_buf(OP, "dv", dv, (size_t)ev, 1));     // (B, H, Lk, Dv) strided as v
    VKD_TRY(vkd_check_buf(OP, "dout", dout, (size_t)eo, 0)); // (B, H, Lq, Dv) strided as out
    VKD_TRY(vkd_check_buf(OP, "q", q, (size_t)eq, 0));       // (B, H, Lq, D) strided
    VKD_TRY(vkd_check_buf(OP, "k", k, (size_t)ek, 0));       // (B, H, Lk, D) strided
    VKD_TRY(vkd_check_buf(OP, "v", v, (size_t)ev, 0));       // (B, H, Lk, Dv) strided
    const vkd_buf_t all[] = {dq, dk, dv, dout, q, k, v};
    VKD_TRY(vkd_check_backend(OP, be, all, 7));
    // A gradient written while an input is read would corrupt it: no byte in common.
    static const char *names[] = {"dq", "dk", "dv", "dout", "q", "k", "v"};
    const int64_t used[] = {eq, ek, ev, eo, eq, ek, ev};
    for (int g = 0; g < 3; g++) {
        if (!vkd_buf_present(all[g])) continue;
        for (int i = 3; i < 7; i++) {
            const vkd_buf_t x = all[i];
            if (x.arena != all[g].arena) continue;
            if (x.off < all[g].off + (size_t)used[g] * sizeof(float) &&
                all[g].off < x.off + (size_t)used[i] * sizeof(float))
                return vkd_fail(VKD_ERR_INVALID, "%s: gradient '%s' overlaps input '%s'", OP,
                                names[g], names[i]);
        }
    }
    return VKD_CALL(be, attention_backward, dq, dk, dv, dout, q, k, v, a);
}
