// Softmax over the last axis on Vulkan: shaders/softmax_fwd.comp, softmax_bwd.comp.
//
// Loop budget: llvmpipe silently ends every loop of a shader invocation once it has run
// 65535 iterations in total (vkd_vk_loop_budget, src/vk.h). A row is shared by at most
// 128 invocations that each walk it three times (forward), so rows beyond ~2.6M elements
// would be truncated. Splitting a row across dispatches would need scratch memory for
// its running max and sum; rows that long are far beyond any use here (attention rows
// are <= 4096 keys), so such shapes are refused on that driver with a message.
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

static uint64_t cdiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// Invocations per row: the smallest power of two giving each at most ~8 elements, capped
// at the workgroup (rows of D > 1024 loop); 128 / lanes rows share a workgroup.
// `walks` / `trees`: loops over the row and segment reductions per row in the shader.
static vkd_status_t softmax_dispatch(vkd_backend_t *be, const char *op, vkd_shader_id_t sh,
                                     const vkd_buf_t *bufs, int nbufs, int N, int D, float scale,
                                     uint64_t walks, uint64_t trees) {
    uint32_t lanes = 1, log2_lanes = 0;
    while (lanes < WG && (uint64_t)lanes * ELEMS_PER_LANE < (uint64_t)D) lanes *= 2, log2_lanes++;
    const uint64_t rows_per_group = WG / lanes;
    const uint64_t g = cdiv((uint64_t)N, rows_per_group);
    const uint32_t groups = (uint32_t)(g < MAX_GROUPS ? g : MAX_GROUPS);
    const uint32_t budget = vkd_vk_loop_budget(be);
    // Loop passes (trip count + 1 per loop entry) of one invocation: per row block it
    // owns, `walks` loops over D / lanes elements and `trees` log2(lanes)-level trees.
    const uint64_t iters = cdiv(g, groups) * (walks * (cdiv((uint64_t)D, lanes) + 1) +
                                              trees * (log2_lanes + 1) + 1) + 1;
    if (budget && iters > budget)
        return vkd_fail(VKD_ERR_UNSUPPORTED,
                        "%s: rows of D = %d (N = %d) need ~%llu loop iterations per shader "
                        "invocation, beyond the limit of '%s' (%u; it would silently truncate "
                        "them); use the CPU backend for this shape", op, D, N,
                        (unsigned long long)iters, be->name, budget);
    const pc_softmax_t pc = {(uint32_t)N, (uint32_t)D, scale, lanes};
    return vkd_vk_dispatch(be, sh, bufs, nbufs, &pc, sizeof pc, groups, 1, 1);
}

vkd_status_t softmax_forward_vk(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp, int N, int D,
                                float scale) {
    const vkd_buf_t bufs[] = {out, inp}; // (N, D), (N, D)
    return softmax_dispatch(be, "op_softmax_forward", VKD_SH_softmax_fwd, bufs, 2, N, D, scale,
                            3, 2);
}

vkd_status_t softmax_backward_vk(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dout,
                                 vkd_buf_t out, int N, int D, float scale) {
    const vkd_buf_t bufs[] = {dinp, dout, out}; // (N, D) each
    return softmax_dispatch(be, "op_softmax_backward", VKD_SH_softmax_bwd, bufs, 3, N, D, scale,
                            2, 1);
}
