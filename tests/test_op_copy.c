// op_copy_strided: against a naive reference on the layouts the UNet needs
// (concatenation, channel slices, transposes, nearest upsampling), accumulation, bounds
// checks; CPU vs Vulkan on the same inputs.
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

typedef struct {
    const char *name;
    vkd_copy_strided_t d;
    size_t n_out, n_inp;
} copy_case_t;

// (B, C, H, W) -> nearest 2x upsample (B, C, 2H, 2W): one copy per sub-pixel (dy, dx).
static copy_case_t upsample_case(int B, int C, int H, int W, int dy, int dx) {
    copy_case_t c = {.name = "upsample", .n_out = (size_t)B * C * 4 * H * W,
                     .n_inp = (size_t)B * C * H * W};
    c.d = (vkd_copy_strided_t){.n = {B * C, H, W, 1},
                               .out_off = (int64_t)dy * 2 * W + dx,
                               .out_stride = {4LL * H * W, 4LL * W, 2, 0},
                               .inp_stride = {(int64_t)H * W, W, 1, 0}};
    return c;
}

static void reference(const copy_case_t *c, float *out, const float *inp) {
    const vkd_copy_strided_t *d = &c->d;
    for (int64_t a = 0; a < d->n[0]; a++)
        for (int64_t b = 0; b < d->n[1]; b++)
            for (int64_t e = 0; e < d->n[2]; e++)
                for (int64_t f = 0; f < d->n[3]; f++) {
                    int64_t io = d->out_off + a * d->out_stride[0] + b * d->out_stride[1] +
                                 e * d->out_stride[2] + f * d->out_stride[3];
                    int64_t ii = d->inp_off + a * d->inp_stride[0] + b * d->inp_stride[1] +
                                 e * d->inp_stride[2] + f * d->inp_stride[3];
                    out[io] = d->accumulate ? out[io] + inp[ii] : inp[ii];
                }
}

static int make_cases(copy_case_t *cs) {
    int n = 0;
    // Concatenation cat([h (2,5,3,3), skip (2,7,3,3)], dim=1) -> (2,12,3,3): the skip part,
    // at channel offset 5 (an element offset no buffer view could express).
    cs[n++] = (copy_case_t){"concat skip", {.n = {2, 7 * 9, 1, 1}, .out_off = 5 * 9,
                                            .out_stride = {12 * 9, 1, 0, 0},
                                            .inp_stride = {7 * 9, 1, 0, 0}},
                            2 * 12 * 9, 2 * 7 * 9};
    // GEGLU split: gate = proj[:, F:2F] of a (N=33, 2F=2*19) matrix.
    cs[n++] = (copy_case_t){"geglu gate slice", {.n = {33, 19, 1, 1}, .inp_off = 19,
                                                 .out_stride = {19, 1, 0, 0},
                                                 .inp_stride = {38, 1, 0, 0}},
                            33 * 19, 33 * 38};
    // Transpose (B=3, C=10, HW=17) -> (B, HW, C).
    cs[n++] = (copy_case_t){"transpose", {.n = {3, 17, 10, 1}, .out_stride = {170, 10, 1, 0},
                                          .inp_stride = {170, 1, 17, 0}},
                            3 * 170, 3 * 170};
    // Accumulating copy (the backward of a slice).
    cs[n++] = (copy_case_t){"accumulate", {.n = {4, 6, 5, 3}, .out_off = 3,
                                           .out_stride = {200, 30, 6, 2},
                                           .inp_stride = {90, 15, 3, 1}, .accumulate = 1},
                            1000, 360};
    copy_case_t up = upsample_case(2, 3, 5, 7, 1, 1);
    cs[n++] = up;
    // A large one: many workgroups and grid-stride iterations.
    cs[n++] = (copy_case_t){"large", {.n = {1, 3, 700, 1001}, .out_off = 1,
                                      .out_stride = {0, 700 * 1001, 1001, 1},
                                      .inp_stride = {0, 1, 3, 2100}},
                            3 * 700 * 1001 + 1, 3 * 700 * 1001};
    return n;
}

static void t_copy_reference(tctx_t *T) {
    copy_case_t cs[8];
    int n = make_cases(cs);
    uint64_t rng = T->seed;
    for (int i = 0; i < n; i++) {
        float *inp = malloc(cs[i].n_inp * sizeof(float));
        float *ref = malloc(cs[i].n_out * sizeof(float));
        test_fill_uniform(&rng, inp, cs[i].n_inp, -3, 3);
        test_fill_uniform(&rng, ref, cs[i].n_out, -3, 3);
        vkd_buf_t bo = test_buf(T, T->cpu_arena, ref, cs[i].n_out);
        vkd_buf_t bi = test_buf(T, T->cpu_arena, inp, cs[i].n_inp);
        reference(&cs[i], ref, inp);
        CHECK_OK(T, op_copy_strided(T->cpu, bo, bi, &cs[i].d));
        float *got = test_read(T, bo, cs[i].n_out);
        test_compare(T, cs[i].name, got, ref, cs[i].n_out, 0.0); // a copy is exact
        free(inp), free(ref), free(got);
    }
}

static void t_upsample_full(tctx_t *T) {
    // Four sub-pixel copies make nearest-neighbour 2x upsampling; check every pixel.
    int B = 2, C = 3, H = 4, W = 5;
    size_t ni = (size_t)B * C * H * W, no = ni * 4;
    float *inp = malloc(ni * sizeof(float));
    for (size_t i = 0; i < ni; i++) inp[i] = (float)i;
    vkd_buf_t bi = test_buf(T, T->cpu_arena, inp, ni), bo = test_buf(T, T->cpu_arena, NULL, no);
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            copy_case_t c = upsample_case(B, C, H, W, dy, dx);
            CHECK_OK(T, op_copy_strided(T->cpu, bo, bi, &c.d));
        }
    float *got = test_read(T, bo, no);
    int bad = 0;
    for (int bc = 0; bc < B * C; bc++)
        for (int y = 0; y < 2 * H; y++)
            for (int x = 0; x < 2 * W; x++)
                bad += got[(size_t)bc * 4 * H * W + y * 2 * W + x] !=
                       inp[(size_t)bc * H * W + (y / 2) * W + x / 2];
    CHECK(T, bad == 0, "%d upsampled pixels wrong", bad);
    free(inp), free(got);
}

static void t_copy_bounds(tctx_t *T) {
    vkd_buf_t a = test_buf(T, T->cpu_arena, NULL, 100), b = test_buf(T, T->cpu_arena, NULL, 100);
    vkd_copy_strided_t d = {.n = {10, 10, 1, 1}, .out_stride = {10, 1, 0, 0},
                            .inp_stride = {11, 1, 0, 0}};
    CHECK(T, op_copy_strided(T->cpu, a, b, &d) == VKD_ERR_INVALID, "input overrun rejected");
    d.inp_stride[0] = 10;
    d.out_off = 1;
    CHECK(T, op_copy_strided(T->cpu, a, b, &d) == VKD_ERR_INVALID, "output overrun rejected");
    d.out_off = 0;
    d.out_stride[1] = -1;
    CHECK(T, op_copy_strided(T->cpu, a, b, &d) == VKD_ERR_INVALID, "negative stride rejected");
    d.out_stride[1] = 1;
    CHECK(T, op_copy_strided(T->cpu, a, b, &d) == VKD_OK, "valid copy accepted: %s",
          vkd_last_error());
    d.n[2] = 0;
    CHECK(T, op_copy_strided(T->cpu, a, b, &d) == VKD_OK, "empty copy is a no-op");
}

static void t_copy_cpu_vs_vk(tctx_t *T) {
    copy_case_t cs[8];
    int n = make_cases(cs);
    uint64_t rng = T->seed;
    for (int i = 0; i < n; i++) {
        float *inp = malloc(cs[i].n_inp * sizeof(float)), *init = malloc(cs[i].n_out * sizeof(float));
        test_fill_uniform(&rng, inp, cs[i].n_inp, -3, 3);
        test_fill_uniform(&rng, init, cs[i].n_out, -3, 3);
        vkd_buf_t co = test_buf(T, T->cpu_arena, init, cs[i].n_out);
        vkd_buf_t ci = test_buf(T, T->cpu_arena, inp, cs[i].n_inp);
        vkd_buf_t vo = test_buf(T, T->vk_arena, init, cs[i].n_out);
        vkd_buf_t vi = test_buf(T, T->vk_arena, inp, cs[i].n_inp);
        CHECK_OK(T, op_copy_strided(T->cpu, co, ci, &cs[i].d));
        CHECK_OK(T, op_copy_strided(T->vk, vo, vi, &cs[i].d));
        float *a = test_read(T, co, cs[i].n_out), *b = test_read(T, vo, cs[i].n_out);
        test_compare(T, cs[i].name, b, a, cs[i].n_out, 0.0);
        free(inp), free(init), free(a), free(b);
    }
}

static const tcase_t cases[] = {
    TCASE_CPU(t_copy_reference),
    TCASE_CPU(t_upsample_full),
    TCASE_CPU(t_copy_bounds),
    TCASE_VK(t_copy_cpu_vs_vk),
};
TEST_MAIN(cases)
