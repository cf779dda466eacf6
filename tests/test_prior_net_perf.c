// Training throughput of the prior network on the CPU backend (VKD_TEST_SLOW: seconds of
// full-size steps, not run again under the sanitizers).
//
// The UNet of bench/unet_shapeworld_candidate.json with a text encoder of width 64, one
// layer, 4 heads, MLP 256, context 8, vocab 32, batch 32 at 32x32: the bundled prior's
// shape. Prints samples/s and GFLOP/s (3 x vkd_unet_flops per sample, the usual
// forward + backward estimate); VKD_PERF_STEPS sets the number of timed steps (default 2).
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sds/prior_net.h"
#include "test_util.h"

// Process CPU time (all threads), ms: on a shared machine wall time measures the load as
// much as the code; CPU time per step shows the code's own cost.
static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static void step_throughput(tctx_t *T) {
    char path[1024];
    const char *src = __FILE__; // tests/test_prior_net_perf.c -> ../bench/...
    const char *slash = strrchr(src, '/');
    snprintf(path, sizeof path, "%.*s/../bench/unet_shapeworld_candidate.json",
             slash ? (int)(slash - src) : 1, slash ? src : ".");
    vkd_unet_config_t uc;
    CHECK_OK(T, vkd_unet_config_load(path, &uc));
    vkd_text_encoder_config_t tc = {.vocab_size = 32, .width = 64, .mlp_width = 256, .layers = 1,
                                    .heads = 4, .context_length = 8, .act = VKD_ACT_GELU,
                                    .ln_eps = 1e-5f, .causal = 1};
    snprintf(tc.prefix, sizeof tc.prefix, "%s", VKD_TEXT_ENCODER_PREFIX);
    vkd_prior_net_t *n = NULL;
    CHECK_OK(T, vkd_prior_net_create(T->cpu, &tc, &uc, 1, &n));
    const int B = 32, H = 32, W = 32, L = 8;
    const size_t nx = (size_t)B * 3 * H * W;
    float *x = test_alloc(nx), *tgt = test_alloc(nx), *ts = test_alloc(B);
    int32_t ids[32 * 8];
    uint64_t st = T->seed;
    test_fill_normal(&st, x, nx, 1.0f);
    test_fill_normal(&st, tgt, nx, 1.0f);
    for (int i = 0; i < B; i++) ts[i] = (float)(i * 31 % 1000);
    for (int i = 0; i < B * L; i++) ids[i] = (i * 5 + 1) % 32;
    double loss = 0;
    const char *env = getenv("VKD_PERF_STEPS");
    const int steps = env ? atoi(env) : 2;
    double t0 = test_now_ms();
    vkd_status_t s = vkd_prior_net_step(n, x, ts, ids, tgt, NULL, B, H, W, L, &loss, NULL);
    const double first = test_now_ms() - t0;
    CHECK(T, s == VKD_OK && isfinite(loss), "first step: %s", vkd_last_error());
    t0 = test_now_ms();
    const double c0 = cpu_ms();
    for (int i = 0; s == VKD_OK && i < steps; i++)
        s = vkd_prior_net_step(n, x, ts, ids, tgt, NULL, B, H, W, L, &loss, NULL);
    const double ms = (test_now_ms() - t0) / (steps > 0 ? steps : 1);
    const double cms = (cpu_ms() - c0) / (steps > 0 ? steps : 1);
    CHECK(T, s == VKD_OK && isfinite(loss), "step: %s", vkd_last_error());
    const double flop = 3.0 * vkd_unet_flops(&uc, B, H, W, L);
    printf("  B %d: first step %.0f ms (plans %.0f MiB of activations), then %.0f ms/step = "
           "%.1f samples/s, %.1f GFLOP/s (3 x %.2f GFLOP/sample)\n", B, first,
           (double)vkd_prior_net_acts_bytes(n) / (1 << 20), ms, B * 1000.0 / ms,
           flop / ms * 1e-6, flop / B / 3 * 1e-9);
    printf("  CPU time %.0f ms/step: %.1f GFLOP per CPU-second\n", cms, flop / cms * 1e-6);
    free(x), free(tgt), free(ts);
    vkd_prior_net_free(n);
}

static const tcase_t cases[] = {
    TCASE_CPU(step_throughput),
};
TEST_MAIN(cases)
