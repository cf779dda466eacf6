// The NeRF field (nerf/field.h) and its config (nerf/config.h): finite differences of the
// whole MLP (IPE, ResNet blocks, heads) and of the background MLP with respect to random
// parameters, CPU against Vulkan for forward, backward and an Adam step, the warm-up and
// IPE anneal schedules, config JSON round trips and errors, NaN detection.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nerf/field.h"
#include "nerf/nerf_ops.h"
#include "test_util.h"

static float *fmalloc(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) abort();
    return p;
}

static vkd_nerf_config_t small_config(int act, int bg_mlp) {
    vkd_nerf_config_t c = vkd_nerf_config_default();
    c.width = 16, c.depth = 2, c.n_freq = 4, c.density_act = act, c.seed = 12345;
    c.bg_mode = bg_mlp ? VKD_NERF_BG_MLP : VKD_NERF_BG_FIXED, c.bg_width = 8, c.bg_freq = 2;
    return c;
}

typedef struct {
    vkd_field_t *f;
    vkd_field_ws_t ws;
    vkd_field_bg_ws_t bws;
    vkd_buf_t sigma, rho, x, var, ws_, wr, bg, dirs;
    int P, R;
    const float *wsig, *wrho, *wbg;
} fctx_t;

static double field_loss(void *p) {
    fctx_t *c = p;
    if (vkd_field_forward(c->f, &c->ws, c->sigma, c->rho, c->x, c->var, c->P, 1e-3f) != VKD_OK)
        return NAN;
    double L = 0;
    for (int i = 0; i < c->P; i++) L += (double)c->wsig[i] * c->sigma.host[i];
    for (int i = 0; i < 3 * c->P; i++) L += (double)c->wrho[i] * c->rho.host[i];
    if (c->R) {
        if (vkd_field_bg_forward(c->f, &c->bws, c->bg, c->dirs, c->R) != VKD_OK) return NAN;
        for (int i = 0; i < 3 * c->R; i++) L += (double)c->wbg[i] * c->bg.host[i];
    }
    return L;
}

// Points inside the sphere, unit directions, loss weights.
static void make_inputs(uint64_t *st, int P, int R, float *x, float *v, float *dirs, float *wsig,
                        float *wrho, float *wbg) {
    test_fill_uniform(st, x, (size_t)P * 3, -0.7f, 0.7f);
    test_fill_uniform(st, v, (size_t)P, 0.0f, 1e-3f);
    test_fill_normal(st, dirs, (size_t)R * 3, 1.0f);
    for (int r = 0; r < R; r++) {
        float *d = dirs + 3 * r, l = sqrtf(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
        for (int a = 0; a < 3; a++) d[a] /= l;
    }
    test_fill_uniform(st, wsig, (size_t)P, -1, 1);
    test_fill_uniform(st, wrho, (size_t)P * 3, -1, 1);
    test_fill_uniform(st, wbg, (size_t)R * 3, -1, 1);
}

static void t_field_fd(tctx_t *T) {
    for (int variant = 0; variant < 2; variant++) {
        const int P = 23, R = variant ? 7 : 0;
        const vkd_nerf_config_t cfg = small_config(variant ? VKD_ACT_SOFTPLUS : VKD_ACT_EXP, variant);
        vkd_field_t *f;
        CHECK_OK(T, vkd_field_create(T->cpu, &cfg, &f));
        uint64_t st = T->seed + (uint64_t)variant;
        float *x = fmalloc(P * 3), *v = fmalloc(P), *dirs = fmalloc(R * 3 + 1);
        float *wsig = fmalloc(P), *wrho = fmalloc(P * 3), *wbg = fmalloc(R * 3 + 1);
        make_inputs(&st, P, R, x, v, dirs, wsig, wrho, wbg);
        // Perturb the parameters away from their init (zero biases, unit norms) so every
        // path carries gradient.
        float *p = fmalloc(f->n_params);
        CHECK_OK(T, vkd_buf_read(f->params, p, f->n_params * sizeof(float)));
        float *noise = fmalloc(f->n_params);
        test_fill_normal(&st, noise, f->n_params, 0.2f);
        for (size_t i = 0; i < f->n_params; i++) p[i] += noise[i];
        CHECK_OK(T, vkd_buf_write(f->params, p, f->n_params * sizeof(float)));
        fctx_t c = {.f = f, .P = P, .R = R, .wsig = wsig, .wrho = wrho, .wbg = wbg};
        CHECK_OK(T, vkd_field_ws_alloc(f, T->cpu_arena, P, &c.ws));
        if (R) CHECK_OK(T, vkd_field_bg_ws_alloc(f, T->cpu_arena, R, &c.bws));
        c.sigma = test_buf(T, T->cpu_arena, NULL, P), c.rho = test_buf(T, T->cpu_arena, NULL, P * 3);
        c.x = test_buf(T, T->cpu_arena, x, P * 3), c.var = test_buf(T, T->cpu_arena, v, P);
        c.bg = test_buf(T, T->cpu_arena, NULL, R * 3 + 1), c.dirs = test_buf(T, T->cpu_arena, dirs, R * 3 + 1);
        vkd_buf_t dsig = test_buf(T, T->cpu_arena, wsig, P), drho = test_buf(T, T->cpu_arena, wrho, P * 3);
        vkd_buf_t dbg = test_buf(T, T->cpu_arena, wbg, R * 3 + 1);
        CHECK_OK(T, field_loss(&c) == field_loss(&c) ? VKD_OK : VKD_ERR_NUMERIC);
        CHECK_OK(T, vkd_field_zero_grad(f));
        CHECK_OK(T, vkd_field_backward(f, &c.ws, dsig, drho, c.x, P));
        if (R) CHECK_OK(T, vkd_field_bg_backward(f, &c.bws, dbg, R));
        // Every tensor gets some gradient, and finite differences agree on random entries.
        for (int i = 0; i < f->n_tensors; i++) {
            vkd_buf_t gv = vkd_field_view(f, 1, i);
            double m = 0;
            for (size_t j = 0; j < f->tensors[i].numel; j++) m = fmax(m, fabs(gv.host[j]));
            CHECK(T, m > 0, "tensor %s has no gradient", f->tensors[i].name);
        }
        test_fd_check(T, variant ? "field + background params (softplus)" : "field params (exp)",
                      field_loss, &c, f->params.host, f->grads.host, f->n_params, 300, 1e-2f, 3e-2);
        free(x), free(v), free(dirs), free(wsig), free(wrho), free(wbg), free(p), free(noise);
        vkd_field_destroy(f);
        vkd_arena_reset(T->cpu_arena);
    }
}

static void t_field_vk(tctx_t *T) {
    vkd_nerf_config_t cfg = small_config(VKD_ACT_EXP, 1);
    cfg.width = 64, cfg.n_freq = 8, cfg.depth = 3, cfg.warmup_steps = 10, cfg.lr = 1e-2f;
    const int P = 5000, R = 700;
    vkd_field_t *fc, *fv;
    CHECK_OK(T, vkd_field_create(T->cpu, &cfg, &fc));
    CHECK_OK(T, vkd_field_create(T->vk, &cfg, &fv));
    uint64_t st = T->seed;
    float *x = fmalloc(P * 3), *v = fmalloc(P), *dirs = fmalloc(R * 3);
    float *wsig = fmalloc(P), *wrho = fmalloc(P * 3), *wbg = fmalloc(R * 3);
    make_inputs(&st, P, R, x, v, dirs, wsig, wrho, wbg);
    vkd_field_t *fs[2] = {fc, fv};
    vkd_arena_t *ars[2] = {T->cpu_arena, T->vk_arena};
    float *out[2][6] = {{0}};
    for (int b = 0; b < 2; b++) {
        vkd_field_ws_t ws;
        vkd_field_bg_ws_t bws;
        CHECK_OK(T, vkd_field_ws_alloc(fs[b], ars[b], P, &ws));
        CHECK_OK(T, vkd_field_bg_ws_alloc(fs[b], ars[b], R, &bws));
        vkd_buf_t bx = test_buf(T, ars[b], x, P * 3), bv = test_buf(T, ars[b], v, P);
        vkd_buf_t bs = test_buf(T, ars[b], NULL, P), br = test_buf(T, ars[b], NULL, P * 3);
        vkd_buf_t bd = test_buf(T, ars[b], dirs, R * 3), bbg = test_buf(T, ars[b], NULL, R * 3);
        vkd_buf_t gs = test_buf(T, ars[b], wsig, P), gr = test_buf(T, ars[b], wrho, P * 3);
        vkd_buf_t gb = test_buf(T, ars[b], wbg, R * 3);
        CHECK_OK(T, vkd_field_forward(fs[b], &ws, bs, br, bx, bv, P, 2e-3f));
        CHECK_OK(T, vkd_field_bg_forward(fs[b], &bws, bbg, bd, R));
        CHECK_OK(T, vkd_field_zero_grad(fs[b]));
        CHECK_OK(T, vkd_field_backward(fs[b], &ws, gs, gr, bx, P));
        CHECK_OK(T, vkd_field_bg_backward(fs[b], &bws, gb, R));
        out[b][0] = test_read(T, bs, P), out[b][1] = test_read(T, br, P * 3);
        out[b][2] = test_read(T, bbg, R * 3);
        out[b][3] = test_read(T, fs[b]->grads, fs[b]->n_params);
        for (int s = 0; s < 3; s++) CHECK_OK(T, vkd_field_adam_step(fs[b]));
        out[b][4] = test_read(T, fs[b]->params, fs[b]->n_params);
        out[b][5] = test_read(T, fs[b]->adam_v, fs[b]->n_params);
    }
    const char *names[6] = {"field sigma", "field rho", "background", "parameter gradients",
                            "params after 3 Adam steps", "Adam second moments"};
    const size_t ns[6] = {P, P * 3, R * 3, fc->n_params, fc->n_params, fc->n_params};
    for (int i = 0; i < 6; i++)
        if (out[0][i] && out[1][i]) test_compare(T, names[i], out[1][i], out[0][i], ns[i], 1e-4);
    // Per tensor as well: a small tensor's gradient must not hide under a large one's.
    for (int i = 0; i < fc->n_tensors && out[0][3] && out[1][3]; i++) {
        const vkd_field_tensor_t *t = &fc->tensors[i];
        test_compare(T, t->name, out[1][3] + t->off, out[0][3] + t->off, t->numel, 1e-4);
    }
    for (int i = 0; i < 6; i++) free(out[0][i]), free(out[1][i]);
    free(x), free(v), free(dirs), free(wsig), free(wrho), free(wbg);
    CHECK(T, fc->step == 3 && fabsf(vkd_field_lr(fc) - 4e-3f) < 1e-7f, "warm-up: lr %g at step %lld",
          (double)vkd_field_lr(fc), (long long)fc->step);
    vkd_field_destroy(fc);
    vkd_field_destroy(fv);
}

static void t_config(tctx_t *T) {
    vkd_nerf_config_t c = vkd_nerf_config_default(), d;
    c.seed = 0xfedcba9876543210ULL, c.bg_mode = VKD_NERF_BG_MLP, c.density_act = VKD_ACT_SOFTPLUS;
    c.bg_color[1] = 0.25f, c.width = 96;
    char *js = vkd_nerf_config_to_json(&c);
    CHECK(T, js != NULL, "to_json");
    if (!js) return;
    CHECK_OK(T, vkd_nerf_config_from_json(js, "round trip", &d));
    CHECK(T, memcmp(&c, &d, sizeof c) == 0, "JSON round trip changes the config: %s", js);
    free(js);
    static const struct {
        const char *json, *needle;
    } bad[] = {
        {"{\"width\": 8}", "width"},
        {"{\"widht\": 64}", "unknown key \"widht\""},
        {"{\"depth\": 2.5}", "depth must be an integer"},
        {"{\"density_act\": \"relu\"}", "density_act"},
        {"{\"bg_color\": [1, 2]}", "bg_color"},
        {"{\"seed\": -3}", "seed"},
        {"[1, 2]", "not a JSON object"},
        {"{\"lr\": ", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vkd_status_t s = vkd_nerf_config_from_json(bad[i].json, "cfg.json", &d);
        CHECK(T, s == VKD_ERR_INVALID && strstr(vkd_last_error(), bad[i].needle) &&
                     strstr(vkd_last_error(), "cfg.json"),
              "%s -> %s", bad[i].json, vkd_last_error());
    }
    // The IPE anneal: start, log-midpoint, end.
    c = vkd_nerf_config_default();
    c.total_steps = 300;
    CHECK(T, fabsf(vkd_nerf_ipe_var(&c, 0) - 5e-2f) < 1e-8f, "anneal start");
    CHECK(T, fabsf(vkd_nerf_ipe_var(&c, 50) - sqrtf(5e-2f * 2e-3f)) < 1e-6f, "anneal midpoint %g",
          (double)vkd_nerf_ipe_var(&c, 50));
    CHECK(T, fabsf(vkd_nerf_ipe_var(&c, 100) - 2e-3f) < 1e-9f && vkd_nerf_ipe_var(&c, 5000) == 2e-3f,
          "anneal end");
}

static void t_nan(tctx_t *T) {
    const vkd_nerf_config_t cfg = small_config(VKD_ACT_EXP, 0);
    vkd_field_t *f;
    CHECK_OK(T, vkd_field_create(T->cpu, &cfg, &f));
    CHECK_OK(T, vkd_field_check_finite(f, "fresh"));
    const int i = vkd_field_find(f, "field.blocks.1.linear.weight");
    CHECK(T, i >= 0, "tensor lookup");
    vkd_field_view(f, 0, i).host[5] = NAN;
    vkd_status_t s = vkd_field_check_finite(f, "ckpt.safetensors");
    CHECK(T, s == VKD_ERR_NUMERIC && strstr(vkd_last_error(), "field.blocks.1.linear.weight[5]") &&
                 strstr(vkd_last_error(), "ckpt.safetensors"),
          "NaN named: %s", vkd_last_error());
    vkd_field_destroy(f);
}

static const tcase_t cases[] = {
    TCASE_CPU(t_field_fd),
    TCASE_CPU(t_config),
    TCASE_CPU(t_nan),
    TCASE_VK(t_field_vk),
};

TEST_MAIN(cases)
