// Scaled dot-product attention backward: argument checks shared by both backends, then
// the table call. Sizes and strides follow op_attention_forward; each present gradient
// takes the strides of its forward tensor and must have distinct elements (it is
// accumulated with GEMMs, which write each element once).
#include <stdint.h>

#include "ops_impl.h"

static const char OP[] = "op_attention_backward";

vkd_status_t op_attention_backward(vkd_backend_t *be, vkd_buf_t dq, vkd_buf_t dk, vkd_buf_t dv,
                                   vkd_buf_t dout, vkd_buf_t q, vkd_buf_t k, vkd_buf_t v,
                                   const vkd_attention_t *a) {
    if (!be) return vkd_fail(VKD_ERR_INVALID, "%s: backend is NULL", OP);
    int64_t eq, ek, ev, eo;
    VKD_TRY(vkd_attention_check(OP, a, "dout", &eq, &ek, &ev, &eo));
    if (vkd_buf_present(dq))
        VKD_TRY(vkd_attention_view_distinct(OP, "dq", a->B, a->H, a->Lq, a->D, a->sq_b,
                                            a->sq_h, a->sq_l));
    if (vkd_buf_present(dk))
        VKD_TRY(vkd_attention_view_distinct(OP, "dk", a->B, a->H, a->Lk, a->D, a->sk_b,
                                            a->sk_h, a->sk_l));
    if (vkd_buf_present(dv))
        VKD_TRY(vkd_attention_view_distinct(OP, "dv", a->B, a->H, a->Lk, a->Dv, a->sv_b,
                                            a->sv_h, a->sv_l));
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
