// GEMM on Vulkan: shaders/gemm.comp (GPUs) or shaders/gemm_direct.comp (CPU devices), and
// shaders/bias_grad.comp.
//
// Loop budget: llvmpipe silently ends every loop of a shader invocation once it has run
// 65535 iterations in total (vkd_vk_loop_budget, src/vk.h). A GEMM invocation loops over
// K (K/4 steps in gemm_direct.comp, K/8 steps of ~28 loop passes in gemm.comp) for each
// summed batch, so a weight gradient over 262144 rows (K = 262144) would be cut short.
// Where the budget requires it, the sum over (batches, K) is split into chunks that
// successive dispatches add into C: the first with the caller's beta and bias, the rest
// with beta = 1, in a fixed order (deterministic). Likewise bias_grad splits its rows.
// Other devices get one dispatch, as before.
#include <stdlib.h>
#include <string.h>

#include "ops_impl.h"
#include "vk.h"

// Block tile of both GEMM shaders (8 x 8 invocations, 8 x 8 micro-tile each). Only the
// grid size depends on it: the shaders walk their tiles grid-stride, so any grid is correct.
#define GEMM_BM 64
#define GEMM_BN 64
#define GEMM_BK 8 // K slice of gemm.comp; K chunks are multiples of it
#define MAX_GROUPS 65535u

typedef struct {
    int32_t M, N, K;
    int32_t trans_a, trans_b;
    float alpha, beta;
    int32_t has_bias;
    int32_t stride_a, stride_b, stride_c;
    int32_t batch0;
    int32_t nsum;
    int32_t k_begin, k_end;
} pc_gemm_t;
_Static_assert(sizeof(pc_gemm_t) == 60, "mirrors shaders/gemm.comp and gemm_direct.comp");

// Shared-memory staging pays on GPUs; on CPU devices (lavapipe) reading the buffers
// directly is 2x faster (see shaders/gemm.comp). VKDREAM_GEMM_SHARED=0/1 overrides the
// choice, so both shaders can be tested and timed on any device.
static int use_shared_tiles(vkd_backend_t *be) {
    const char *env = getenv("VKDREAM_GEMM_SHARED");
    if (env && env[0]) return strcmp(env, "0") != 0;
    return !vkd_vk_is_cpu_device(be);
}

static uint32_t min_groups(uint64_t n) { return n < MAX_GROUPS ? (uint32_t)n : MAX_GROUPS; }
static uint64_t cdiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

// Loop passes (trip count + 1 per loop entry, llvmpipe's count) of one invocation for one
// summed batch and a K chunk of kc: gemm_direct.comp runs kc/4 unrolled steps and a tail
// of < 4; gemm.comp per BK slice two 8-step staging loops and the BK loop (28 passes).
// Measured on lavapipe (Mesa 22.3) with the budget off: a single tile was exact up to
// K = 262130 (direct) and 18721 (shared), and up to 16384 (direct) and 1986 (shared)
// summed batches of K = 4, i.e. 4 and 33 passes per batch; the constants below cover
// those with a few passes to spare.
#define SHARED_SLICE_PASSES 28
static uint64_t passes_per_batch(int shared, uint64_t kc) {
    return shared ? cdiv(kc, GEMM_BK) * SHARED_SLICE_PASSES + 8 : kc / 4 + 6;
}

// Chunk sizes (batches per dispatch, K per dispatch) keeping every invocation within
// `budget` passes: it walks tm x tn tiles, each looping over ns batches of a kc-slice.
static vkd_status_t gemm_chunks(const vkd_gemm_t *g, int shared, uint64_t tm, uint64_t tn,
                                uint64_t nsum, uint32_t budget, uint64_t *ns, uint64_t *kc) {
    *ns = nsum, *kc = (uint64_t)g->K;
    if (!budget) return VKD_OK;
    const uint64_t per_tile = budget > tm + 1 ? ((budget - tm - 1) / tm) : 0;
    const uint64_t avail = per_tile > tn + 1 ? (per_tile - tn - 1) / tn - 1 : 0; // s loop
    const uint64_t one = passes_per_batch(shared, *kc) + 1;
    if (nsum * one <= avail) return VKD_OK;
    if (one <= avail) { // whole K, fewer batches per dispatch
        *ns = cdiv(nsum, cdiv(nsum, avail / one));
        return VKD_OK;
    }
    *ns = 1; // one batch per dispatch and a slice of K
    uint64_t k = 0; // the largest multiple of GEMM_BK with passes_per_batch(k) + 1 <= avail
    if (shared && avail > 9 + SHARED_SLICE_PASSES)
        k = (avail - 9) / SHARED_SLICE_PASSES * GEMM_BK;
    if (!shared && avail > 7 + 2 * GEMM_BK) k = (avail - 7) * 4 / GEMM_BK * GEMM_BK;
    if (k == 0)
        return vkd_fail(VKD_ERR_UNSUPPORTED,
                        "op_gemm_forward: M = %d, N = %d give each shader invocation %llu "
                        "output tiles, beyond the device's loop budget of %u iterations per "
                        "invocation; use the CPU backend for this shape", g->M, g->N,
                        (unsigned long long)(tm * tn), budget);
    *kc = cdiv(cdiv((uint64_t)g->K, cdiv((uint64_t)g->K, k)), GEMM_BK) * GEMM_BK; // equal slices
    return VKD_OK;
}

// Dispatches over the (batch, K) chunks of one output grid; the first chunk applies beta
// and the bias, the later ones add to C.
static vkd_status_t dispatch_chunks(vkd_backend_t *be, vkd_shader_id_t sh, const vkd_buf_t *bufs,
                                    pc_gemm_t pc, const vkd_gemm_t *g, int s0, int nsum,
                                    uint64_t ns, uint64_t kc, uint32_t gx, uint32_t gy,
                                    uint32_t gz) {
    for (uint64_t s = 0; s < (uint64_t)nsum; s += ns)
        for (uint64_t k = 0; k < (uint64_t)g->K; k += kc) {
            const int first = s == 0 && k == 0;
            pc.batch0 = s0 + (int32_t)s;
            pc.nsum = (int32_t)min_u64(ns, (uint64_t)nsum - s);
            pc.k_begin = (int32_t)k, pc.k_end = (int32_t)min_u64((uint64_t)g->K, k + kc);
            pc.beta = first ? g->beta : 1.0f;
            pc.has_bias = first && vkd_buf_present(bufs[3]);
            VKD_TRY(vkd_vk_dispatch(be, sh, bufs, 4, &pc, sizeof pc, gx, gy, gz));
        }
    return VKD_OK;
}

vkd_status_t gemm_forward_vk(vkd_backend_t *be, vkd_buf_t c, vkd_buf_t a, vkd_buf_t b,
                             vkd_buf_t bias, const vkd_gemm_t *g) {
    // c (batch, M, N), a (batch, M, K) / (batch, K, M), b (batch, K, N) / (batch, N, K),
    // bias (N) or NONE. Strides were checked to fit int32 by op_gemm_forward.
    const vkd_buf_t bufs[] = {c, a, b, bias};
    const int shared_out = g->batch > 1 && g->stride_c == 0;
    const pc_gemm_t pc = {
        .M = g->M, .N = g->N, .K = g->K,
        .trans_a = g->trans_a, .trans_b = g->trans_b,
        .alpha = g->alpha,
        .stride_a = (int32_t)g->stride_a, .stride_b = (int32_t)g->stride_b,
        .stride_c = (int32_t)g->stride_c,
    };
    const int shared = use_shared_tiles(be);
    const vkd_shader_id_t sh = shared ? VKD_SH_gemm : VKD_SH_gemm_direct;
    const uint64_t nbn = cdiv((uint64_t)g->N, GEMM_BN), nbm = cdiv((uint64_t)g->M, GEMM_BM);
    const uint32_t gx = min_groups(nbn), gy = min_groups(nbm);
    const int nsum = shared_out ? g->batch : 1;
    uint64_t ns, kc;
    VKD_TRY(gemm_chunks(g, shared, cdiv(nbm, gy), cdiv(nbn, gx), (uint64_t)nsum,
                        vkd_vk_loop_budget(be), &ns, &kc));
    if (shared_out) return dispatch_chunks(be, sh, bufs, pc, g, 0, nsum, ns, kc, gx, gy, 1);
    for (int z0 = 0; z0 < g->batch; z0 += (int)MAX_GROUPS)
        VKD_TRY(dispatch_chunks(be, sh, bufs, pc, g, z0, 1, 1, kc, gx, gy,
                                min_groups((uint64_t)(g->batch - z0))));
    return VKD_OK;
}

typedef struct {
    int32_t row0, row1, N;
} pc_bias_grad_t;
_Static_assert(sizeof(pc_bias_grad_t) == 12, "mirrors shaders/bias_grad.comp");

#define BIAS_GRAD_COLS 32 // columns per workgroup of shaders/bias_grad.comp
#define BIAS_GRAD_SLICES 8 // row slices per workgroup

vkd_status_t bias_grad_vk(vkd_backend_t *be, vkd_buf_t dbias, vkd_buf_t dc, int rows, int N) {
    // dbias (N) += column sums of dc (rows, N)
    const vkd_buf_t bufs[] = {dbias, dc};
    const uint64_t nblk = cdiv((uint64_t)N, BIAS_GRAD_COLS);
    const uint32_t gx = min_groups(nblk);
    uint64_t chunk = (uint64_t)rows;
    const uint32_t budget = vkd_vk_loop_budget(be);
    if (budget) {
        // Per column block: rows/8 steps, the 7-step slice sum, the block loop itself.
        const uint64_t blocks = cdiv(nblk, gx), per_blk = (budget - 1) / blocks;
        const uint64_t c = per_blk > 12 ? (per_blk - 11) * BIAS_GRAD_SLICES : 0;
        if (c == 0)
            return vkd_fail(VKD_ERR_UNSUPPORTED, "op_gemm_backward: dbias of N = %d columns "
                            "exceeds the device's loop budget; use the CPU backend", N);
        if (c < chunk) // equal chunks of whole row slices
            chunk = cdiv(cdiv(chunk, cdiv(chunk, c)), BIAS_GRAD_SLICES) * BIAS_GRAD_SLICES;
    }
    // Row chunks in order, each adding its column sums to dbias.
    for (uint64_t r = 0; r < (uint64_t)rows; r += chunk) {
        const pc_bias_grad_t pc = {.row0 = (int32_t)r,
                                   .row1 = (int32_t)min_u64((uint64_t)rows, r + chunk), .N = N};
        VKD_TRY(vkd_vk_dispatch(be, VKD_SH_bias_grad, bufs, 2, &pc, sizeof pc, gx, 1, 1));
    }
    return VKD_OK;
}
