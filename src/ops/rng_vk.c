// Philox random numbers on Vulkan: shaders/rng_uniform.comp, rng_normal.comp (one
// invocation per 4-word block; 64-bit seed, stream and block split into uint pairs).
#include "ops_impl.h"
#include "vk.h"

typedef struct {
    uint32_t n, nblocks, first_word;
    uint32_t block0_lo, block0_hi;
    uint32_t seed_lo, seed_hi;
    uint32_t stream_lo, stream_hi;
} pc_rng_t;
_Static_assert(sizeof(pc_rng_t) == 36, "mirrors shaders/rng_uniform.comp, rng_normal.comp");

static vkd_status_t rng_dispatch(vkd_backend_t *be, vkd_shader_id_t sh, vkd_buf_t out, size_t n,
                                 uint64_t seed, uint64_t stream, uint64_t offset) {
    const uint64_t b0 = offset / 4;
    const uint32_t w0 = (uint32_t)(offset % 4);
    const pc_rng_t pc = {
        .n = (uint32_t)n, .nblocks = (uint32_t)((w0 + n + 3) / 4), .first_word = w0,
        .block0_lo = (uint32_t)b0, .block0_hi = (uint32_t)(b0 >> 32),
        .seed_lo = (uint32_t)seed, .seed_hi = (uint32_t)(seed >> 32),
        .stream_lo = (uint32_t)stream, .stream_hi = (uint32_t)(stream >> 32),
    };
    return vkd_vk_dispatch_1d(be, sh, &out, 1, &pc, sizeof pc, pc.nblocks); // out (n)
}

vkd_status_t rng_uniform_vk(vkd_backend_t *be, vkd_buf_t out, size_t n, uint64_t seed,
                            uint64_t stream, uint64_t offset) {
    return rng_dispatch(be, VKD_SH_rng_uniform, out, n, seed, stream, offset);
}

vkd_status_t rng_normal_vk(vkd_backend_t *be, vkd_buf_t out, size_t n, uint64_t seed,
                           uint64_t stream, uint64_t offset) {
    return rng_dispatch(be, VKD_SH_rng_normal, out, n, seed, stream, offset);
}
