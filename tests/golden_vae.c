// Conformance of the VAE (sds/vae.h) with the reference LDM AutoencoderKL: the golden case
// vae_tiny of ../shared/golden on both backends, comparing the moments, the posterior
// (mean, logvar, std, sample), the decoded image and every dbg.* module output; plus the
// failures a bad weights file or config must produce.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "safetensors.h"
#include "sds/vae.h"
#include "test_util.h"
#include "weights.h"

#define TOL 1e-4
#define CASE "vae_tiny"

typedef struct {
    tctx_t *T;
    const vkd_safetensors_t *io;
    int seen;
} tap_t;

// Compares a module output with dbg.<name> when the golden file has it (it holds a subset).
static vkd_status_t on_tap(void *user, const char *name, vkd_buf_t buf, int ndim,
                           const int64_t *shape) {
    tap_t *c = user;
    char key[96];
    snprintf(key, sizeof key, "dbg.%s", name);
    const vkd_st_tensor_t *t = vkd_st_find(c->io, key);
    if (!t) return VKD_OK;
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    CHECK(c->T, same, "%s: shape differs from the reference's", key);
    if (!same) return VKD_OK;
    size_t n;
    float *ref = test_golden_f32(c->T, c->io, key, &n);
    float *got = malloc(n * sizeof(float) + 1);
    vkd_status_t s = ref && got ? vkd_buf_read(buf, got, n * sizeof(float)) : VKD_ERR_NOMEM;
    if (s == VKD_OK) test_compare(c->T, key, got, ref, n, TOL);
    free(ref);
    free(got);
    c->seen++;
    return s;
}

static void compare_out(tctx_t *T, const vkd_safetensors_t *io, const char *name, vkd_buf_t b) {
    size_t n;
    float *ref = test_golden_f32(T, io, name, &n);
    float *got = ref ? test_read(T, b, n) : NULL;
    if (got) test_compare(T, name, got, ref, n, TOL);
    free(ref);
    free(got);
}

static void run_case(tctx_t *T, vkd_backend_t *be, vkd_arena_t *arena) {
    char dir[1024], path[1200];
    if (!test_golden_dir(dir, sizeof dir)) return;
    vkd_vae_config_t cfg;
    snprintf(path, sizeof path, "%s/" CASE ".config.json", dir);
    CHECK_OK(T, vkd_vae_config_load(path, &cfg));
    CHECK(T, vkd_vae_param_count(&cfg) == 658375, "param count %lld",
          (long long)vkd_vae_param_count(&cfg));
    vkd_weights_t *w;
    snprintf(path, sizeof path, "%s/" CASE ".weights.safetensors", dir);
    CHECK_OK(T, vkd_weights_open(path, &w));
    vkd_vae_t *v = NULL;
    vkd_status_t s = vkd_vae_create(be, &cfg, w, &v);
    int unused = s == VKD_OK ? vkd_weights_report_unused(w, cfg.prefix, NULL) : 0;
    vkd_weights_close(w);
    CHECK_OK(T, s);
    CHECK(T, unused == 0, "%d tensors of the golden weights were not used", unused);
    vkd_safetensors_t *io;
    snprintf(path, sizeof path, "%s/" CASE ".io.safetensors", dir);
    if (vkd_st_open(path, &io) != VKD_OK) {
        vkd_vae_destroy(v);
        CHECK_OK(T, VKD_ERR_IO);
    }
    const vkd_st_tensor_t *ti = vkd_st_find(io, "in.image");
    CHECK(T, ti && ti->ndim == 4, "in.image missing or not 4-D");
    size_t ni = 0, nn = 0;
    float *img = ti ? test_golden_f32(T, io, "in.image", &ni) : NULL;
    float *noise = ti ? test_golden_f32(T, io, "in.noise", &nn) : NULL;
    if (img && noise) {
        const int B = (int)ti->shape[0], H = (int)ti->shape[2], W = (int)ti->shape[3];
        const int f = vkd_vae_factor(v), h = H / f, wl = W / f, E = cfg.embed_dim;
        const size_t nl = (size_t)B * E * h * wl;
        vkd_buf_t bi = test_buf(T, arena, img, ni), bn = test_buf(T, arena, noise, nn);
        vkd_buf_t mom = test_buf(T, arena, NULL, 2 * nl), mean = test_buf(T, arena, NULL, nl);
        vkd_buf_t lv = test_buf(T, arena, NULL, nl), sd = test_buf(T, arena, NULL, nl);
        vkd_buf_t smp = test_buf(T, arena, NULL, nl), mean2 = test_buf(T, arena, NULL, nl);
        vkd_buf_t dec = test_buf(T, arena, NULL, (size_t)B * cfg.out_ch * H * W);
        tap_t tc = {.T = T, .io = io};
        vkd_vae_set_tap(v, on_tap, &tc);
        s = vkd_vae_encode(v, mom, bi, B, H, W);
        if (s == VKD_OK) s = vkd_vae_posterior(v, mean, lv, sd, mom, B, h, wl);
        if (s == VKD_OK) s = vkd_vae_sample(v, smp, mom, bn, B, h, wl);
        if (s == VKD_OK) s = vkd_vae_mean(v, mean2, mom, B, h, wl);
        if (s == VKD_OK) s = vkd_vae_decode(v, dec, mean, B, h, wl);
        CHECK(T, s == VKD_OK, "vae calls: %s", vkd_last_error());
        if (s == VKD_OK) {
            compare_out(T, io, "out.moments", mom);
            compare_out(T, io, "out.mean", mean);
            compare_out(T, io, "out.mean", mean2);
            compare_out(T, io, "out.logvar", lv);
            compare_out(T, io, "out.std", sd);
            compare_out(T, io, "out.sample", smp);
            compare_out(T, io, "out.dec", dec);
        }
        int n_dbg = 0;
        for (int i = 0; i < vkd_st_count(io); i++)
            n_dbg += strncmp(vkd_st_get(io, i)->name, "dbg.", 4) == 0;
        CHECK(T, tc.seen == n_dbg, "compared %d of the %d dbg.* tensors", tc.seen, n_dbg);

        vkd_vae_set_tap(v, NULL, NULL);
        double best_e = 1e30, best_d = 1e30;
        for (int rep = 0; rep < 3 && s == VKD_OK; rep++) {
            double t0 = test_now_ms();
            s = vkd_vae_encode(v, mom, bi, B, H, W);
            if (s == VKD_OK) s = vkd_backend_sync(be);
            double t1 = test_now_ms();
            if (s == VKD_OK) s = vkd_vae_decode(v, dec, mean, B, h, wl);
            if (s == VKD_OK) s = vkd_backend_sync(be);
            best_e = fmin(best_e, t1 - t0);
            best_d = fmin(best_d, test_now_ms() - t1);
        }
        CHECK(T, s == VKD_OK, "timed calls: %s", vkd_last_error());
        size_t acts = 0;
        vkd_vae_acts_bytes(v, B, H, W, &acts);
        printf("  " CASE " on %s: encode %.2f ms, decode %.2f ms (B=%d %dx%d), activations "
               "%.2f MiB\n", vkd_backend_name(be), best_e, best_d, B, H, W, acts / 1048576.0);
    }
    free(img), free(noise);
    vkd_st_close(io);
    vkd_vae_destroy(v);
}

static void t_golden_cpu(tctx_t *T) { run_case(T, T->cpu, T->cpu_arena); }
static void t_golden_vk(tctx_t *T) { run_case(T, T->vk, T->vk_arena); }

// Batch 2 of the golden image (the second copy flipped in sign, so the items differ): each
// item's moments and decoded mean must match a batch-1 run of that item, which checks every
// batch stride of the forward (the golden case has B = 1).
static void batch_case(tctx_t *T, vkd_backend_t *be, vkd_arena_t *arena) {
    char dir[1024], path[1200];
    if (!test_golden_dir(dir, sizeof dir)) return;
    vkd_vae_config_t cfg;
    snprintf(path, sizeof path, "%s/" CASE ".config.json", dir);
    CHECK_OK(T, vkd_vae_config_load(path, &cfg));
    vkd_weights_t *w;
    snprintf(path, sizeof path, "%s/" CASE ".weights.safetensors", dir);
    CHECK_OK(T, vkd_weights_open(path, &w));
    vkd_vae_t *v = NULL;
    vkd_status_t s = vkd_vae_create(be, &cfg, w, &v);
    vkd_weights_close(w);
    CHECK_OK(T, s);
    const int H = 16, W = 24, h = 8, wl = 12, E = cfg.embed_dim; // non-square, non-golden size
    const size_t ni = (size_t)3 * H * W, nl = (size_t)E * h * wl, nd = (size_t)3 * H * W;
    float *img = test_alloc(2 * ni);
    uint64_t st = 7;
    test_fill_uniform(&st, img, ni, -1.0f, 1.0f);
    for (size_t i = 0; i < ni; i++) img[ni + i] = -img[i];
    vkd_buf_t bi = test_buf(T, arena, img, 2 * ni), mom = test_buf(T, arena, NULL, 4 * nl);
    vkd_buf_t mean = test_buf(T, arena, NULL, 2 * nl), dec = test_buf(T, arena, NULL, 2 * nd);
    s = vkd_vae_encode(v, mom, bi, 2, H, W);
    if (s == VKD_OK) s = vkd_vae_mean(v, mean, mom, 2, h, wl);
    if (s == VKD_OK) s = vkd_vae_decode(v, dec, mean, 2, h, wl);
    CHECK(T, s == VKD_OK, "batch 2: %s", vkd_last_error());
    float *m2 = s == VKD_OK ? test_read(T, mom, 4 * nl) : NULL;
    float *d2 = s == VKD_OK ? test_read(T, dec, 2 * nd) : NULL;
    for (int b = 0; b < 2 && m2 && d2; b++) {
        vkd_buf_t b1 = test_buf(T, arena, img + b * ni, ni);
        s = vkd_vae_encode(v, mom, b1, 1, H, W);
        if (s == VKD_OK) s = vkd_vae_mean(v, mean, mom, 1, h, wl);
        if (s == VKD_OK) s = vkd_vae_decode(v, dec, mean, 1, h, wl);
        CHECK(T, s == VKD_OK, "batch 1: %s", vkd_last_error());
        float *m1 = s == VKD_OK ? test_read(T, mom, 2 * nl) : NULL;
        float *d1 = s == VKD_OK ? test_read(T, dec, nd) : NULL;
        if (m1 && d1) {
            test_compare(T, b ? "B=2 item 1 moments" : "B=2 item 0 moments", m2 + b * 2 * nl, m1,
                         2 * nl, 1e-5);
            test_compare(T, b ? "B=2 item 1 decoded" : "B=2 item 0 decoded", d2 + b * nd, d1, nd,
                         1e-5);
        }
        free(m1), free(d1);
    }
    free(m2), free(d2), free(img);
    vkd_vae_destroy(v);
}

static void t_batch_cpu(tctx_t *T) { batch_case(T, T->cpu, T->cpu_arena); }
static void t_batch_vk(tctx_t *T) { batch_case(T, T->vk, T->vk_arena); }

// The posterior on made-up moments whose logvar leaves [-30, 20] on both sides (the golden
// logvar stays inside, so the clamp is checked here), batch 2 so the channel split is strided.
static void posterior_case(tctx_t *T, vkd_backend_t *be, vkd_arena_t *arena) {
    char dir[1024], path[1200];
    if (!test_golden_dir(dir, sizeof dir)) return;
    vkd_vae_config_t cfg;
    snprintf(path, sizeof path, "%s/" CASE ".config.json", dir);
    CHECK_OK(T, vkd_vae_config_load(path, &cfg));
    vkd_weights_t *w;
    snprintf(path, sizeof path, "%s/" CASE ".weights.safetensors", dir);
    CHECK_OK(T, vkd_weights_open(path, &w));
    vkd_vae_t *v = NULL;
    vkd_status_t s = vkd_vae_create(be, &cfg, w, &v);
    vkd_weights_close(w);
    CHECK_OK(T, s);
    const int B = 2, E = cfg.embed_dim, hw = 9;
    const size_t n = (size_t)B * E * hw;
    float *mom = test_alloc(2 * n), *noise = test_alloc(n);
    float *rm = test_alloc(n), *rl = test_alloc(n), *rs = test_alloc(n), *rx = test_alloc(n);
    uint64_t st = 11;
    test_fill_uniform(&st, mom, 2 * n, -60.0f, 50.0f);
    test_fill_normal(&st, noise, n, 1.0f);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < E * hw; i++) {
            const size_t o = (size_t)b * E * hw + i;
            rm[o] = mom[(size_t)b * 2 * E * hw + i];
            rl[o] = fminf(fmaxf(mom[(size_t)b * 2 * E * hw + E * hw + i], -30.0f), 20.0f);
            rs[o] = (float)exp(0.5 * rl[o]);
            rx[o] = rm[o] + rs[o] * noise[o];
        }
    vkd_buf_t bm = test_buf(T, arena, mom, 2 * n), bn = test_buf(T, arena, noise, n);
    vkd_buf_t m = test_buf(T, arena, NULL, n), l = test_buf(T, arena, NULL, n);
    vkd_buf_t sd = test_buf(T, arena, NULL, n), x = test_buf(T, arena, NULL, n);
    s = vkd_vae_posterior(v, m, l, sd, bm, B, 3, 3);
    if (s == VKD_OK) s = vkd_vae_sample(v, x, bm, bn, B, 3, 3);
    CHECK(T, s == VKD_OK, "posterior: %s", vkd_last_error());
    if (s == VKD_OK) {
        const char *names[4] = {"mean", "logvar (clamped)", "std", "sample"};
        vkd_buf_t bufs[4] = {m, l, sd, x};
        const float *refs[4] = {rm, rl, rs, rx};
        for (int i = 0; i < 4; i++) {
            float *got = test_read(T, bufs[i], n);
            if (got) test_compare(T, names[i], got, refs[i], n, 1e-6);
            free(got);
        }
    }
    // A missing noise buffer for a sample is refused, naming it.
    s = vkd_vae_sample(v, x, bm, VKD_BUF_NONE, B, 3, 3);
    CHECK(T, s == VKD_ERR_INVALID && strstr(vkd_last_error(), "noise"), "no noise: %s",
          vkd_last_error());
    free(mom), free(noise), free(rm), free(rl), free(rs), free(rx);
    vkd_vae_destroy(v);
}

// ---- AttnBlocks inside levels ------------------------------------------------------------------
// The golden case has attn_resolutions = [] (only the mid blocks attend). With [16], level 1
// gets an AttnBlock after each ResnetBlock (one in the encoder, two in the decoder); their
// weights are copies of the mid blocks' (same channel count). No reference exists for this
// variant, so the check is that every expected module runs and the two backends agree.
typedef struct {
    int n_attn;
} count_t;

static vkd_status_t count_attn(void *user, const char *name, vkd_buf_t buf, int ndim,
                               const int64_t *shape) {
    (void)buf, (void)ndim, (void)shape;
    count_t *c = user;
    c->n_attn += strstr(name, ".attn.") != NULL;
    return VKD_OK;
}

static vkd_status_t attn_model(tctx_t *T, vkd_backend_t *be, const char *dir, const char *wpath,
                               vkd_vae_t **out) {
    char path[1200], *text = NULL;
    size_t n;
    snprintf(path, sizeof path, "%s/" CASE ".config.json", dir);
    VKD_TRY(vkd_file_read_all(path, &text, &n));
    cJSON *root = cJSON_Parse(text);
    free(text);
    cJSON *dd = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "constructor_args"), "ddconfig");
    cJSON_ReplaceItemInObjectCaseSensitive(dd, "attn_resolutions", cJSON_Parse("[16]"));
    cJSON_DeleteItemFromObjectCaseSensitive(root, "num_parameters");
    vkd_vae_config_t cfg;
    vkd_status_t s = vkd_vae_config_from_json(root, "attn config", &cfg);
    cJSON_Delete(root);
    CHECK(T, s != VKD_OK || cfg.attn_level[1] == 1, "attn_resolutions [16] is not level 1");
    vkd_weights_t *w = NULL;
    if (s == VKD_OK) s = vkd_weights_open(wpath, &w);
    if (s == VKD_OK) s = vkd_vae_create(be, &cfg, w, out);
    int unused = s == VKD_OK ? vkd_weights_report_unused(w, cfg.prefix, NULL) : 0;
    CHECK(T, unused == 0, "%d tensors unused", unused);
    vkd_weights_close(w);
    return s;
}

static void t_attn_levels(tctx_t *T) {
    char dir[1024], src[1200], tmpl[1100], dst[1200];
    if (!test_golden_dir(dir, sizeof dir)) return;
    snprintf(src, sizeof src, "%s/" CASE ".weights.safetensors", dir);
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpl, sizeof tmpl, "%s/vkd_vae_XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    CHECK(T, mkdtemp(tmpl) != NULL, "mkdtemp %s failed", tmpl);
    snprintf(dst, sizeof dst, "%s/attn.safetensors", tmpl);
    vkd_safetensors_t *st = NULL;
    vkd_st_writer_t *wr = NULL;
    vkd_status_t s = vkd_st_open(src, &st);
    if (s == VKD_OK) s = vkd_st_writer_create(&wr);
    static const char *const copies[][2] = {
        {"encoder.mid.attn_1", "encoder.down.1.attn.0"},
        {"decoder.mid.attn_1", "decoder.up.1.attn.0"},
        {"decoder.mid.attn_1", "decoder.up.1.attn.1"},
    };
    const char *pre = "first_stage_model.";
    for (int i = 0; s == VKD_OK && i < vkd_st_count(st); i++) {
        const vkd_st_tensor_t *t = vkd_st_get(st, i);
        s = vkd_st_writer_add(wr, t->name, t->dtype, t->ndim, t->shape, t->data);
        for (int c = 0; s == VKD_OK && c < 3; c++) {
            char from[96], to[160];
            snprintf(from, sizeof from, "%s%s.", pre, copies[c][0]);
            if (strncmp(t->name, from, strlen(from)) != 0) continue;
            snprintf(to, sizeof to, "%s%s.%s", pre, copies[c][1], t->name + strlen(from));
            s = vkd_st_writer_add(wr, to, t->dtype, t->ndim, t->shape, t->data);
        }
    }
    if (s == VKD_OK) s = vkd_st_write(wr, dst);
    vkd_st_writer_free(wr);
    vkd_st_close(st);
    CHECK(T, s == VKD_OK, "writing %s: %s", dst, vkd_last_error());
    float *res[2][2] = {{NULL, NULL}, {NULL, NULL}}; // [backend][moments, image]
    uint64_t seed = 3;
    const int H = 32, W = 32, nl = 8 * 16 * 16, ni = 3 * H * W;
    float *img = test_alloc(ni);
    test_fill_uniform(&seed, img, ni, -1.0f, 1.0f);
    for (int k = 0; k < 2 && s == VKD_OK; k++) {
        vkd_backend_t *be = k ? T->vk : T->cpu;
        vkd_arena_t *arena = k ? T->vk_arena : T->cpu_arena;
        vkd_vae_t *v = NULL;
        s = attn_model(T, be, dir, dst, &v);
        CHECK(T, s == VKD_OK, "attn model: %s", vkd_last_error());
        if (s != VKD_OK) break;
        count_t cnt = {0};
        vkd_vae_set_tap(v, count_attn, &cnt);
        vkd_buf_t bi = test_buf(T, arena, img, ni), mom = test_buf(T, arena, NULL, nl);
        vkd_buf_t mean = test_buf(T, arena, NULL, nl / 2), out = test_buf(T, arena, NULL, ni);
        s = vkd_vae_encode(v, mom, bi, 1, H, W);
        if (s == VKD_OK) s = vkd_vae_mean(v, mean, mom, 1, 16, 16);
        if (s == VKD_OK) s = vkd_vae_decode(v, out, mean, 1, 16, 16);
        CHECK(T, s == VKD_OK, "attn model calls: %s", vkd_last_error());
        CHECK(T, cnt.n_attn == 3, "%d level AttnBlocks ran, 3 expected", cnt.n_attn);
        if (s == VKD_OK) res[k][0] = test_read(T, mom, nl), res[k][1] = test_read(T, out, ni);
        vkd_vae_destroy(v);
    }
    if (res[0][0] && res[1][0] && res[0][1] && res[1][1]) {
        test_compare(T, "attn levels: vulkan vs cpu moments", res[1][0], res[0][0], nl, TOL);
        test_compare(T, "attn levels: vulkan vs cpu image", res[1][1], res[0][1], ni, TOL);
    }
    for (int k = 0; k < 2; k++) free(res[k][0]), free(res[k][1]);
    free(img);
    unlink(dst);
    rmdir(tmpl);
}

static void t_posterior_cpu(tctx_t *T) { posterior_case(T, T->cpu, T->cpu_arena); }
static void t_posterior_vk(tctx_t *T) { posterior_case(T, T->vk, T->vk_arena); }

// ---- bad weights ------------------------------------------------------------------------------
// Writes a copy of the golden weights without `drop` and with `reshape` stored as new_shape,
// then loads it.
static vkd_status_t load_edited(tctx_t *T, const char *drop, const char *reshape, int new_ndim,
                                const int64_t *new_shape) {
    char dir[1024], src[1200], tmpl[1100], dst[1200];
    vkd_vae_config_t cfg;
    snprintf(src, sizeof src, "%s/" CASE ".config.json", test_golden_dir(dir, sizeof dir));
    if (vkd_vae_config_load(src, &cfg) != VKD_OK) return VKD_ERR_IO;
    snprintf(src, sizeof src, "%s/" CASE ".weights.safetensors", dir);
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpl, sizeof tmpl, "%s/vkd_vae_XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(tmpl)) {
        test_fail(T, __FILE__, __LINE__, "mkdtemp %s failed", tmpl);
        return VKD_ERR_IO;
    }
    snprintf(dst, sizeof dst, "%s/edited.safetensors", tmpl);
    vkd_safetensors_t *st = NULL;
    vkd_st_writer_t *wr = NULL;
    vkd_status_t s = vkd_st_open(src, &st);
    if (s == VKD_OK) s = vkd_st_writer_create(&wr);
    for (int i = 0; s == VKD_OK && i < vkd_st_count(st); i++) {
        const vkd_st_tensor_t *t = vkd_st_get(st, i);
        if (drop && strcmp(t->name, drop) == 0) continue;
        const int re = reshape && strcmp(t->name, reshape) == 0;
        s = vkd_st_writer_add(wr, t->name, t->dtype, re ? new_ndim : t->ndim,
                              re ? new_shape : t->shape, t->data);
    }
    if (s == VKD_OK) s = vkd_st_write(wr, dst);
    vkd_st_writer_free(wr);
    vkd_st_close(st);
    CHECK(T, s == VKD_OK, "writing the edited copy: %s", vkd_last_error());
    vkd_weights_t *w = NULL;
    vkd_vae_t *v = NULL;
    if (s == VKD_OK) s = vkd_weights_open(dst, &w);
    if (s == VKD_OK) s = vkd_vae_create(T->cpu, &cfg, w, &v);
    vkd_vae_destroy(v);
    vkd_weights_close(w);
    unlink(dst);
    rmdir(tmpl);
    return s;
}

static void t_bad_weights(tctx_t *T) {
    char dir[1024];
    if (!test_golden_dir(dir, sizeof dir)) return;
    const char *missing = "first_stage_model.decoder.up.0.block.1.conv2.weight";
    vkd_status_t s = load_edited(T, missing, NULL, 0, NULL);
    printf("  missing tensor -> %s\n", vkd_last_error());
    CHECK(T, s == VKD_ERR_FORMAT && strstr(vkd_last_error(), missing), "missing tensor: %s",
          vkd_last_error());
    // q as a Linear [C, C] instead of the 1x1 conv [C, C, 1, 1] must be refused.
    const char *resh = "first_stage_model.encoder.mid.attn_1.q.weight";
    s = load_edited(T, NULL, resh, 2, (int64_t[]){64, 64});
    printf("  wrong shape -> %s\n", vkd_last_error());
    CHECK(T, s == VKD_ERR_FORMAT && strstr(vkd_last_error(), resh), "wrong shape: %s",
          vkd_last_error());
}

// ---- bad configs --------------------------------------------------------------------------------
typedef struct {
    const char *key;  // ddconfig key (or constructor_args key when args = 1)
    const char *json; // new value; NULL deletes it
    int args;
    vkd_status_t want;
    const char *msg;  // must appear in the error
} cfg_edit_t;

static void t_bad_config(tctx_t *T) {
    char dir[1024], path[1200];
    if (!test_golden_dir(dir, sizeof dir)) return;
    snprintf(path, sizeof path, "%s/" CASE ".config.json", dir);
    char *text;
    size_t n;
    CHECK_OK(T, vkd_file_read_all(path, &text, &n));
    static const cfg_edit_t edits[] = {
        {"chmult", "[1, 2]", 0, VKD_ERR_INVALID, "ddconfig.chmult"},
        {"ch", NULL, 0, VKD_ERR_INVALID, "ddconfig.ch is required"},
        {"ch", "48", 0, VKD_ERR_INVALID, "multiple of the 32"},
        {"ch_mult", "[]", 0, VKD_ERR_INVALID, "ddconfig.ch_mult"},
        {"num_res_blocks", "2", 0, VKD_ERR_INVALID, "num_parameters"},
        {"attn_resolutions", "[12]", 0, VKD_ERR_INVALID, "attn_resolutions"},
        {"double_z", "false", 0, VKD_ERR_UNSUPPORTED, "double_z"},
        {"attn_type", "\"linear\"", 0, VKD_ERR_UNSUPPORTED, "attn_type"},
        {"embed_dim", NULL, 1, VKD_ERR_INVALID, "embed_dim"},
        {"scale_factor", "0.18215", 1, VKD_ERR_INVALID, "constructor_args.scale_factor"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        const cfg_edit_t *e = &edits[i];
        cJSON *root = cJSON_Parse(text);
        cJSON *args = cJSON_GetObjectItemCaseSensitive(root, "constructor_args");
        cJSON *obj = e->args ? args : cJSON_GetObjectItemCaseSensitive(args, "ddconfig");
        cJSON_DeleteItemFromObjectCaseSensitive(obj, e->key);
        if (e->json) cJSON_AddItemToObject(obj, e->key, cJSON_Parse(e->json));
        char *out = cJSON_PrintUnformatted(root);
        vkd_vae_config_t cfg;
        vkd_status_t s = vkd_vae_config_parse(out, "edited.json", &cfg);
        printf("  %s = %s -> %s\n", e->key, e->json ? e->json : "(deleted)",
               s ? vkd_last_error() : "ok");
        CHECK(T, s == e->want && strstr(vkd_last_error(), e->msg), "edit %s: status %d, %s",
              e->key, (int)s, vkd_last_error());
        free(out);
        cJSON_Delete(root);
    }
    free(text);
    vkd_vae_config_t cfg;
    CHECK(T, vkd_vae_config_parse("{", "x.json", &cfg) == VKD_ERR_FORMAT, "bad JSON accepted");
}

static const tcase_t cases[] = {
    TCASE_CPU(t_golden_cpu),
    TCASE_VK(t_golden_vk),
    TCASE_CPU(t_batch_cpu),
    TCASE_VK(t_batch_vk),
    TCASE_CPU(t_posterior_cpu),
    TCASE_VK(t_posterior_vk),
    TCASE_VK(t_attn_levels),
    TCASE_CPU(t_bad_weights),
    TCASE_CPU(t_bad_config),
};
TEST_MAIN(cases)
