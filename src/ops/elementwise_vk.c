// Elementwise ops on Vulkan: shaders/{fill,copy,unary_fwd,unary_bwd,binary_fwd,
// binary_bwd,scale_fwd,scale_bwd}.comp, all grid-stride 1-D dispatches except the
// workgroup-per-element pass of the binary db reduction.
//
// Loop budget (llvmpipe silently ends an invocation's loops after 65535 iterations, see
// src/vk.h): the grid-stride shaders run at most 65535 x 256 invocations, so the 2^31
// elements the ops allow cost <= 128 iterations each. Only the db reduction can loop
// longer (one element summing m = n / b_n contributions, e.g. a scalar b over 16M
// elements: 65536 per invocation); it splits m into chunks summed by successive
// dispatches when the budget requires.
#include "ops_impl.h"
#include "vk.h"

#define MAX_GROUPS 65535u
// binary db: with at least this many contributions per b element a workgroup sums each
// element (pass 2 of binary_bwd.comp); below it one invocation does (pass 1).
#define DB_GROUP_MIN 64u
#define WG 256u        // local size of binary_bwd.comp
#define TREE_PASSES 9u // loop passes of its 256-wide shared-memory tree (8 levels + exit)

typedef struct {
    uint32_t n;
    float value;
} pc_fill_t;
_Static_assert(sizeof(pc_fill_t) == 8, "mirrors shaders/fill.comp");

typedef struct {
    uint32_t n;
} pc_copy_t;
_Static_assert(sizeof(pc_copy_t) == 4, "mirrors shaders/copy.comp");

typedef struct {
    uint32_t n;
    uint32_t act;
} pc_unary_t;
_Static_assert(sizeof(pc_unary_t) == 8, "mirrors shaders/unary_fwd.comp, unary_bwd.comp");

typedef struct {
    uint32_t n, b_n, b_inner, op;
} pc_binary_fwd_t;
_Static_assert(sizeof(pc_binary_fwd_t) == 16, "mirrors shaders/binary_fwd.comp");

typedef struct {
    uint32_t n, b_n, b_inner, op, pass;
    uint32_t j_begin, j_end;
} pc_binary_bwd_t;
_Static_assert(sizeof(pc_binary_bwd_t) == 28, "mirrors shaders/binary_bwd.comp");

static uint64_t cdiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

typedef struct {
    uint32_t n;
    float alpha, beta;
} pc_scale_fwd_t;
_Static_assert(sizeof(pc_scale_fwd_t) == 12, "mirrors shaders/scale_fwd.comp");

typedef struct {
    uint32_t n;
    float alpha;
} pc_scale_bwd_t;
_Static_assert(sizeof(pc_scale_bwd_t) == 8, "mirrors shaders/scale_bwd.comp");

vkd_status_t fill_vk(vkd_backend_t *be, vkd_buf_t out, float value, size_t n) {
    const pc_fill_t pc = {(uint32_t)n, value};
    return vkd_vk_dispatch_1d(be, VKD_SH_fill, &out, 1, &pc, sizeof pc, n); // out (n)
}

vkd_status_t copy_vk(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp, size_t n) {
    const vkd_buf_t bufs[] = {out, inp}; // (n), (n)
    const pc_copy_t pc = {(uint32_t)n};
    return vkd_vk_dispatch_1d(be, VKD_SH_copy, bufs, 2, &pc, sizeof pc, n);
}

vkd_status_t unary_forward_vk(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp, size_t n,
                              vkd_act_t act) {
    const vkd_buf_t bufs[] = {out, inp}; // (n), (n)
    const pc_unary_t pc = {(uint32_t)n, (uint32_t)act};
    return vkd_vk_dispatch_1d(be, VKD_SH_unary_fwd, bufs, 2, &pc, sizeof pc, n);
}

vkd_status_t unary_backward_vk(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dout, vkd_buf_t inp,
                               size_t n, vkd_act_t act) {
    const vkd_buf_t bufs[] = {dinp, dout, inp}; // (n), (n), (n)
    const pc_unary_t pc = {(uint32_t)n, (uint32_t)act};
    return vkd_vk_dispatch_1d(be, VKD_SH_unary_bwd, bufs, 3, &pc, sizeof pc, n);
}

vkd_status_t binary_forward_vk(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t a, vkd_buf_t b,
                               const vkd_binary_t *d) {
    const vkd_buf_t bufs[] = {out, a, b}; // (n), (n), (b_n)
    const pc_binary_fwd_t pc = {(uint32_t)d->n, (uint32_t)d->b_n, (uint32_t)d->b_inner,
                                (uint32_t)d->op};
    return vkd_vk_dispatch_1d(be, VKD_SH_binary_fwd, bufs, 3, &pc, sizeof pc, d->n);
}

vkd_status_t binary_backward_vk(vkd_backend_t *be, vkd_buf_t da, vkd_buf_t db, vkd_buf_t dout,
                                vkd_buf_t a, vkd_buf_t b, const vkd_binary_t *d) {
    // da (n) or NONE, db (b_n) or NONE, dout (n), a (n), b (b_n)
    const vkd_buf_t bufs[] = {da, db, dout, a, b};
    const uint64_t m = d->n / d->b_n; // contributions per b element
    pc_binary_bwd_t pc = {(uint32_t)d->n, (uint32_t)d->b_n, (uint32_t)d->b_inner,
                          (uint32_t)d->op, 0, 0, (uint32_t)m};
    if (vkd_buf_present(da))
        VKD_TRY(vkd_vk_dispatch_1d(be, VKD_SH_binary_bwd, bufs, 5, &pc, sizeof pc, d->n));
    if (!vkd_buf_present(db)) return VKD_OK;
    // Pass 2: a workgroup per element (grid-stride over b_n), m / 256 steps each and the
    // tree; pass 1: an invocation per element (grid-stride over b_n / 256), m steps each.
    const int wg = m >= DB_GROUP_MIN;
    const uint64_t groups =
        wg ? min_u64(d->b_n, MAX_GROUPS) : min_u64(cdiv(d->b_n, WG), MAX_GROUPS);
    const uint64_t per_inv = wg ? cdiv(d->b_n, groups) : cdiv(d->b_n, groups * WG);
    uint64_t chunk = m;
    const uint32_t budget = vkd_vk_loop_budget(be);
    if (budget) {
        // Loop passes (trip count + 1 per loop) one element's share may use.
        const uint64_t per_el = (budget - 1) / per_inv;
        const uint64_t c = wg ? (per_el > TREE_PASSES + 2 ? (per_el - TREE_PASSES - 2) * WG : 0)
                              : (per_el > 2 ? per_el - 2 : 0);
        if (c == 0)
            return vkd_fail(VKD_ERR_UNSUPPORTED,
                            "op_binary_backward: b_n = %zu gives each shader invocation %llu "
                            "elements of db, beyond the loop budget of '%s'; use the CPU "
                            "backend for this shape", d->b_n, (unsigned long long)per_inv,
                            be->name);
        if (c < m) chunk = wg ? cdiv(cdiv(m, cdiv(m, c)), WG) * WG : cdiv(m, cdiv(m, c));
    }
    pc.pass = wg ? 2 : 1;
    // Chunks in order, each adding its partial sums to db: deterministic.
    for (uint64_t j = 0; j < m; j += chunk) {
        pc.j_begin = (uint32_t)j, pc.j_end = (uint32_t)min_u64(m, j + chunk);
        if (wg)
            VKD_TRY(vkd_vk_dispatch(be, VKD_SH_binary_bwd, bufs, 5, &pc, sizeof pc,
                                    (uint32_t)groups, 1, 1));
        else
            VKD_TRY(vkd_vk_dispatch_1d(be, VKD_SH_binary_bwd, bufs, 5, &pc, sizeof pc, d->b_n));
    }
    return VKD_OK;
}

vkd_status_t scale_forward_vk(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp, size_t n,
                              float alpha, float beta) {
    const vkd_buf_t bufs[] = {out, inp}; // (n), (n)
    const pc_scale_fwd_t pc = {(uint32_t)n, alpha, beta};
    return vkd_vk_dispatch_1d(be, VKD_SH_scale_fwd, bufs, 2, &pc, sizeof pc, n);
}

vkd_status_t scale_backward_vk(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dout, size_t n,
                               float alpha) {
    const vkd_buf_t bufs[] = {dinp, dout}; // (n), (n)
    const pc_scale_bwd_t pc = {(uint32_t)n, alpha};
    return vkd_vk_dispatch_1d(be, VKD_SH_scale_bwd, bufs, 2, &pc, sizeof pc, n);
}
