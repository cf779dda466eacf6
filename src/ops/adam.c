// Adam / AdamW step: argument checks shared by both backends, then the table call.
// n = 0 is a no-op.
#include <math.h>
#include <stdint.h>

#include "ops_impl.h"

vkd_status_t op_adam_step(vkd_backend_t *be, vkd_buf_t param, vkd_buf_t m, vkd_buf_t v,
                          vkd_buf_t grad, size_t n, const vkd_adam_t *o) {
    static const char op[] = "op_adam_step";
    if (!be) return vkd_fail(VKD_ERR_INVALID, "%s: backend is NULL", op);
    if (!o) return vkd_fail(VKD_ERR_INVALID, "%s: optimiser settings are NULL", op);
    if (n > (size_t)INT32_MAX)
        return vkd_fail(VKD_ERR_INVALID, "%s: n = %zu is more than 2^31-1 parameters", op, n);
    if (o->step < 1)
        return vkd_fail(VKD_ERR_INVALID, "%s: step = %lld must count from 1", op,
                        (long long)o->step);
    if (!(o->beta1 >= 0.0f && o->beta1 < 1.0f) || !(o->beta2 >= 0.0f && o->beta2 < 1.0f))
        return vkd_fail(VKD_ERR_INVALID, "%s: beta1 = %g and beta2 = %g must be in [0, 1)", op,
                        (double)o->beta1, (double)o->beta2);
    if (!isfinite(o->lr) || !(o->eps >= 0.0f) || !isfinite(o->eps) ||
        !(o->weight_decay >= 0.0f) || !isfinite(o->weight_decay))
        return vkd_fail(VKD_ERR_INVALID,
                        "%s: lr = %g must be finite, eps = %g and weight_decay = %g finite "
                        "and >= 0",
                        op, (double)o->lr, (double)o->eps, (double)o->weight_decay);
    if (n == 0) return VKD_OK;
    VKD_TRY(vkd_check_buf(op, "param", param, n, 0)); // (n)
    VKD_TRY(vkd_check_buf(op, "m", m, n, 0));         // (n)
    VKD_TRY(vkd_check_buf(op, "v", v, n, 0));         // (n)
    VKD_TRY(vkd_check_buf(op, "grad", grad, n, 0));   // (n)
    const vkd_buf_t bufs[] = {param, m, v, grad};
    VKD_TRY(vkd_check_backend(op, be, bufs, 4));
    return VKD_CALL(be, adam_step, param, m, v, grad, n, o);
}
