// Philox random numbers: the published Random123 known-answer vectors of
// Philox-4x32-10, the element -> (counter, word) mapping of ops.h, offset/stream/seed
// semantics, moments of 1e6 draws, and CPU against Vulkan (uniform bit for bit; normal
// within 1e-5, GPU log/sin/cos being float against the CPU's double).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "philox.h"
#include "test_util.h"

// Random123's kat_vectors for philox4x32 with 10 rounds: counter, key -> output.
static void philox_kat(tctx_t *T) {
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
         0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
         0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int k = 0; k < 3; k++) {
        uint32_t out[4];
        vkd_philox4x32_10(kat[k], kat[k] + 4, out);
        CHECK(T, memcmp(out, kat[k] + 6, sizeof out) == 0,
              "KAT %d: got %08x %08x %08x %08x", k, out[0], out[1], out[2], out[3]);
    }
}

// The conversion to (0, 1), written independently: (k + 1/2) / 2^23, k = the top 23 bits.
static double uniform_of(uint32_t w) { return ((double)(w >> 9) + 0.5) / 8388608.0; }

static void uniform_mapping(tctx_t *T) {
    const size_t n = 1000003;
    const uint64_t seed = 0x0123456789abcdefULL, stream = 0xfedcba9876543210ULL, offset = 4097;
    vkd_buf_t out = test_buf(T, T->cpu_arena, NULL, n);
    CHECK_OK(T, op_rng_uniform(T->cpu, out, n, seed, stream, offset));
    const float *u = out.host;
    // Element i is word (offset + i) % 4 of block (offset + i) / 4.
    size_t bad = 0;
    for (size_t i = 0; i < n; i += 997) {
        const uint64_t e = offset + i, blk = e / 4;
        const uint32_t ctr[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), (uint32_t)stream,
                                 (uint32_t)(stream >> 32)};
        const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
        uint32_t w[4];
        vkd_philox4x32_10(ctr, key, w);
        if ((double)u[i] != uniform_of(w[e % 4])) bad++;
    }
    CHECK(T, bad == 0, "%zu sampled elements differ from their counter's word", bad);
    double s = 0, s2 = 0;
    float lo = 1, hi = 0;
    for (size_t i = 0; i < n; i++) {
        s += u[i], s2 += (double)u[i] * u[i];
        lo = fminf(lo, u[i]), hi = fmaxf(hi, u[i]);
    }
    const double mean = s / n, var = s2 / n - mean * mean;
    printf("  uniform: mean %.6f var %.6f (1/12 = %.6f) min %.3g max 1-%.3g\n", mean, var,
           1.0 / 12, (double)lo, 1.0 - hi);
    // 5 sigma: sd(mean) = 0.289/sqrt(n), sd(var) = sqrt(1/180/n)
    CHECK(T, fabs(mean - 0.5) < 5 * 0.2887 / sqrt((double)n), "uniform mean %.6f", mean);
    CHECK(T, fabs(var - 1.0 / 12) < 5 * sqrt(1.0 / 180 / n), "uniform variance %.6f", var);
    CHECK(T, lo > 0.0f && hi < 1.0f, "uniform out of (0, 1): %g .. %g", (double)lo, (double)hi);
    // The extremes of the conversion stay inside (0, 1).
    CHECK(T, vkd_philox_uniform(0) > 0.0f && vkd_philox_uniform(0xffffffffu) < 1.0f,
          "conversion reaches 0 or 1");
}

static void normal_mapping(tctx_t *T) {
    const size_t n = 1000000;
    const uint64_t seed = 42, stream = 7, offset = 2;
    vkd_buf_t out = test_buf(T, T->cpu_arena, NULL, n);
    CHECK_OK(T, op_rng_normal(T->cpu, out, n, seed, stream, offset));
    const float *z = out.host;
    // Box-Muller written out in double: words (0, 1) -> r cos, r sin; (2, 3) likewise.
    double worst = 0;
    for (size_t i = 0; i < n; i += 101) {
        const uint64_t e = offset + i, blk = e / 4;
        const uint32_t ctr[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), (uint32_t)stream, 0};
        const uint32_t key[2] = {(uint32_t)seed, 0};
        uint32_t w[4];
        vkd_philox4x32_10(ctr, key, w);
        const int t = (int)(e % 4), pair = t / 2 * 2;
        const double r = sqrt(-2.0 * log(uniform_of(w[pair])));
        const double th = 2.0 * M_PI * uniform_of(w[pair + 1]);
        const double ref = (t % 2 == 0) ? r * cos(th) : r * sin(th);
        worst = fmax(worst, fabs(z[i] - ref));
    }
    printf("  normal vs double Box-Muller: max abs diff %.3g\n", worst);
    CHECK(T, worst < 1e-6, "normal mapping: max abs diff %.3g", worst);
    double s = 0, s2 = 0, s4 = 0;
    for (size_t i = 0; i < n; i++) {
        const double v = z[i];
        s += v, s2 += v * v, s4 += v * v * v * v;
    }
    const double mean = s / n, var = s2 / n - mean * mean, kurt = s4 / n;
    printf("  normal: mean %.5f var %.5f E[z^4] %.4f (3)\n", mean, var, kurt);
    CHECK(T, fabs(mean) < 5 / sqrt((double)n), "normal mean %.5f", mean);
    CHECK(T, fabs(var - 1) < 5 * sqrt(2.0 / n), "normal variance %.5f", var);
    CHECK(T, fabs(kurt - 3) < 5 * sqrt(96.0 / n), "normal fourth moment %.4f", kurt);
}

// Drawing [0, 100) then [100, 200) equals drawing [0, 200) once; likewise from offsets
// that are not multiples of 4; streams and seeds differ.
static void draw_semantics_on(tctx_t *T, vkd_backend_t *be, vkd_arena_t *arena, int normal) {
    typedef vkd_status_t (*draw_fn)(vkd_backend_t *, vkd_buf_t, size_t, uint64_t, uint64_t,
                                    uint64_t);
    draw_fn draw = normal ? op_rng_normal : op_rng_uniform;
    const uint64_t seed = 0xabcdef0123ULL;
    vkd_buf_t whole = test_buf(T, arena, NULL, 203), a = test_buf(T, arena, NULL, 100);
    vkd_buf_t b = test_buf(T, arena, NULL, 103), c = test_buf(T, arena, NULL, 11);
    vkd_buf_t other = test_buf(T, arena, NULL, 203);
    CHECK_OK(T, draw(be, whole, 203, seed, 5, 0));
    CHECK_OK(T, draw(be, a, 100, seed, 5, 0));
    CHECK_OK(T, draw(be, b, 103, seed, 5, 100));
    CHECK_OK(T, draw(be, c, 11, seed, 5, 7)); // starts mid-block, ends mid-block
    float *w = test_read(T, whole, 203), *fa = test_read(T, a, 100), *fb = test_read(T, b, 103);
    float *fc = test_read(T, c, 11);
    CHECK(T, memcmp(fa, w, 100 * sizeof(float)) == 0, "[0,100) differs from the whole draw");
    CHECK(T, memcmp(fb, w + 100, 103 * sizeof(float)) == 0, "[100,203) differs");
    CHECK(T, memcmp(fc, w + 7, 11 * sizeof(float)) == 0, "[7,18) differs");
    CHECK_OK(T, draw(be, other, 203, seed, 6, 0)); // another stream
    float *o = test_read(T, other, 203);
    int same = 0;
    for (int i = 0; i < 203; i++) same += o[i] == w[i];
    CHECK(T, same < 3, "stream 6 repeats %d values of stream 5", same);
    free(o);
    CHECK_OK(T, draw(be, other, 203, seed + 1, 5, 0)); // another seed
    o = test_read(T, other, 203);
    same = 0;
    for (int i = 0; i < 203; i++) same += o[i] == w[i];
    CHECK(T, same < 3, "seed + 1 repeats %d values", same);
    CHECK_OK(T, draw(be, VKD_BUF_NONE, 0, seed, 5, 0)); // n = 0
    free(w), free(fa), free(fb), free(fc), free(o);
}

static void draw_semantics(tctx_t *T) {
    draw_semantics_on(T, T->cpu, T->cpu_arena, 0);
    draw_semantics_on(T, T->cpu, T->cpu_arena, 1);
    // A second backend instance gives the same numbers.
    vkd_backend_t *be2 = NULL;
    vkd_arena_t *ar2 = NULL;
    const vkd_backend_opts_t o = {.device = "cpu", .validate = 0, .quiet = 1};
    CHECK_OK(T, vkd_backend_create(&o, &be2));
    if (vkd_arena_create(be2, "rng2", 1 << 20, &ar2) != VKD_OK) {
        vkd_backend_destroy(be2);
        CHECK_OK(T, VKD_ERR_NOMEM);
    }
    vkd_buf_t x1 = test_buf(T, T->cpu_arena, NULL, 1000), x2 = test_buf(T, ar2, NULL, 1000);
    CHECK_OK(T, op_rng_normal(T->cpu, x1, 1000, 99, 3, 12345));
    CHECK_OK(T, op_rng_normal(be2, x2, 1000, 99, 3, 12345));
    CHECK(T, memcmp(x1.host, x2.host, 1000 * sizeof(float)) == 0,
          "two backend instances disagree");
    vkd_arena_destroy(ar2);
    vkd_backend_destroy(be2);
}

// ---- CPU against Vulkan -------------------------------------------------------------------

static void vk_rng(tctx_t *T) {
    // Blocks cross 2^32 (the shader's 64-bit carry), seed and stream use both words, the
    // draw starts and ends mid-block; n not a multiple of 256.
    const size_t n = 1000003;
    const uint64_t seed = 0xdeadbeef12345678ULL, stream = 0x100000003ULL;
    const uint64_t offset = 4 * (0x100000000ULL - 1000) + 3;
    vkd_buf_t cu = test_buf(T, T->cpu_arena, NULL, n), cz = test_buf(T, T->cpu_arena, NULL, n);
    vkd_buf_t vu = test_buf(T, T->vk_arena, NULL, n), vz = test_buf(T, T->vk_arena, NULL, n);
    CHECK_OK(T, op_rng_uniform(T->cpu, cu, n, seed, stream, offset));
    CHECK_OK(T, op_rng_normal(T->cpu, cz, n, seed, stream, offset));
    CHECK_OK(T, op_rng_uniform(T->vk, vu, n, seed, stream, offset));
    CHECK_OK(T, op_rng_normal(T->vk, vz, n, seed, stream, offset));
    float *u = test_read(T, vu, n), *z = test_read(T, vz, n);
    size_t diff = 0;
    for (size_t i = 0; i < n; i++) diff += memcmp(&u[i], &cu.host[i], sizeof(float)) != 0;
    printf("  uniform: %zu of %zu differ in any bit\n", diff, n);
    CHECK(T, diff == 0, "uniform: %zu elements differ between CPU and Vulkan", diff);
    double worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)z[i] - cz.host[i]);
        if (!(e <= worst)) worst = e, wi = i;
    }
    printf("  normal: max abs diff %.3g (at %zu: %.7f)\n", worst, wi, (double)cz.host[wi]);
    CHECK(T, worst <= 1e-5, "normal: max abs diff %.3g > 1e-5", worst);
    free(u), free(z);
    draw_semantics_on(T, T->vk, T->vk_arena, 0);
    draw_semantics_on(T, T->vk, T->vk_arena, 1);
    // n = 1 at an odd offset.
    vkd_buf_t one = test_buf(T, T->vk_arena, NULL, 1);
    CHECK_OK(T, op_rng_uniform(T->vk, one, 1, seed, stream, offset + 5));
    float *f = test_read(T, one, 1);
    CHECK(T, f[0] == cu.host[5], "n = 1 at offset + 5 differs");
    free(f);
}

static const tcase_t cases[] = {
    TCASE_CPU(philox_kat),     TCASE_CPU(uniform_mapping), TCASE_CPU(normal_mapping),
    TCASE_CPU(draw_semantics), TCASE_VK(vk_rng),
};
TEST_MAIN(cases)
