// op_copy_strided on Vulkan: shaders/copy_strided.comp, a grid-stride 1-D dispatch over
// the flattened index space (at most 2^31 elements, so <= 128 loop iterations per
// invocation: far inside llvmpipe's loop budget).
#include "ops_impl.h"
#include "vk.h"

typedef struct {
    uint32_t n[4];
    uint32_t out_off, inp_off;
    uint32_t out_stride[4];
    uint32_t inp_stride[4];
    uint32_t accumulate;
} pc_copy_strided_t;
_Static_assert(sizeof(pc_copy_strided_t) == 60, "mirrors shaders/copy_strided.comp");

vkd_status_t copy_strided_vk(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp,
                             const vkd_copy_strided_t *d) {
    pc_copy_strided_t pc = {.out_off = (uint32_t)d->out_off,
                            .inp_off = (uint32_t)d->inp_off,
                            .accumulate = (uint32_t)(d->accumulate != 0)};
    uint64_t total = 1;
    for (int k = 0; k < 4; k++) {
        pc.n[k] = (uint32_t)d->n[k];
        pc.out_stride[k] = (uint32_t)d->out_stride[k];
        pc.inp_stride[k] = (uint32_t)d->inp_stride[k];
        total *= (uint64_t)d->n[k];
    }
    const vkd_buf_t bufs[] = {out, inp};
    return vkd_vk_dispatch_1d(be, VKD_SH_copy_strided, bufs, 2, &pc, sizeof pc, total);
}
