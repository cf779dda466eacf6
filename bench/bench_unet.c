// UNet forward benchmark (issue 4, "Performance"): loads a UNet config + weights, runs
// the forward at batch B (2 = cond + uncond, as SDS runs it) on one backend and prints the
// median time of N runs after warm-up (and, as cpu_median_ms, the median process CPU
// time per run: the code's own cost on a shared machine), the GFLOP/s (vkd_unet_flops)
// and the fraction of a GEMM rate: the one passed with --gemm-rate, else measured here on the same backend with
// op_gemm_forward on 65536x128x128 (median of single calls), so the fraction says how much
// of what this backend's GEMM can do the whole forward achieves.
//
// Inputs come from an io file (in.x, in.context, in.timesteps, as ../shared/golden and
// bench/unet_peer.py write them) or are made up here (deterministic); --out writes out.eps
// so bench/unet_peer.py can cross-check against PyTorch.
//
// Usage: bench_unet --config C.json --weights W.safetensors [--device cpu|vulkan]
//          [--io IO.safetensors | --size H [--ctx-len L] [--batch B]] [--runs N]
//          [--warmup N] [--gemm-rate GFLOPS] [--out OUT.safetensors]
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "blas.h"
#include "ops.h"
#include "safetensors.h"
#include "sds/unet.h"
#include "weights.h"

typedef struct {
    const char *config, *weights, *device, *io, *out;
    int size, ctx_len, batch, runs, warmup;
    double gemm_rate; // GFLOP/s; 0 = measure
} args_t;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// Process CPU time (all threads), ms: on a shared machine the wall time measures the other
// processes as much as this code; CPU time per forward is this code's own cost (including
// OpenMP workers' spinning and wake-ups, which is part of it).
static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static int usage(const char *msg) {
    fprintf(stderr, "bench_unet: %s\nusage: bench_unet --config C.json --weights W.safetensors "
            "[--device cpu|vulkan] [--io IO.safetensors | --size H [--ctx-len L] [--batch B]] "
            "[--runs N] [--warmup N] [--gemm-rate GFLOPS] [--out OUT.safetensors]\n", msg);
    return 2;
}

static int parse_args(int argc, char **argv, args_t *a) {
    *a = (args_t){.device = "cpu", .size = 32, .ctx_len = 4, .batch = 2, .runs = 10,
                  .warmup = 2};
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return usage("every option takes a value");
        if (!strcmp(k, "--config")) a->config = v;
        else if (!strcmp(k, "--weights")) a->weights = v;
        else if (!strcmp(k, "--device")) a->device = v;
        else if (!strcmp(k, "--io")) a->io = v;
        else if (!strcmp(k, "--out")) a->out = v;
        else if (!strcmp(k, "--size")) a->size = atoi(v);
        else if (!strcmp(k, "--ctx-len")) a->ctx_len = atoi(v);
        else if (!strcmp(k, "--batch")) a->batch = atoi(v);
        else if (!strcmp(k, "--runs")) a->runs = atoi(v);
        else if (!strcmp(k, "--warmup")) a->warmup = atoi(v);
        else if (!strcmp(k, "--gemm-rate")) a->gemm_rate = atof(v);
        else return usage("unknown option");
        i++;
    }
    if (!a->config || !a->weights) return usage("--config and --weights are required");
    if (a->size < 1 || a->ctx_len < 1 || a->batch < 1 || a->batch > 64 || a->runs < 1 ||
        a->runs > 1000 || a->warmup < 0)
        return usage("--size, --ctx-len, --batch (1..64), --runs (1..1000) must be positive");
    return 0;
}

// Median GFLOP/s of single 65536x128x128 GEMMs on this backend (the NeRF-layer shape of
// bench/RESULTS.md's GEMM table, so the two tables can be read together).
static vkd_status_t measure_gemm(vkd_backend_t *be, double *gflops) {
    const int M = 65536, N = 128, K = 128, reps = 9;
    vkd_arena_t *ar = NULL;
    size_t bytes = ((size_t)M * K + (size_t)N * K + (size_t)M * N) * sizeof(float) + 4096;
    vkd_status_t s = vkd_arena_create(be, "gemm-bench", bytes, &ar);
    vkd_buf_t a, b, c;
    if (!s) s = vkd_arena_alloc(ar, (size_t)M * K, &a);
    if (!s) s = vkd_arena_alloc(ar, (size_t)N * K, &b);
    if (!s) s = vkd_arena_alloc(ar, (size_t)M * N, &c);
    if (!s) s = op_fill(be, a, 0.5f, (size_t)M * K);
    if (!s) s = op_fill(be, b, 0.25f, (size_t)N * K);
    vkd_gemm_t g = {.M = M, .N = N, .K = K, .trans_b = 1, .alpha = 1, .batch = 1};
    double t[9];
    for (int r = -2; r < reps && !s; r++) { // two warm-up calls (pipeline build, threads)
        if (!s) s = vkd_backend_sync(be);
        double t0 = now_ms();
        if (!s) s = op_gemm_forward(be, c, a, b, VKD_BUF_NONE, &g);
        if (!s) s = vkd_backend_sync(be);
        if (r >= 0) t[r] = now_ms() - t0;
    }
    if (!s) *gflops = 2.0 * M * N * K / (median(t, reps) * 1e6);
    vkd_arena_destroy(ar);
    return s;
}

// Reads in.x (B, C, H, W), in.context (B, L, D), in.timesteps (B) of an io file.
static vkd_status_t read_io(const char *path, const vkd_unet_config_t *cfg, float **x,
                            float **ctx, float *t, int *B, int *H, int *W, int *L) {
    vkd_safetensors_t *io = NULL;
    vkd_status_t s = vkd_st_open(path, &io);
    if (s) return s;
    const vkd_st_tensor_t *tx = vkd_st_find(io, "in.x"), *tc = vkd_st_find(io, "in.context");
    const vkd_st_tensor_t *tt = vkd_st_find(io, "in.timesteps");
    if (!tx || !tc || !tt || tx->ndim != 4 || tc->ndim != 3 || tt->ndim != 1 ||
        tx->shape[0] != tc->shape[0] || tt->shape[0] != tx->shape[0] || tx->shape[0] > 64 ||
        tx->shape[1] != cfg->in_channels || tc->shape[2] != cfg->context_dim) {
        vkd_st_close(io);
        return vkd_fail(VKD_ERR_FORMAT, "%s: needs in.x (B, %d, H, W), in.context (B, L, %d) "
                        "and in.timesteps (B), B <= 64", path, cfg->in_channels,
                        cfg->context_dim);
    }
    *B = (int)tx->shape[0], *H = (int)tx->shape[2], *W = (int)tx->shape[3];
    *L = (int)tc->shape[1];
    size_t nx = vkd_st_numel(tx), nc = vkd_st_numel(tc);
    *x = malloc(nx * sizeof(float));
    *ctx = malloc(nc * sizeof(float));
    double td[64];
    s = *x && *ctx ? VKD_OK : vkd_fail(VKD_ERR_NOMEM, "%s: inputs", path);
    if (!s) s = vkd_st_to_f32(tx, *x, nx);
    if (!s) s = vkd_st_to_f32(tc, *ctx, nc);
    if (!s) s = vkd_st_to_f64(tt, td, (size_t)*B);
    for (int b = 0; !s && b < *B; b++) t[b] = (float)td[b];
    vkd_st_close(io);
    return s;
}

// Deterministic made-up inputs: x ~ N(0, 1)-ish, context in [-1, 1], t = 10, 700, ...
static vkd_status_t make_inputs(const args_t *a, const vkd_unet_config_t *cfg, float **x,
                                float **ctx, float *t) {
    size_t nx = (size_t)a->batch * cfg->in_channels * a->size * a->size;
    size_t nc = (size_t)a->batch * a->ctx_len * cfg->context_dim;
    *x = malloc(nx * sizeof(float));
    *ctx = malloc(nc * sizeof(float));
    if (!*x || !*ctx) return vkd_fail(VKD_ERR_NOMEM, "inputs of %zu floats", nx + nc);
    uint64_t st = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < nx + nc; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        float u = (float)((st >> 40) / 16777216.0) * 2 - 1;
        if (i < nx) (*x)[i] = 1.7f * u;
        else (*ctx)[i - nx] = u;
    }
    for (int b = 0; b < a->batch; b++) t[b] = b % 2 ? 700.0f : 10.0f;
    return VKD_OK;
}

static vkd_status_t write_out(const char *path, const float *o, int B, int C, int H, int W) {
    vkd_st_writer_t *w = NULL;
    vkd_status_t s = vkd_st_writer_create(&w);
    if (!s) s = vkd_st_writer_add(w, "out.eps", VKD_DT_F32, 4, (int64_t[]){B, C, H, W}, o);
    if (!s) s = vkd_st_write(w, path);
    vkd_st_writer_free(w);
    return s;
}

static vkd_status_t run(const args_t *a) {
    vkd_unet_config_t cfg;
    VKD_TRY(vkd_unet_config_load(a->config, &cfg));
    vkd_backend_t *be = NULL;
    vkd_backend_opts_t o = {.device = a->device, .validate = 0, .quiet = 1};
    VKD_TRY(vkd_backend_create(&o, &be));
    vkd_weights_t *w = NULL;
    vkd_unet_t *u = NULL;
    vkd_arena_t *io_ar = NULL;
    float *x = NULL, *ctx = NULL, *out = NULL, t[64];
    double *times = calloc((size_t)a->runs * 2, sizeof(double)); // (2, runs): wall, CPU
    int B = a->batch, H = a->size, W = a->size, L = a->ctx_len;
    vkd_status_t s = times ? VKD_OK : vkd_fail(VKD_ERR_NOMEM, "timings");
    if (!s) s = vkd_weights_open(a->weights, &w);
    if (!s) s = vkd_unet_create(be, &cfg, w, &u);
    if (!s) vkd_weights_report_unused(w, cfg.prefix, stderr);
    vkd_weights_close(w);
    if (!s) s = a->io ? read_io(a->io, &cfg, &x, &ctx, t, &B, &H, &W, &L)
                      : make_inputs(a, &cfg, &x, &ctx, t);
    const size_t nx = (size_t)B * cfg.in_channels * H * W, nc = (size_t)B * L * cfg.context_dim;
    const size_t no = (size_t)B * cfg.out_channels * H * W;
    vkd_buf_t bx, bc, bo;
    if (!s) s = vkd_arena_create(be, "bench-io", (nx + nc + no) * sizeof(float) + 4096, &io_ar);
    if (!s) s = vkd_arena_alloc(io_ar, nx, &bx);
    if (!s) s = vkd_arena_alloc(io_ar, nc, &bc);
    if (!s) s = vkd_arena_alloc(io_ar, no, &bo);
    if (!s) s = vkd_buf_write(bx, x, nx * sizeof(float));
    if (!s) s = vkd_buf_write(bc, ctx, nc * sizeof(float));
    if (!s) s = vkd_unet_reserve(u, B, H, W, L);
    for (int r = -a->warmup; r < a->runs && !s; r++) {
        double t0 = now_ms(), c0 = cpu_ms();
        s = vkd_unet_forward(u, bo, bx, t, bc, B, H, W, L);
        if (!s) s = vkd_backend_sync(be);
        if (r >= 0) times[r] = now_ms() - t0, times[a->runs + r] = cpu_ms() - c0;
    }
    if (!s && a->out) {
        out = malloc(no * sizeof(float));
        s = out ? vkd_buf_read(bo, out, no * sizeof(float)) : vkd_fail(VKD_ERR_NOMEM, "out");
        if (!s) s = write_out(a->out, out, B, cfg.out_channels, H, W);
    }
    double rate = a->gemm_rate;
    if (!s && rate <= 0) s = measure_gemm(be, &rate);
    if (!s) {
        const double best = times[0];
        double tb = best;
        for (int r = 1; r < a->runs; r++) tb = fmin(tb, times[r]);
        const double med = median(times, a->runs);
        const double cpu_med = median(times + a->runs, a->runs);
        const double gf = vkd_unet_flops(&cfg, B, H, W, L) / 1e9;
        const vkd_blas_info_t *bi = vkd_blas_info();
        printf("device=%s blas=%s B=%d H=%d W=%d L=%d params=%lld gflop=%.4f median_ms=%.3f "
               "min_ms=%.3f runs=%d gflops=%.2f gemm_rate=%.1f%s gemm_fraction=%.3f cpu_median_ms=%.3f\n",
               vkd_backend_name(be), bi->core, B, H, W, L,
               (long long)vkd_unet_param_count(&cfg), gf, med, tb, a->runs, gf / (med / 1e3),
               rate, a->gemm_rate > 0 ? "(given)" : "(measured)", gf / (med / 1e3) / rate,
               cpu_med);
    }
    free(times), free(x), free(ctx), free(out);
    vkd_arena_destroy(io_ar);
    vkd_unet_destroy(u);
    vkd_backend_destroy(be);
    return s;
}

int main(int argc, char **argv) {
    vkd_blas_init(argc, argv);
    args_t a;
    if (parse_args(argc, argv, &a)) return 2;
    if (run(&a) != VKD_OK) {
        fprintf(stderr, "bench_unet: %s\n", vkd_last_error());
        return 1;
    }
    return 0;
}
