// Philox random numbers on the CPU: one 4-word block per loop iteration, each word going to
// the element (offset + i) % 4 == word of the draw (see src/philox.h).
#include "ops_impl.h"
#include "philox.h"

#define PAR_MIN (1 << 14)

// Elements [0, n) of a draw starting at `offset` touch blocks offset/4 .. (offset+n-1)/4;
// block k of the draw holds elements 4k + t - offset % 4, t < 4.
static void rng_fill(float *out, size_t n, uint64_t seed, uint64_t stream, uint64_t offset,
                     int normal) {
    // out (n)
    const uint64_t b0 = offset / 4;
    const size_t w0 = (size_t)(offset % 4);
    const size_t nblocks = (w0 + n + 3) / 4;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t k = 0; k < nblocks; k++) {
        uint32_t w[4];
        vkd_philox_block(seed, stream, b0 + k, w);
        float v[4];
        if (normal) {
            vkd_philox_box_muller(w[0], w[1], &v[0], &v[1]);
            vkd_philox_box_muller(w[2], w[3], &v[2], &v[3]);
        } else {
            for (int t = 0; t < 4; t++) v[t] = vkd_philox_uniform(w[t]);
        }
        for (size_t t = 0; t < 4; t++) {
            const size_t idx = 4 * k + t; // element idx - w0 of the draw
            if (idx >= w0 && idx - w0 < n) out[idx - w0] = v[t];
        }
    }
}

vkd_status_t rng_uniform_cpu(vkd_backend_t *be, vkd_buf_t out, size_t n, uint64_t seed,
                             uint64_t stream, uint64_t offset) {
    (void)be;
    rng_fill(out.host, n, seed, stream, offset, 0);
    return VKD_OK;
}

vkd_status_t rng_normal_cpu(vkd_backend_t *be, vkd_buf_t out, size_t n, uint64_t seed,
                            uint64_t stream, uint64_t offset) {
    (void)be;
    rng_fill(out.host, n, seed, stream, offset, 1);
    return VKD_OK;
}
