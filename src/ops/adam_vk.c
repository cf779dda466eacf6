// Adam / AdamW step on Vulkan: shaders/adam.comp (bias corrections computed here in double).
#include <math.h>

#include "ops_impl.h"
#include "vk.h"

typedef struct {
    uint32_t n;
    float lr, beta1, beta2, eps, wd;
    uint32_t adamw;
    float bc1, bc2;
} pc_adam_t;
_Static_assert(sizeof(pc_adam_t) == 36, "mirrors shaders/adam.comp");

vkd_status_t adam_step_vk(vkd_backend_t *be, vkd_buf_t param, vkd_buf_t m, vkd_buf_t v,
                          vkd_buf_t grad, size_t n, const vkd_adam_t *o) {
    const vkd_buf_t bufs[] = {param, m, v, grad}; // (n) each
    const pc_adam_t pc = {
        .n = (uint32_t)n, .lr = o->lr, .beta1 = o->beta1, .beta2 = o->beta2, .eps = o->eps,
        .wd = o->weight_decay, .adamw = o->adamw != 0,
        .bc1 = (float)(1.0 - pow((double)o->beta1, (double)o->step)),
        .bc2 = (float)(1.0 - pow((double)o->beta2, (double)o->step)),
    };
    return vkd_vk_dispatch_1d(be, VKD_SH_adam, bufs, 4, &pc, sizeof pc, n);
}
