// LayerNorm on Vulkan: shaders/layernorm_fwd.comp and shaders/layernorm_bwd.comp.
//
// llvmpipe (lavapipe) stops every loop of a shader invocation once that invocation has
// run 65535 loop iterations in total (Mesa's LP_MAX_TGSI_LOOP_ITERATIONS hang guard),
// silently truncating the result. Both shaders loop grid-stride over rows, so where
// vkd_vk_loop_budget() (src/vk.h) is set the rows are split into dispatches small enough
// that no invocation reaches it (counted as each loop's trip count + 1, which is what
// llvmpipe counts). Other drivers get one dispatch. CPU devices (lavapipe) also pay
// ~5-10 us per workgroup (each one sets up coroutines for its barriers), so there the
// grid is capped at CPU_DEVICE_GROUPS workgroups that loop grid-stride: 65536 rows of 64
// took 60 ms as 8192 workgroups.
#include "ops_impl.h"
#include "vk.h"

#define MAX_GROUPS 65535u
#define LN_WG 128u              // local size of both shaders
#define LN_BWD_COLS 8u          // columns per column workgroup in layernorm_bwd.comp
#define LN_BWD_LANES 16u        // row lanes per column workgroup
#define LN_BWD_COL_GROUPS 4096u // cap on column workgroups (they loop grid-stride)
#define CPU_DEVICE_GROUPS 128u  // a few per CPU thread: enough to balance, cheap to start

typedef struct {
    uint32_t row0, row1, D, T;
    float eps;
    uint32_t has_w, has_b;
} pc_layernorm_fwd_t;
_Static_assert(sizeof(pc_layernorm_fwd_t) == 28, "mirrors shaders/layernorm_fwd.comp");

typedef struct {
    uint32_t row0, row1, D, T;
    uint32_t has_w, has_dw, has_db;
    uint32_t row_groups, col_groups;
} pc_layernorm_bwd_t;
_Static_assert(sizeof(pc_layernorm_bwd_t) == 36, "mirrors shaders/layernorm_bwd.comp");

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }
static uint64_t cdiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// Lanes per row: about D/4 columns' worth, a power of two up to the whole workgroup.
static uint32_t team_size(int D) {
    uint32_t t = 1;
    while (t < LN_WG && 4 * t < (uint32_t)D) t *= 2;
    return t;
}

// log2 of a power of two
static uint64_t ilog2(uint32_t t) {
    uint64_t k = 0;
    while (t > 1) t >>= 1, k++;
    return k;
}

// Row blocks (LN_WG / T rows each) needed for `rows` rows.
static uint64_t blocks(uint64_t rows, uint32_t T) { return cdiv(rows, LN_WG / T); }

// Loop iterations of one invocation of layernorm_fwd.comp over `rows` rows with `groups`
// workgroups: per row block three column loops and two log2(T)-step reductions.
static uint64_t fwd_iters(uint64_t rows, uint64_t groups, uint64_t D, uint32_t T) {
    return cdiv(blocks(rows, T), groups) * (3 * (cdiv(D, T) + 1) + 2 * (ilog2(T) + 1) + 1) + 1;
}

vkd_status_t layernorm_forward_vk(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t mean,
                                  vkd_buf_t rstd, vkd_buf_t inp, vkd_buf_t weight,
                                  vkd_buf_t bias, int N, int D, float eps) {
    // out (N, D), mean (N), rstd (N), inp (N, D), weight (D) or NONE, bias (D) or NONE
    const vkd_buf_t bufs[] = {out, mean, rstd, inp, weight, bias};
    pc_layernorm_fwd_t pc = {
        .D = (uint32_t)D, .T = team_size(D), .eps = eps,
        .has_w = (uint32_t)vkd_buf_present(weight), .has_b = (uint32_t)vkd_buf_present(bias),
    };
    const uint32_t budget = vkd_vk_loop_budget(be);
    const uint64_t max_groups = vkd_vk_is_cpu_device(be) ? CPU_DEVICE_GROUPS : MAX_GROUPS;
    uint64_t chunk = (uint64_t)N; // rows per dispatch
    if (budget) {
        if (fwd_iters(1, 1, (uint64_t)D, pc.T) > budget)
            return vkd_fail(VKD_ERR_UNSUPPORTED, "op_layernorm_forward: rows of D = %d exceed "
                            "llvmpipe's shader loop limit; use the CPU backend", D);
        while (fwd_iters(chunk, min_u64(blocks(chunk, pc.T), max_groups), (uint64_t)D, pc.T) >
               budget)
            chunk = cdiv(chunk, 2);
    }
    for (uint64_t r0 = 0; r0 < (uint64_t)N; r0 += chunk) {
        const uint64_t r1 = min_u64((uint64_t)N, r0 + chunk);
        pc.row0 = (uint32_t)r0, pc.row1 = (uint32_t)r1;
        VKD_TRY(vkd_vk_dispatch(be, VKD_SH_layernorm_fwd, bufs, 6, &pc, sizeof pc,
                                (uint32_t)min_u64(blocks(r1 - r0, pc.T), max_groups), 1, 1));
    }
    return VKD_OK;
}

// Loop iterations of one invocation of layernorm_bwd.comp for a dispatch over `rows`
// rows: the larger of a row workgroup's and a column workgroup's.
static uint64_t bwd_iters(uint64_t rows, uint64_t D, uint32_t T, uint32_t row_groups,
                          uint32_t col_groups) {
    uint64_t r = cdiv(blocks(rows, T), row_groups) * (2 * (cdiv(D, T) + 1) + ilog2(T) + 2) + 1;
    uint64_t c = 0;
    if (col_groups)
        c = cdiv(cdiv(D, LN_BWD_COLS), col_groups) * (cdiv(rows, LN_BWD_LANES) + 1 + 5 + 1) + 1;
    return r > c ? r : c;
}

vkd_status_t layernorm_backward_vk(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dweight,
                                   vkd_buf_t dbias, vkd_buf_t dout, vkd_buf_t inp,
                                   vkd_buf_t weight, vkd_buf_t mean, vkd_buf_t rstd, int N,
                                   int D) {
    // dinp (N, D), dweight (D) or NONE, dbias (D) or NONE, dout (N, D), inp (N, D),
    // weight (D) or NONE, mean (N), rstd (N)
    const vkd_buf_t bufs[] = {dinp, dweight, dbias, dout, inp, weight, mean, rstd};
    const int cols = vkd_buf_present(dweight) || vkd_buf_present(dbias);
    const int cpu = vkd_vk_is_cpu_device(be);
    const uint32_t budget = vkd_vk_loop_budget(be);
    const uint32_t col_groups =
        cols ? (uint32_t)min_u64(cdiv((uint64_t)D, LN_BWD_COLS),
                                 cpu ? CPU_DEVICE_GROUPS : LN_BWD_COL_GROUPS)
             : 0;
    const uint64_t max_row_groups = cpu ? CPU_DEVICE_GROUPS : MAX_GROUPS - col_groups;
    pc_layernorm_bwd_t pc = {
        .D = (uint32_t)D, .T = team_size(D),
        .has_w = (uint32_t)vkd_buf_present(weight),
        .has_dw = (uint32_t)vkd_buf_present(dweight),
        .has_db = (uint32_t)vkd_buf_present(dbias),
        .col_groups = col_groups,
    };
    uint64_t chunk = (uint64_t)N;
    if (budget) {
        for (;;) {
            uint32_t rg = (uint32_t)min_u64(blocks(chunk, pc.T), max_row_groups);
            if (bwd_iters(chunk, (uint64_t)D, pc.T, rg, col_groups) <= budget)
                break;
            if (chunk == 1)
                return vkd_fail(VKD_ERR_UNSUPPORTED, "op_layernorm_backward: D = %d exceeds "
                                "llvmpipe's shader loop limit; use the CPU backend", D);
            chunk = cdiv(chunk, 2);
        }
    }
    // Chunks run in order, each adding its rows' share to dweight/dbias.
    for (uint64_t r0 = 0; r0 < (uint64_t)N; r0 += chunk) {
        const uint64_t r1 = min_u64((uint64_t)N, r0 + chunk);
        pc.row0 = (uint32_t)r0, pc.row1 = (uint32_t)r1;
        pc.row_groups = (uint32_t)min_u64(blocks(r1 - r0, pc.T), max_row_groups);
        VKD_TRY(vkd_vk_dispatch(be, VKD_SH_layernorm_bwd, bufs, 8, &pc, sizeof pc,
                                pc.row_groups + pc.col_groups, 1, 1));
    }
    return VKD_OK;
}
