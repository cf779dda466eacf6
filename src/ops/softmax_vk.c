// Softmax over the last axis on Vulkan: shaders/softmax_fwd.comp, softmax_bwd.comp.
#include "ops_impl.h"
#include "vk.h"

#define MAX_GROUPS 65535u
#define WG 128u             // local size of both shaders
#define ELEMS_PER_LANE 8u   // target row elements per invocation

typedef struct {
    uint32_t N, D;
    float scale;
    uint32_t lanes;
} pc_softmax_t;
_Static_assert(sizeof(pc_softmax_t) == 16, "mirrors shaders/softmax_fwd.comp, softmax_bwd.comp");

// Invocations per row: the smallest power of two giving each at most ~8 elements, capped
// at the workgroup (rows of D > 1024 loop); 128 / lanes rows share a workgroup.
static vkd_status_t softmax_dispatch(vkd_backend_t *be, vkd_shader_id_t sh, const vkd_buf_t *bufs,
                                     int nbufs, int N, int D, float scale) {
    uint32_t lanes = 1;
    while (lanes < WG && (uint64_t)lanes * ELEMS_PER_LANE < (uint64_t)D) lanes *= 2;
    const uint64_t rows_per_group = WG / lanes;
    const uint64_t g = ((uint64_t)N + rows_per_group - 1) / rows_per_group;
    const pc_softmax_t pc = {(uint32_t)N, (uint32_t)D, scale, lanes};
    return vkd_vk_dispatch(be, sh, bufs, nbufs, &pc, sizeof pc,
                           (uint32_t)(g < MAX_GROUPS ? g : MAX_GROUPS), 1, 1);
}

vkd_status_t softmax_forward_vk(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp, int N, int D,
                                float scale) {
    const vkd_buf_t bufs[] = {out, inp}; // (N, D), (N, D)
    return softmax_dispatch(be, VKD_SH_softmax_fwd, bufs, 2, N, D, scale);
}

vkd_status_t softmax_backward_vk(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dout,
                                 vkd_buf_t out, int N, int D, float scale) {
    const vkd_buf_t bufs[] = {dinp, dout, out}; // (N, D) each
    return softmax_dispatch(be, VKD_SH_softmax_bwd, bufs, 3, N, D, scale);
}
