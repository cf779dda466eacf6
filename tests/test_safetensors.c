// safetensors reading/writing and atomic file writes: round trips, every golden file,
// exhaustive half-precision conversion, a catalogue of corrupt files (each must fail with
// a message naming the problem, never crash), and the guarantees of atomic writing.
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "safetensors.h"
#include "test_util.h"

// ---- helpers (plain stdio, independent of the code under test) -------------------------

static char *make_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/vkd_st_XXXXXX", base && base[0] ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static void remove_tmpdir(char *dir) {
    if (!dir) return;
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[1024];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0) rmdir(p);
    }
    if (d) closedir(d);
    rmdir(dir);
    free(dir);
}

// Names in dir containing `needle` (to find leftover temporary files).
static int count_names(const char *dir, const char *needle) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) n += strstr(e->d_name, needle) != NULL;
    if (d) closedir(d);
    return n;
}

static void put_raw(tctx_t *T, const char *path, const void *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(T, f && fwrite(bytes, 1, n, f) == n, "cannot write test file %s", path);
    if (f) fclose(f);
}

// A safetensors file from a header string and `data_len` bytes of data (values i & 0xff).
static void put_st(tctx_t *T, const char *path, uint64_t hl, const char *json, size_t data_len) {
    size_t jl = strlen(json);
    unsigned char *b = calloc(1, 8 + jl + data_len + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(hl >> (8 * i));
    memcpy(b + 8, json, jl);
    for (size_t i = 0; i < data_len; i++) b[8 + jl + i] = (unsigned char)i;
    put_raw(T, path, b, 8 + jl + data_len);
    free(b);
}

static size_t file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (size_t)sb.st_size : (size_t)-1;
}

// ---- round trip -------------------------------------------------------------------------

static void t_roundtrip(tctx_t *T) {
    char *dir = make_tmpdir(), path[600];
    CHECK(T, dir != NULL, "mkdtemp");
    if (!dir) return;
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    float a[12];     // (3, 4)
    uint16_t h[5];   // (5)
    double d[4];     // (2, 2)
    int64_t ix[3] = {-5, 0, (int64_t)1 << 40};
    int8_t s8 = -7;  // scalar
    uint16_t bf[2];
    for (int i = 0; i < 12; i++) a[i] = (float)i * 0.37f - 1.5f;
    for (int i = 0; i < 5; i++) h[i] = vkd_f32_to_f16((float)i - 2.25f);
    for (int i = 0; i < 4; i++) d[i] = 1.0 / (i + 3);
    bf[0] = vkd_f32_to_bf16(3.5f), bf[1] = vkd_f32_to_bf16(-0.125f);
    vkd_st_writer_t *w;
    CHECK_OK(T, vkd_st_writer_create(&w));
    const int64_t sa[2] = {3, 4}, sh[1] = {5}, sd[2] = {2, 2}, si[1] = {3}, sb[1] = {2},
                  se[2] = {0, 3};
    // Deliberately small elements first: the writer must reorder for alignment.
    CHECK_OK(T, vkd_st_writer_add(w, "s8", VKD_DT_I8, 0, NULL, &s8));
    CHECK_OK(T, vkd_st_writer_add(w, "half", VKD_DT_F16, 1, sh, h));
    CHECK_OK(T, vkd_st_writer_add(w, "a.weight", VKD_DT_F32, 2, sa, a));
    CHECK_OK(T, vkd_st_writer_add(w, "empty", VKD_DT_F32, 2, se, NULL));
    CHECK_OK(T, vkd_st_writer_add(w, "dbl", VKD_DT_F64, 2, sd, d));
    CHECK_OK(T, vkd_st_writer_add(w, "idx", VKD_DT_I64, 1, si, ix));
    CHECK_OK(T, vkd_st_writer_add(w, "bf", VKD_DT_BF16, 1, sb, bf));
    CHECK_OK(T, vkd_st_writer_meta(w, "seed", "1"));
    CHECK_OK(T, vkd_st_writer_meta(w, "note", "quote \" backslash \\ newline \n unicode \xc3\xa9"));
    CHECK_OK(T, vkd_st_writer_meta(w, "seed", "42")); // replaces
    CHECK(T, vkd_st_writer_add(w, "a.weight", VKD_DT_F32, 2, sa, a) == VKD_ERR_INVALID,
          "duplicate name rejected");
    CHECK(T, vkd_st_writer_add(w, "__metadata__", VKD_DT_F32, 2, sa, a) == VKD_ERR_INVALID,
          "reserved name rejected");
    const int64_t neg[1] = {-1};
    CHECK(T, vkd_st_writer_add(w, "neg", VKD_DT_F32, 1, neg, a) == VKD_ERR_INVALID,
          "negative dim rejected");
    vkd_status_t ws = vkd_st_write(w, path);
    vkd_st_writer_free(w);
    CHECK(T, ws == VKD_OK, "write: %s", vkd_last_error());

    // Layout as written: padded header, aligned offsets, nothing after the last tensor.
    FILE *f = fopen(path, "rb");
    unsigned char lenb[8] = {0};
    CHECK(T, f && fread(lenb, 1, 8, f) == 8, "read header length");
    if (f) fclose(f);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | lenb[i];
    CHECK(T, hl % 8 == 0, "header length %llu is a multiple of 8", (unsigned long long)hl);
    size_t total = 8 + hl + sizeof a + sizeof h + sizeof d + sizeof ix + 1 + sizeof bf;
    CHECK(T, file_size(path) == total, "file size %zu, expected %zu", file_size(path), total);

    vkd_safetensors_t *st;
    CHECK_OK(T, vkd_st_open(path, &st));
    CHECK(T, vkd_st_count(st) == 7, "7 tensors, got %d", vkd_st_count(st));
    const unsigned char *base = NULL;
    for (int i = 0; i < vkd_st_count(st); i++) {
        const vkd_st_tensor_t *t = vkd_st_get(st, i);
        if (!base || (const unsigned char *)t->data < base) base = t->data;
    }
    for (int i = 0; i < vkd_st_count(st); i++) {
        const vkd_st_tensor_t *t = vkd_st_get(st, i);
        size_t off = (size_t)((const unsigned char *)t->data - base);
        CHECK(T, off % vkd_dtype_size(t->dtype) == 0, "%s at offset %zu is aligned", t->name, off);
        CHECK(T, ((uintptr_t)t->data % vkd_dtype_size(t->dtype)) == 0, "%s pointer aligned",
              t->name);
    }
    struct { const char *name; vkd_dtype_t dt; int ndim; const int64_t *shape; const void *src;
             size_t bytes; } want[] = {
        {"a.weight", VKD_DT_F32, 2, sa, a, sizeof a}, {"half", VKD_DT_F16, 1, sh, h, sizeof h},
        {"dbl", VKD_DT_F64, 2, sd, d, sizeof d},      {"idx", VKD_DT_I64, 1, si, ix, sizeof ix},
        {"s8", VKD_DT_I8, 0, NULL, &s8, 1},           {"bf", VKD_DT_BF16, 1, sb, bf, sizeof bf},
        {"empty", VKD_DT_F32, 2, se, NULL, 0},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        const vkd_st_tensor_t *t = vkd_st_find(st, want[k].name);
        CHECK(T, t != NULL, "tensor %s present", want[k].name);
        if (!t) continue;
        int same = t->dtype == want[k].dt && t->ndim == want[k].ndim && t->nbytes == want[k].bytes;
        for (int j = 0; same && j < t->ndim; j++) same = t->shape[j] == want[k].shape[j];
        CHECK(T, same, "%s: dtype/shape/bytes round trip", want[k].name);
        CHECK(T, !same || !t->nbytes || memcmp(t->data, want[k].src, t->nbytes) == 0,
              "%s: bytes identical", want[k].name);
    }
    CHECK(T, vkd_st_find(st, "nope") == NULL, "absent name gives NULL");
    const char *seed = vkd_st_metadata(st, "seed"), *note = vkd_st_metadata(st, "note");
    CHECK(T, seed && strcmp(seed, "42") == 0, "metadata seed replaced: %s", seed ? seed : "NULL");
    CHECK(T, note && strcmp(note, "quote \" backslash \\ newline \n unicode \xc3\xa9") == 0,
          "metadata with escapes round trips");
    CHECK(T, vkd_st_metadata(st, "absent") == NULL && vkd_st_metadata_count(st) == 2,
          "metadata count");

    // Conversions of what was written.
    float fa[12], fh[5], fd[4], fi[3], fb[2];
    CHECK_OK(T, vkd_st_to_f32(vkd_st_find(st, "a.weight"), fa, 12));
    CHECK(T, memcmp(fa, a, sizeof a) == 0, "F32 copy exact");
    CHECK_OK(T, vkd_st_to_f32(vkd_st_find(st, "half"), fh, 5));
    for (int i = 0; i < 5; i++) CHECK(T, fh[i] == (float)i - 2.25f, "F16 value %d: %g", i, fh[i]);
    CHECK_OK(T, vkd_st_to_f32(vkd_st_find(st, "dbl"), fd, 4));
    for (int i = 0; i < 4; i++) CHECK(T, fd[i] == (float)d[i], "F64 -> F32 rounding %d", i);
    CHECK_OK(T, vkd_st_to_f32(vkd_st_find(st, "idx"), fi, 3));
    CHECK(T, fi[0] == -5 && fi[1] == 0 && fi[2] == 0x1p40f, "I64 -> F32");
    CHECK_OK(T, vkd_st_to_f32(vkd_st_find(st, "bf"), fb, 2));
    CHECK(T, fb[0] == 3.5f && fb[1] == -0.125f, "BF16 -> F32");
    int64_t i64[3];
    CHECK_OK(T, vkd_st_to_i64(vkd_st_find(st, "idx"), i64, 3));
    CHECK(T, memcmp(i64, ix, sizeof ix) == 0, "I64 exact");
    CHECK(T, vkd_st_to_i64(vkd_st_find(st, "a.weight"), i64, 12) == VKD_ERR_INVALID,
          "float -> int refused");
    CHECK(T, vkd_st_to_f32(vkd_st_find(st, "a.weight"), fa, 11) == VKD_ERR_INVALID &&
                 strstr(vkd_last_error(), "a.weight"),
          "wrong destination size refused: %s", vkd_last_error());

    // vkd_st_expect: right, wrong shape, wrong rank, missing (with a suggestion).
    const vkd_st_tensor_t *t = NULL;
    CHECK_OK(T, vkd_st_expect(st, "a.weight", 2, sa, &t));
    CHECK(T, t && t->nbytes == sizeof a, "expect returns the tensor");
    const int64_t wrong[2] = {4, 3};
    CHECK(T, vkd_st_expect(st, "a.weight", 2, wrong, &t) == VKD_ERR_FORMAT && t == NULL,
          "wrong shape fails");
    const char *m = vkd_last_error();
    CHECK(T, strstr(m, path) && strstr(m, "a.weight") && strstr(m, "[3, 4]") && strstr(m, "[4, 3]"),
          "message names file, tensor, both shapes: %s", m);
    CHECK(T, vkd_st_expect(st, "a.weight", 1, wrong, NULL) == VKD_ERR_FORMAT, "wrong rank fails");
    CHECK(T, vkd_st_expect(st, "a.weigth", 2, sa, NULL) == VKD_ERR_FORMAT &&
                 strstr(vkd_last_error(), "missing") && strstr(vkd_last_error(), "'a.weight'"),
          "missing name suggests the nearest: %s", vkd_last_error());
    vkd_st_close(st);
    CHECK(T, count_names(dir, ".tmp.") == 0, "no temporary file left");
    remove_tmpdir(dir);
}

// ---- golden files -----------------------------------------------------------------------

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// The config's top-level integer `key` (or under `sub` when not NULL); -1 when absent.
static long config_int(const cJSON *cfg, const char *sub, const char *key) {
    const cJSON *o = sub ? cJSON_GetObjectItemCaseSensitive(cfg, sub) : cfg;
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(x) ? (long)x->valuedouble : -1;
}

// Every tensor readable, its numbers finite; metadata names the case; weights add up to
// the config's parameter count.
static void golden_generic(tctx_t *T, const char *dir, const char *fname, size_t *bytes) {
    char path[1300], cfgpath[1300], casename[256];
    snprintf(path, sizeof path, "%s/%s", dir, fname);
    snprintf(casename, sizeof casename, "%.*s", (int)strcspn(fname, "."), fname);
    vkd_safetensors_t *st;
    vkd_status_t s = vkd_st_open(path, &st);
    CHECK(T, s == VKD_OK, "golden %s: %s", fname, vkd_last_error());
    if (s != VKD_OK) return;
    const char *mc = vkd_st_metadata(st, "case");
    CHECK(T, mc && strcmp(mc, casename) == 0, "%s: metadata case '%s'", fname, mc ? mc : "NULL");
    size_t numel_sum = 0;
    int nonfinite = 0;
    for (int i = 0; i < vkd_st_count(st); i++) {
        const vkd_st_tensor_t *t = vkd_st_get(st, i);
        size_t n = vkd_st_numel(t), prod = 1;
        for (int d = 0; d < t->ndim; d++) prod *= (size_t)t->shape[d];
        CHECK(T, n == prod && n * vkd_dtype_size(t->dtype) == t->nbytes, "%s: %s size", fname,
              t->name);
        CHECK(T, t->dtype == VKD_DT_F32 || t->dtype == VKD_DT_F64 || t->dtype == VKD_DT_I64,
              "%s: %s dtype %s (README: F32, F64, I64 only)", fname, t->name,
              vkd_dtype_name(t->dtype));
        numel_sum += n;
        *bytes += t->nbytes;
        double *v = malloc((n ? n : 1) * sizeof *v);
        if (v && vkd_st_to_f64(t, v, n) == VKD_OK)
            for (size_t k = 0; k < n; k++) nonfinite += !isfinite(v[k]);
        free(v);
    }
    CHECK(T, nonfinite == 0, "%s: %d non-finite values", fname, nonfinite);
    if (strstr(fname, ".weights.")) {
        snprintf(cfgpath, sizeof cfgpath, "%s/%s.config.json", dir, casename);
        char *txt;
        size_t len;
        vkd_status_t cs = vkd_file_read_all(cfgpath, &txt, &len);
        CHECK(T, cs == VKD_OK, "config: %s", vkd_last_error());
        cJSON *cfg = cs == VKD_OK ? cJSON_Parse(txt) : NULL;
        CHECK(T, cfg != NULL, "%s parses", cfgpath);
        long np = config_int(cfg, NULL, "num_parameters");
        CHECK(T, np == (long)numel_sum, "%s: %zu parameters, config says %ld", fname, numel_sum,
              np);
        printf("  %-36s %4d tensors, %8zu params (= config)\n", fname, vkd_st_count(st), numel_sum);
        cJSON_Delete(cfg);
        free(txt);
    }
    vkd_st_close(st);
}

static vkd_safetensors_t *golden_open(tctx_t *T, const char *dir, const char *fname) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, fname);
    vkd_safetensors_t *st = NULL;
    CHECK(T, vkd_st_open(path, &st) == VKD_OK, "%s", vkd_last_error());
    return st;
}

// Values known from the README and configs.
static void golden_specific(tctx_t *T, const char *dir) {
    char cfgpath[1024];
    snprintf(cfgpath, sizeof cfgpath, "%s/unet_sd1_tiny.config.json", dir);
    char *txt = NULL;
    size_t len;
    CHECK(T, vkd_file_read_all(cfgpath, &txt, &len) == VKD_OK, "%s", vkd_last_error());
    cJSON *cfg = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    long mc = config_int(cfg, "constructor_args", "model_channels");
    long ic = config_int(cfg, "constructor_args", "in_channels");
    long te = config_int(cfg, NULL, "time_embed_dim");
    cJSON_Delete(cfg);
    CHECK(T, mc == 32 && ic == 4 && te == 128, "sd1 config: %ld %ld %ld", mc, ic, te);
    vkd_safetensors_t *st = golden_open(T, dir, "unet_sd1_tiny.weights.safetensors");
    if (st) {
        const int64_t s0[4] = {mc, ic, 3, 3}, s1[2] = {te, mc};
        const vkd_st_tensor_t *t;
        const char *conv_in = "model.diffusion_model.input_blocks.0.0.weight";
        vkd_status_t s = vkd_st_expect(st, conv_in, 4, s0, &t);
        CHECK(T, s == VKD_OK, "%s", vkd_last_error());
        if (s == VKD_OK) {
            float w[32 * 4 * 9];
            CHECK(T, vkd_st_to_f32(t, w, 32 * 4 * 9) == VKD_OK, "convert");
            double ss = 0;
            for (int i = 0; i < 32 * 4 * 9; i++) ss += (double)w[i] * w[i];
            double sd = sqrt(ss / (32 * 4 * 9)); // README: N(0, 1/sqrt(fan_in)), fan_in 36
            CHECK(T, sd > 0.5 / 6 && sd < 2.0 / 6, "input conv weight std %g ~ 1/6", sd);
        }
        CHECK(T, vkd_st_expect(st, "model.diffusion_model.time_embed.0.weight", 2, s1, NULL) ==
                     VKD_OK, "%s", vkd_last_error());
        const char *pre = vkd_st_metadata(st, "prefix");
        CHECK(T, pre && strcmp(pre, "model.diffusion_model.") == 0, "prefix metadata");
        vkd_st_close(st);
    }
    st = golden_open(T, dir, "schedule_sd.io.safetensors");
    if (st) {
        const int64_t s1000[1] = {1000}, s50[1] = {50};
        const vkd_st_tensor_t *tb, *ta, *tf, *tt;
        double betas[1000], ac[1000];
        float acf[1000];
        int64_t ts[50];
        if (vkd_st_expect(st, "out.betas", 1, s1000, &tb) == VKD_OK &&
            vkd_st_expect(st, "out.alphas_cumprod", 1, s1000, &ta) == VKD_OK &&
            vkd_st_expect(st, "out.alphas_cumprod_f32", 1, s1000, &tf) == VKD_OK &&
            vkd_st_expect(st, "out.ddim50.timesteps", 1, s50, &tt) == VKD_OK &&
            vkd_st_to_f64(tb, betas, 1000) == VKD_OK && vkd_st_to_f64(ta, ac, 1000) == VKD_OK &&
            vkd_st_to_f32(tf, acf, 1000) == VKD_OK && vkd_st_to_i64(tt, ts, 50) == VKD_OK) {
            CHECK(T, fabs(betas[0] / 0.00085 - 1) < 1e-12 && fabs(betas[999] / 0.012 - 1) < 1e-12,
                  "betas ends %.17g %.17g", betas[0], betas[999]);
            double prod = 1, worst = 0;
            int bits = 1, steps = 1;
            for (int i = 0; i < 1000; i++) {
                prod *= 1 - betas[i];
                worst = fmax(worst, fabs(prod / ac[i] - 1));
                bits &= acf[i] == (float)ac[i];
            }
            for (int i = 0; i < 50; i++) steps &= ts[i] == 1 + 20 * i;
            CHECK(T, worst < 1e-12, "alphas_cumprod = cumprod(1 - betas): rel %g", worst);
            CHECK(T, bits, "alphas_cumprod_f32 is the F64 rounded");
            CHECK(T, steps, "DDIM timesteps 1, 21, ..., 981");
        } else {
            CHECK(T, 0, "schedule tensors: %s", vkd_last_error());
        }
        vkd_st_close(st);
    }
    st = golden_open(T, dir, "clip_text_tiny.io.safetensors");
    if (st) {
        const int64_t sid[2] = {2, 77}, se[1] = {2};
        const vkd_st_tensor_t *ti, *te2;
        int64_t ids[154], eot[2];
        if (vkd_st_expect(st, "in.ids", 2, sid, &ti) == VKD_OK &&
            vkd_st_expect(st, "out.eot_index", 1, se, &te2) == VKD_OK &&
            vkd_st_to_i64(ti, ids, 154) == VKD_OK && vkd_st_to_i64(te2, eot, 2) == VKD_OK) {
            CHECK(T, ids[0] == 998 && ids[6] == 999 && ids[77 + 21] == 999 && ids[7] == 0,
                  "clip ids: sot 998, eot 999 at 6 and 21, zero padding");
            CHECK(T, eot[0] == 6 && eot[1] == 21, "eot_index [%lld, %lld]", (long long)eot[0],
                  (long long)eot[1]);
        } else {
            CHECK(T, 0, "clip io tensors: %s", vkd_last_error());
        }
        vkd_st_close(st);
    }
}

static void t_golden(tctx_t *T) {
    const char *shared = getenv("VKDREAM_SHARED");
    char dir[900];
    snprintf(dir, sizeof dir, "%s/golden", shared ? shared : "");
    DIR *d = shared ? opendir(dir) : NULL;
    int err = errno;
    if (!d) {
        // A checkout without ../shared runs everything else; a present but broken golden
        // directory still fails below.
        printf("  golden data not available (%s): %s; skipping this case\n",
               shared ? dir : "VKDREAM_SHARED unset", shared ? strerror(err) : "");
        CHECK(T, !shared || err == ENOENT || err == ENOTDIR, "cannot open %s", dir);
        return;
    }
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64) {
        size_t l = strlen(e->d_name);
        if (l > 12 && strcmp(e->d_name + l - 12, ".safetensors") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    CHECK(T, n >= 12, "%s holds %d .safetensors files, README lists 12", dir, n);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t bytes = 0;
    for (int i = 0; i < n; i++) golden_generic(T, dir, names[i], &bytes);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("  read + validated + converted %d files, %.1f MB of tensors in %.3f s\n", n,
           (double)bytes / 1e6, sec);
    for (int i = 0; i < n; i++) free(names[i]);
    golden_specific(T, dir);
}

// ---- half precision ---------------------------------------------------------------------

// binary16 by its definition, in double arithmetic (not bit manipulation).
static double ref_f16(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

static void t_half(tctx_t *T) {
    int bad = 0, bad_rt = 0, bad_bulk = 0, bad_round = 0;
    // The bulk path reads from an odd address to exercise unaligned loads.
    unsigned char *raw = malloc(2 * 65536 + 1);
    float *bulk = malloc(sizeof(float) * 65536);
    for (uint32_t i = 0; i < 65536; i++) memcpy(raw + 1 + 2 * i, &(uint16_t){(uint16_t)i}, 2);
    vkd_st_tensor_t t = {.name = "all_f16", .dtype = VKD_DT_F16, .ndim = 1, .shape = {65536},
                         .nbytes = 2 * 65536, .data = raw + 1};
    CHECK_OK(T, vkd_st_to_f32(&t, bulk, 65536));
    for (uint32_t i = 0; i < 65536; i++) {
        float got = vkd_f16_to_f32((uint16_t)i);
        double ref = ref_f16((uint16_t)i);
        uint32_t gb, bb;
        memcpy(&gb, &got, 4);
        memcpy(&bb, &bulk[i], 4);
        if (isnan(ref)) {
            // NaN: stays NaN, sign and payload kept (payload shifted into the top bits).
            bad += !isnan(got) || (gb >> 31) != (i >> 15) || ((gb >> 13) & 1023) != (i & 1023);
        } else {
            bad += got != (float)ref || !signbit(got) != !signbit(ref);
            bad_rt += vkd_f32_to_f16(got) != i; // every non-NaN half survives a round trip
        }
        bad_bulk += gb != bb;
    }
    CHECK(T, bad == 0, "%d of 65536 f16 patterns convert wrongly", bad);
    CHECK(T, bad_rt == 0, "%d f16 -> f32 -> f16 round trips differ", bad_rt);
    CHECK(T, bad_bulk == 0, "%d differences between vkd_st_to_f32 and vkd_f16_to_f32", bad_bulk);
    // Rounding: the midpoint between neighbours goes to the even one; a hair off it goes to
    // the nearer. Covers subnormals, the normal range and the overflow edge (65520 -> inf).
    for (uint32_t hv = 0; hv < 0x7c00; hv++) {
        double lo = ref_f16((uint16_t)hv), hi = ref_f16((uint16_t)(hv + 1));
        if (hv == 0x7bff) hi = 65536; // the next step past the largest half
        float mid = (float)((lo + hi) / 2);
        uint16_t even = (hv & 1) ? (uint16_t)(hv + 1) : (uint16_t)hv;
        bad_round += vkd_f32_to_f16(mid) != even;
        bad_round += vkd_f32_to_f16(-mid) != (even | 0x8000);
        bad_round += vkd_f32_to_f16(nextafterf(mid, 0)) != hv;
        bad_round += vkd_f32_to_f16(nextafterf(mid, INFINITY)) != hv + 1;
    }
    CHECK(T, bad_round == 0, "%d f32 -> f16 rounding errors", bad_round);
    CHECK(T, vkd_f32_to_f16(1e-30f) == 0 && vkd_f32_to_f16(1e30f) == 0x7c00 &&
                 (vkd_f32_to_f16(NAN) & 0x7fff) > 0x7c00,
          "tiny, huge and NaN");
    CHECK(T, vkd_bf16_to_f32(0x3f80) == 1.0f && vkd_f32_to_bf16(1.0f) == 0x3f80 &&
                 vkd_f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80 &&       // tie to even (down)
                 vkd_f32_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3f82 &&   // tie to even (up)
                 isnan(vkd_bf16_to_f32(vkd_f32_to_bf16(NAN))),
          "bf16 conversions");
    free(raw);
    free(bulk);
}

// ---- corrupt files ----------------------------------------------------------------------

typedef struct {
    const char *what;
    int64_t hl;       // header length to write; -1: the JSON's own length
    const char *json;
    size_t data_len;  // bytes after the JSON
    const char *expect; // substring of the message
} corrupt_t;

static void t_corrupt(tctx_t *T) {
    char *dir = make_tmpdir(), path[600];
    if (!dir) return;
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
#define F32E(o0, o1) "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" #o0 "," #o1 "]}"
    static const corrupt_t cases[] = {
        {"invalid JSON", -1, "{\"a\": ", 0, "not valid JSON"},
        {"non-object JSON", -1, "[1, 2]  ", 0, "not an object"},
        {"JSON string", -1, "\"abc\"   ", 0, "not an object"},
        {"garbage after JSON", -1, "{}   xyz", 0, "after the JSON"},
        {"missing dtype", -1, "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype"},
        {"missing shape", -1, "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "shape"},
        {"missing offsets", -1, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "data_offsets"},
        {"entry not object", -1, "{\"a\": 5}", 0, "not an object"},
        {"dtype not string", -1, "{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
         "not a string"},
        {"unknown dtype", -1,
         "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 8,
         "unsupported dtype"},
        {"negative dim", -1, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
         "negative"},
        {"fractional dim", -1, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}",
         8, "shape[0]"},
        {"shape not array", -1, "{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8,
         "not an array"},
        {"9 dims", -1, "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],"
         "\"data_offsets\":[0,1]}}", 8, "dimensions"},
        {"byte size overflow", -1, "{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],"
         "\"data_offsets\":[0,8]}}", 8, "too large"},
        {"shape/bytes mismatch", -1, "{\"a\":" F32E(0, 4) "}", 8, "needs 8 bytes"},
        {"offsets past the end", -1, "{\"a\":" F32E(8, 16) "}", 8, "past the end"},
        {"offsets reversed", -1, "{\"a\":" F32E(8, 0) "}", 8, "before they begin"},
        {"offsets not a pair", -1, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}",
         8, "pair"},
        {"negative offset", -1, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}",
         8, "pair"},
        {"overlapping tensors", -1, "{\"a\":" F32E(0, 8) ",\"b\":" F32E(4, 12) "}", 16, "overlaps"},
        {"contained tensors", -1,
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":" F32E(4, 12)
         "}", 16, "overlaps"},
        {"duplicate names", -1, "{\"a\":" F32E(0, 8) ",\"a\":" F32E(8, 16) "}", 16, "twice"},
        {"metadata value not string", -1, "{\"__metadata__\":{\"k\":1}}", 0, "not a string"},
        {"metadata not object", -1, "{\"__metadata__\":[\"k\"]}", 0, "not an object"},
        {"two metadata", -1, "{\"__metadata__\":{},\"__metadata__\":{}}", 0, "2 times"},
        {"header longer than file", 100, "{}", 4, "exceeds"},
        {"header length 2^63", INT64_MIN, "{}      ", 8, "implausible"},
        {"header length 0", 0, "", 8, "too short"},
        {"NUL in header", 8, "{}", 8, "NUL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const corrupt_t *c = &cases[i];
        uint64_t hl = c->hl == -1 ? strlen(c->json) : (uint64_t)c->hl;
        put_st(T, path, hl, c->json, c->data_len);
        vkd_safetensors_t *st = (vkd_safetensors_t *)&st; // must be reset to NULL
        vkd_status_t s = vkd_st_open(path, &st);
        const char *m = vkd_last_error();
        printf("  %-26s -> %s\n", c->what, strstr(m, ": ") ? strstr(m, ": ") + 2 : m);
        CHECK(T, s == VKD_ERR_FORMAT && st == NULL, "%s: status %s", c->what, vkd_status_name(s));
        CHECK(T, strstr(m, path) && strstr(m, c->expect), "%s: message '%s' lacks '%s'", c->what,
              m, c->expect);
        if (s == VKD_OK) vkd_st_close(st);
    }
    // Tensor-level messages name the tensor.
    const char *bad_one = "{\"w.ok\":" F32E(0, 8) ",\"w.bad\":{\"dtype\":\"Q4\",\"shape\":[2],"
                          "\"data_offsets\":[8,16]}}";
    put_st(T, path, strlen(bad_one), bad_one, 16);
    vkd_safetensors_t *st;
    CHECK(T, vkd_st_open(path, &st) == VKD_ERR_FORMAT && strstr(vkd_last_error(), "'w.bad'"),
          "message names the tensor: %s", vkd_last_error());
    // Short files, a truncated data section, a directory, a missing file.
    unsigned char seven[7] = {8, 0, 0, 0, 0, 0, 0};
    put_raw(T, path, seven, 0);
    CHECK(T, vkd_st_open(path, &st) == VKD_ERR_FORMAT && strstr(vkd_last_error(), "0 bytes"),
          "empty file: %s", vkd_last_error());
    put_raw(T, path, seven, 7);
    CHECK(T, vkd_st_open(path, &st) == VKD_ERR_FORMAT && strstr(vkd_last_error(), "7 bytes"),
          "7-byte file: %s", vkd_last_error());
    const char *two = "{\"a\":" F32E(0, 8) ",\"b\":" F32E(8, 16) "}";
    put_st(T, path, strlen(two), two, 16);
    CHECK(T, vkd_st_open(path, &st) == VKD_OK, "intact file opens: %s", vkd_last_error());
    if (st) vkd_st_close(st);
    CHECK(T, truncate(path, (off_t)(8 + strlen(two) + 12)) == 0, "truncate");
    CHECK(T, vkd_st_open(path, &st) == VKD_ERR_FORMAT && strstr(vkd_last_error(), "'b'") &&
                 strstr(vkd_last_error(), "truncated"),
          "truncated data: %s", vkd_last_error());
    CHECK(T, vkd_st_open(dir, &st) == VKD_ERR_IO && strstr(vkd_last_error(), "directory"),
          "directory: %s", vkd_last_error());
    unlink(path);
    CHECK(T, vkd_st_open(path, &st) == VKD_ERR_IO && strstr(vkd_last_error(), path) &&
                 strstr(vkd_last_error(), strerror(ENOENT)),
          "missing file: %s", vkd_last_error());
    // An empty header object is a valid, empty file.
    put_st(T, path, 8, "{}      ", 0);
    CHECK(T, vkd_st_open(path, &st) == VKD_OK && vkd_st_count(st) == 0 &&
                 vkd_st_find(st, "x") == NULL, "empty file of tensors: %s", vkd_last_error());
    if (st) vkd_st_close(st);
#undef F32E
    remove_tmpdir(dir);
}

// ---- random damage -----------------------------------------------------------------------

static uint32_t fuzz_rand(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*s >> 33);
}

// Random byte changes (mostly in the header, where the structure is) and truncations of
// a valid file: every variant must open cleanly or fail with VKD_ERR_FORMAT.
static void t_fuzz(tctx_t *T) {
    char *dir = make_tmpdir(), good[600], path[600];
    if (!dir) return;
    snprintf(good, sizeof good, "%s/good.safetensors", dir);
    snprintf(path, sizeof path, "%s/fuzz.safetensors", dir);
    float a[6] = {1, 2, 3, 4, 5, 6};
    int64_t b[2] = {7, 8};
    uint16_t c[3] = {1, 2, 3};
    const int64_t sa[2] = {2, 3}, sb[1] = {2}, sc[1] = {3};
    vkd_st_writer_t *w;
    CHECK_OK(T, vkd_st_writer_create(&w));
    vkd_st_writer_add(w, "a", VKD_DT_F32, 2, sa, a);
    vkd_st_writer_add(w, "b", VKD_DT_I64, 1, sb, b);
    vkd_st_writer_add(w, "c", VKD_DT_F16, 1, sc, c);
    vkd_st_writer_meta(w, "k", "v");
    vkd_status_t ws = vkd_st_write(w, good);
    vkd_st_writer_free(w);
    CHECK_OK(T, ws);
    char *orig;
    size_t n;
    CHECK_OK(T, vkd_file_read_all(good, &orig, &n));
    unsigned char *buf = malloc(n);
    uint64_t rng = T->seed;
    int opened = 0, rejected = 0, other = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, orig, n);
        size_t len = n;
        int edits = 1 + (int)(fuzz_rand(&rng) % 4);
        for (int e = 0; e < edits; e++) {
            size_t pos = fuzz_rand(&rng) % (fuzz_rand(&rng) % 4 ? n - 48 : n);
            static const char pick[] = "{}[]\":,0123456789-.e \\x";
            uint32_t r = fuzz_rand(&rng);
            buf[pos] = r % 2 ? (unsigned char)pick[(r >> 1) % (sizeof pick - 1)]
                             : (unsigned char)(r >> 8);
        }
        if (fuzz_rand(&rng) % 8 == 0) len = fuzz_rand(&rng) % n;
        put_raw(T, path, buf, len);
        vkd_safetensors_t *st;
        vkd_status_t s = vkd_st_open(path, &st);
        if (s == VKD_OK) {
            opened++;
            for (int i = 0; i < vkd_st_count(st); i++) { // touch every byte claimed
                const vkd_st_tensor_t *t = vkd_st_get(st, i);
                double *v = malloc((vkd_st_numel(t) + 1) * sizeof *v);
                if (v) vkd_st_to_f64(t, v, vkd_st_numel(t));
                free(v);
            }
            vkd_st_close(st);
        } else {
            rejected += s == VKD_ERR_FORMAT;
            other += s != VKD_ERR_FORMAT;
        }
    }
    printf("  3000 damaged files: %d opened, %d rejected (FORMAT), %d other\n", opened, rejected,
           other);
    CHECK(T, other == 0, "%d damaged files failed with something other than FORMAT", other);
    CHECK(T, rejected > 1000, "most damage is detected (%d)", rejected);
    free(buf);
    free(orig);
    remove_tmpdir(dir);
}

// ---- atomic writes ----------------------------------------------------------------------

static int file_is(const char *path, char c, size_t n) {
    char *b;
    size_t len;
    if (vkd_file_read_all(path, &b, &len) != VKD_OK) return 0;
    int ok = len == n && b[n] == 0;
    for (size_t i = 0; ok && i < n; i++) ok = b[i] == c;
    free(b);
    return ok;
}

static void t_atomic(tctx_t *T) {
    char *dir = make_tmpdir(), path[600], nodir[600];
    if (!dir) return;
    snprintf(path, sizeof path, "%s/out.bin", dir);
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/out.bin", dir);
    char big[200000];
    memset(big, 'A', sizeof big);
    // Non-existent directory: clean failure naming the path and the reason.
    CHECK(T, vkd_file_write_atomic(nodir, big, 10) == VKD_ERR_IO &&
                 strstr(vkd_last_error(), nodir) && strstr(vkd_last_error(), strerror(ENOENT)),
          "missing directory: %s", vkd_last_error());
    // Write, then overwrite with something shorter: fully replaced.
    CHECK_OK(T, vkd_file_write_atomic(path, big, 1000));
    CHECK(T, file_is(path, 'A', 1000), "first write");
    mode_t um = umask(0);
    umask(um);
    struct stat sb;
    CHECK(T, stat(path, &sb) == 0 && (sb.st_mode & 0777) == (0666 & ~um), "mode %o",
          (unsigned)(sb.st_mode & 0777));
    memset(big, 'B', sizeof big);
    CHECK_OK(T, vkd_file_write_atomic(path, big, 10));
    CHECK(T, file_is(path, 'B', 10), "overwrite replaces the whole file");
    // Aborted stream: old file intact, no temporary left.
    vkd_afile_t *f;
    CHECK_OK(T, vkd_afile_open(path, &f));
    CHECK(T, count_names(dir, ".tmp.") == 1, "temp file exists while writing");
    CHECK_OK(T, vkd_afile_write(f, "CCCC", 4));
    vkd_afile_abort(f);
    CHECK(T, file_is(path, 'B', 10) && count_names(dir, ".tmp.") == 0, "abort leaves old file");
    // Streaming: small writes, a long printf, a write larger than the buffer.
    CHECK_OK(T, vkd_afile_open(path, &f));
    memset(big, 'D', sizeof big);
    vkd_status_t s = VKD_OK;
    for (int i = 0; i < 1000 && s == VKD_OK; i++) s = vkd_afile_write(f, big, 7);
    if (s == VKD_OK) s = vkd_afile_printf(f, "%.3000s", big);
    if (s == VKD_OK) s = vkd_afile_write(f, big, sizeof big);
    if (s == VKD_OK) s = vkd_afile_printf(f, "%c", 'D');
    if (s == VKD_OK) s = vkd_afile_commit(f);
    else vkd_afile_abort(f);
    CHECK(T, s == VKD_OK, "stream: %s", vkd_last_error());
    CHECK(T, file_is(path, 'D', 7000 + 3000 + sizeof big + 1), "streamed content");
    // A write failing half way (file size limit standing in for a full disk), in a child
    // process so the limit does not leak into the others.
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {100000, 100000};
        setrlimit(RLIMIT_FSIZE, &rl);
        vkd_status_t cs = vkd_file_write_atomic(path, big, sizeof big);
        int ok = cs == VKD_ERR_IO && strstr(vkd_last_error(), path) &&
                 strstr(vkd_last_error(), strerror(EFBIG));
        if (!ok) fprintf(stderr, "  child: status %d, message %s\n", cs, vkd_last_error());
        _exit(ok ? 0 : 1);
    }
    int wst = 0;
    CHECK(T, pid > 0 && waitpid(pid, &wst, 0) == pid && WIFEXITED(wst) && WEXITSTATUS(wst) == 0,
          "a failing write reports the path and EFBIG");
    CHECK(T, file_is(path, 'D', 7000 + 3000 + sizeof big + 1) && count_names(dir, ".tmp.") == 0,
          "after a failed write the old file is intact and no temp file is left");
    // Refusals: a directory as the target; an unwritable directory (not testable as root).
    CHECK(T, vkd_file_write_atomic(dir, big, 1) == VKD_ERR_IO && strstr(vkd_last_error(), dir),
          "directory target: %s", vkd_last_error());
    if (geteuid() != 0) {
        char ro[700], rofile[800];
        snprintf(ro, sizeof ro, "%s/ro", dir);
        snprintf(rofile, sizeof rofile, "%s/x", ro);
        mkdir(ro, 0555);
        CHECK(T, vkd_file_write_atomic(rofile, big, 1) == VKD_ERR_IO &&
                     strstr(vkd_last_error(), strerror(EACCES)),
              "unwritable directory: %s", vkd_last_error());
        rmdir(ro);
    } else {
        printf("  running as root: the unwritable-directory check is skipped\n");
    }
    // Reads: missing file, directory, zero-length file.
    char *b = (char *)1;
    size_t n = 1;
    CHECK(T, vkd_file_read_all(nodir, &b, &n) == VKD_ERR_IO && b == NULL && n == 0 &&
                 strstr(vkd_last_error(), nodir),
          "read missing: %s", vkd_last_error());
    CHECK(T, vkd_file_read_all(dir, &b, &n) == VKD_ERR_IO && strstr(vkd_last_error(), "directory"),
          "read directory: %s", vkd_last_error());
    CHECK_OK(T, vkd_file_write_atomic(path, NULL, 0));
    CHECK(T, file_is(path, 0, 0), "empty file round trip");
    remove_tmpdir(dir);
}

static const tcase_t cases[] = {
    TCASE_CPU(t_roundtrip), TCASE_CPU(t_golden), TCASE_CPU(t_half),
    TCASE_CPU(t_corrupt),   TCASE_CPU(t_fuzz),    TCASE_CPU(t_atomic),
};
TEST_MAIN(cases)
