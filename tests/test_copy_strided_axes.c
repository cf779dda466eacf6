// op_copy_strided on the CPU with views in every axis order (src/ops/copy_strided_cpu.c
// drops length-1 axes, merges contiguous ones and moves a unit-stride axis innermost):
// random shapes and layouts against a naive walk in the caller's order, exact (a copy and
// an in-order sum), including a reduction into one element and one long contiguous run.
#include <stdlib.h>

#include "test_util.h"

static void reference(const vkd_copy_strided_t *d, float *out, const float *inp) {
    for (int64_t a = 0; a < d->n[0]; a++)
        for (int64_t b = 0; b < d->n[1]; b++)
            for (int64_t e = 0; e < d->n[2]; e++)
                for (int64_t f = 0; f < d->n[3]; f++) {
                    const int64_t io = d->out_off + a * d->out_stride[0] + b * d->out_stride[1] +
                                       e * d->out_stride[2] + f * d->out_stride[3];
                    const int64_t ii = d->inp_off + a * d->inp_stride[0] + b * d->inp_stride[1] +
                                       e * d->inp_stride[2] + f * d->inp_stride[3];
                    if (d->accumulate) out[io] += inp[ii];
                    else out[io] = inp[ii];
                }
}

static void run_case(tctx_t *T, const char *name, const vkd_copy_strided_t *d, size_t n_out,
                     size_t n_inp, uint64_t *rng) {
    float *inp = malloc(n_inp * sizeof(float)), *ref = malloc(n_out * sizeof(float));
    if (!inp || !ref) {
        CHECK(T, 0, "out of host memory");
        free(inp), free(ref);
        return;
    }
    test_fill_uniform(rng, inp, n_inp, -3, 3);
    test_fill_uniform(rng, ref, n_out, -3, 3);
    vkd_buf_t bo = test_buf(T, T->cpu_arena, ref, n_out);
    vkd_buf_t bi = test_buf(T, T->cpu_arena, inp, n_inp);
    reference(d, ref, inp);
    CHECK_OK(T, op_copy_strided(T->cpu, bo, bi, d));
    float *got = test_read(T, bo, n_out);
    if (got) test_compare(T, name, got, ref, n_out, 0.0);
    free(inp), free(ref), free(got);
    vkd_arena_reset(T->cpu_arena);
}

static uint32_t next(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*s >> 33);
}

// Dense strides for the 4 axes stored in the order perm (perm[3] innermost), with `pad`
// extra elements per row of the innermost stored axis; returns the elements spanned.
static size_t layout(const int64_t n[4], const int perm[4], int pad, int64_t stride[4]) {
    int64_t s = 1;
    for (int k = 3; k >= 0; k--) {
        stride[perm[k]] = s;
        s *= n[perm[k]] + (k == 3 ? pad : 0);
    }
    return (size_t)s;
}

static void random_perm(uint64_t *rng, int p[4]) {
    for (int i = 0; i < 4; i++) p[i] = i;
    for (int i = 3; i > 0; i--) {
        const int j = (int)(next(rng) % (uint32_t)(i + 1)), t = p[i];
        p[i] = p[j], p[j] = t;
    }
}

static void cpu_copy_random_layouts(tctx_t *T) {
    static const int64_t sizes[] = {1, 1, 2, 3, 5, 17, 40};
    uint64_t rng = T->seed;
    for (int it = 0; it < 200; it++) {
        vkd_copy_strided_t d = {.accumulate = (int)(next(&rng) % 2)};
        for (int k = 0; k < 4; k++) d.n[k] = sizes[next(&rng) % (sizeof sizes / sizeof *sizes)];
        int po[4], pi[4];
        random_perm(&rng, po), random_perm(&rng, pi);
        d.out_off = next(&rng) % 3, d.inp_off = next(&rng) % 3;
        const size_t n_out = layout(d.n, po, (int)(next(&rng) % 2), d.out_stride) + d.out_off;
        const size_t n_inp = layout(d.n, pi, (int)(next(&rng) % 3), d.inp_stride) + d.inp_off;
        char name[96];
        snprintf(name, sizeof name, "n (%lld,%lld,%lld,%lld) out %d%d%d%d inp %d%d%d%d%s",
                 (long long)d.n[0], (long long)d.n[1], (long long)d.n[2], (long long)d.n[3],
                 po[0], po[1], po[2], po[3], pi[0], pi[1], pi[2], pi[3], d.accumulate ? " +=" : "");
        run_case(T, name, &d, n_out, n_inp, &rng);
    }
}

static void cpu_copy_special(tctx_t *T) {
    uint64_t rng = T->seed + 1;
    // Channel concatenation written with a length-1 innermost axis: (B, C, H*W, 1).
    vkd_copy_strided_t cat = {.n = {2, 24, 1024, 1}, .out_off = 8 * 1024,
                              .out_stride = {40 * 1024, 1024, 1, 0},
                              .inp_stride = {24 * 1024, 1024, 1, 0}};
    run_case(T, "concat (B, C, HW, 1)", &cat, 2 * 40 * 1024, 2 * 24 * 1024, &rng);
    // A transpose (C, HW) -> (HW, C) with the write-strided axis innermost.
    vkd_copy_strided_t tr = {.n = {1, 48, 300, 1}, .out_stride = {0, 1, 48, 0},
                             .inp_stride = {0, 300, 1, 0}};
    run_case(T, "transpose (1, C, HW, 1)", &tr, 48 * 300, 48 * 300, &rng);
    // One long contiguous run (split over the threads), accumulating.
    vkd_copy_strided_t run = {.n = {1, 4, 1, 50000}, .out_stride = {0, 50000, 0, 1},
                              .inp_stride = {0, 50000, 0, 1}, .accumulate = 1};
    run_case(T, "one run of 200000 +=", &run, 200000, 200000, &rng);
    // A sum into one element per row (output stride 0): order kept, so exact.
    vkd_copy_strided_t red = {.n = {3, 1, 1, 50}, .out_stride = {1, 0, 0, 0},
                              .inp_stride = {50, 0, 0, 1}, .accumulate = 1};
    run_case(T, "row sums (out stride 0)", &red, 3, 150, &rng);
}

static const tcase_t cases[] = {
    TCASE_CPU(cpu_copy_random_layouts),
    TCASE_CPU(cpu_copy_special),
};

TEST_MAIN(cases)
