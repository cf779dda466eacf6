// Adam / AdamW step on the CPU. The per-element arithmetic is written exactly as in
// shaders/adam.comp (same float operations in the same order), so the backends differ
// only by the GPU's division and sqrt rounding.
//
//   g = grad (+ wd p for Adam's L2 form); AdamW instead decays p -= lr wd p first
//   (decoupled, before the moment update, as PyTorch's AdamW does)
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= lr (m / bc1) / (sqrt(v / bc2) + eps),  bc1 = 1 - b1^step, bc2 = 1 - b2^step
// The bias corrections are computed once per step in double (b^step for large steps
// loses nothing) and rounded to float.
#include <math.h>

#include "ops_impl.h"

#define PAR_MIN (1 << 15)

vkd_status_t adam_step_cpu(vkd_backend_t *be, vkd_buf_t param, vkd_buf_t m, vkd_buf_t v,
                           vkd_buf_t grad, size_t n, const vkd_adam_t *o) {
    (void)be;
    float *p = param.host;      // (n)
    float *mm = m.host;         // (n)
    float *vv = v.host;         // (n)
    const float *g = grad.host; // (n)
    const float lr = o->lr, b1 = o->beta1, b2 = o->beta2, eps = o->eps, wd = o->weight_decay;
    const float bc1 = (float)(1.0 - pow((double)o->beta1, (double)o->step));
    const float bc2 = (float)(1.0 - pow((double)o->beta2, (double)o->step));
    const int adamw = o->adamw != 0;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float pi = p[i], gi = g[i];
        if (adamw) pi -= lr * wd * pi;
        else gi += wd * pi;
        const float mi = b1 * mm[i] + (1.0f - b1) * gi;
        const float vi = b2 * vv[i] + (1.0f - b2) * (gi * gi);
        mm[i] = mi;
        vv[i] = vi;
        p[i] = pi - lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
    }
    return VKD_OK;
}
