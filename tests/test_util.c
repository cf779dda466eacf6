// The shared test harness (see test_util.h).
#include "test_util.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blas.h"
#include "safetensors.h"

#define SCRATCH_BYTES ((size_t)256 << 20)

void test_fail(tctx_t *T, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "FAIL %s (%s:%d): ", T->case_name ? T->case_name : "?", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    T->failures++;
}

float *test_alloc(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) {
        fprintf(stderr, "test_alloc: out of memory for %zu floats\n", n);
        abort();
    }
    return p;
}

double test_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

const char *test_golden_dir(char *buf, size_t n) {
    const char *shared = getenv("VKDREAM_SHARED");
    if (!shared || !shared[0]) {
        printf("  VKDREAM_SHARED is not set: golden data unavailable, case skipped\n");
        return NULL;
    }
    snprintf(buf, n, "%s/golden", shared);
    if (access(buf, R_OK) != 0) {
        printf("  %s does not exist: golden data unavailable, case skipped\n", buf);
        return NULL;
    }
    return buf;
}

float *test_golden_f32(tctx_t *T, const vkd_safetensors_t *io, const char *name, size_t *n) {
    const vkd_st_tensor_t *t = vkd_st_find(io, name);
    CHECK(T, t != NULL, "%s: no tensor %s", vkd_st_path(io), name);
    if (!t) return NULL;
    *n = vkd_st_numel(t);
    float *x = malloc(*n * sizeof(float) + 1);
    if (x && vkd_st_to_f32(t, x, *n) == VKD_OK) return x;
    test_fail(T, __FILE__, __LINE__, "reading %s: %s", name, vkd_last_error());
    free(x);
    return NULL;
}

void test_expect_invalid(tctx_t *T, vkd_status_t s, const char *what) {
    CHECK(T, s == VKD_ERR_INVALID, "%s: expected VKD_ERR_INVALID, got %s", what,
          vkd_status_name(s));
    if (s == VKD_ERR_INVALID) printf("  rejected %-30s %s\n", what, vkd_last_error());
}

static uint32_t pcg(uint64_t *s) {
    uint64_t old = *s;
    *s = old * 6364136223846793005ULL + 1442695040888963407ULL;
    uint32_t x = (uint32_t)(((old >> 18) ^ old) >> 27), rot = (uint32_t)(old >> 59);
    return (x >> rot) | (x << ((-rot) & 31));
}

void test_fill_uniform(uint64_t *state, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * ((pcg(state) >> 8) * (1.0f / 16777216.0f));
}

void test_fill_normal(uint64_t *state, float *x, size_t n, float stddev) {
    for (size_t i = 0; i < n; i++) {
        double u1 = ((pcg(state) >> 8) + 0.5) / 16777216.0, u2 = (pcg(state) >> 8) / 16777216.0;
        x[i] = (float)(stddev * sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
    }
}

double test_compare(tctx_t *T, const char *name, const float *got, const float *ref, size_t n,
                    double tol) {
    double maxref = 0, maxerr = 0;
    size_t worst = 0;
    int nan = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(ref[i]) > maxref) maxref = fabs(ref[i]);
        double e = fabs((double)got[i] - ref[i]);
        if (isnan(got[i]) != isnan(ref[i]) || isinf(got[i]) != isinf(ref[i])) nan = 1, worst = i;
        else if (e > maxerr) maxerr = e, worst = i;
    }
    double rel = nan ? INFINITY : maxerr / (maxref > 1e-30 ? maxref : 1e-30);
    if (maxref == 0 && maxerr == 0) rel = 0;
    printf("  %-40s rel err %.3g (n=%zu, max|ref| %.3g)\n", name, rel, n, maxref);
    if (!(rel <= tol))
        test_fail(T, __FILE__, __LINE__, "%s: rel err %.3g > %.3g (worst at %zu: got %.9g, ref %.9g)",
                  name, rel, tol, worst, n ? got[worst] : 0.0, n ? ref[worst] : 0.0);
    return rel;
}

vkd_buf_t test_buf(tctx_t *T, vkd_arena_t *arena, const float *src, size_t n) {
    vkd_buf_t b;
    if (vkd_arena_alloc(arena, n, &b) != VKD_OK) {
        test_fail(T, __FILE__, __LINE__, "test_buf: %s", vkd_last_error());
        return VKD_BUF_NONE;
    }
    if (src && vkd_buf_write(b, src, n * sizeof(float)) != VKD_OK) {
        test_fail(T, __FILE__, __LINE__, "test_buf write: %s", vkd_last_error());
        return VKD_BUF_NONE;
    }
    return b;
}

float *test_read(tctx_t *T, vkd_buf_t b, size_t n) {
    float *x = calloc(n ? n : 1, sizeof(float));
    if (!x) {
        test_fail(T, __FILE__, __LINE__, "out of memory");
        exit(1);
    }
    if (b.arena && vkd_buf_read(b, x, n * sizeof(float)) != VKD_OK)
        test_fail(T, __FILE__, __LINE__, "test_read: %s", vkd_last_error());
    return x;
}

void test_fd_check(tctx_t *T, const char *name, test_loss_fn loss, void *ctx, float *param,
                   const float *analytic, size_t n, int n_probe, float eps, double tol) {
    double gmax = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(analytic[i]) > gmax) gmax = fabs(analytic[i]);
    uint64_t st = 0x9e3779b97f4a7c15ULL ^ n;
    double worst = 0;
    size_t worst_i = 0;
    double worst_num = 0;
    size_t probes = n <= (size_t)n_probe ? n : (size_t)n_probe;
    for (size_t p = 0; p < probes; p++) {
        size_t i = n <= (size_t)n_probe ? p : pcg(&st) % n;
        float orig = param[i];
        param[i] = orig + eps;
        double lp = loss(ctx);
        param[i] = orig - eps;
        double lm = loss(ctx);
        param[i] = orig;
        double num = (lp - lm) / (2.0 * eps);
        double ana = analytic[i];
        // Relative to the entry itself, with a floor of 1e-3 of the largest gradient so
        // entries that are ~0 are not held to a relative bound they cannot meet in float.
        double e = fabs(num - ana) / (fmax(fabs(num), fabs(ana)) + 1e-3 * gmax + 1e-12);
        if (e > worst) worst = e, worst_i = i, worst_num = num;
    }
    printf("  %-40s fd rel err %.3g (%zu probes, max|grad| %.3g)\n", name, worst, probes, gmax);
    if (!(worst <= tol))
        test_fail(T, __FILE__, __LINE__, "%s: finite differences disagree at %zu: numeric %.6g, "
                  "analytic %.6g (rel %.3g > %.3g)", name, worst_i, worst_num,
                  (double)analytic[worst_i], worst, tol);
    if (gmax == 0)
        test_fail(T, __FILE__, __LINE__, "%s: analytic gradient is all zero: the check proves nothing",
                  name);
}

int test_main(int argc, char **argv, const tcase_t *cases, int n) {
    vkd_blas_init(argc, argv);
    const char *mode = argc > 1 ? argv[1] : "cpu";
    int want_vk = strcmp(mode, "vulkan") == 0;
    if (!want_vk && strcmp(mode, "cpu") != 0) {
        fprintf(stderr, "usage: %s cpu|vulkan [case-substring]\n", argv[0]);
        return 2;
    }
    const char *filter = argc > 2 ? argv[2] : NULL;
    tctx_t T = {0};
    vkd_backend_opts_t cpu_opts = {.device = "cpu", .validate = 0, .quiet = 1};
    if (vkd_backend_create(&cpu_opts, &T.cpu) != VKD_OK ||
        vkd_arena_create(T.cpu, "test-cpu", SCRATCH_BYTES, &T.cpu_arena) != VKD_OK) {
        fprintf(stderr, "cannot create the CPU backend: %s\n", vkd_last_error());
        return 1;
    }
    if (want_vk) {
        const char *dev = getenv("VKDREAM_TEST_DEVICE");
        vkd_backend_opts_t o = {.device = dev && dev[0] ? dev : "vulkan", .validate = 1, .quiet = 1};
        if (vkd_backend_create(&o, &T.vk) != VKD_OK) {
            printf("SKIPPED: no Vulkan device with the validation layer here: %s\n", vkd_last_error());
            return 77;
        }
        if (vkd_arena_create(T.vk, "test-vk", SCRATCH_BYTES, &T.vk_arena) != VKD_OK) {
            fprintf(stderr, "cannot create a Vulkan arena: %s\n", vkd_last_error());
            return 1;
        }
        printf("Vulkan device: %s (validation on)\n", vkd_backend_name(T.vk));
    }
    int ran = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        if (cases[i].vk != want_vk) continue;
        if (filter && !strstr(cases[i].name, filter)) continue;
        vkd_arena_reset(T.cpu_arena);
        if (T.vk_arena) vkd_arena_reset(T.vk_arena);
        T.case_name = cases[i].name;
        T.seed = 0x5eed0000ULL + (uint64_t)i * 7919;
        int before = T.failures;
        int verr = T.vk ? vkd_backend_validation_errors(T.vk) : 0;
        printf("[ RUN  ] %s\n", cases[i].name);
        fflush(stdout);
        cases[i].fn(&T);
        if (T.vk) {
            if (vkd_backend_sync(T.vk) != VKD_OK)
                test_fail(&T, __FILE__, __LINE__, "sync: %s", vkd_last_error());
            int v = vkd_backend_validation_errors(T.vk) - verr;
            if (v) test_fail(&T, __FILE__, __LINE__, "%d Vulkan validation message(s)", v);
        }
        int ok = T.failures == before;
        printf("[ %s ] %s\n", ok ? " OK " : "FAIL", cases[i].name);
        ran++;
        failed += !ok;
    }
    vkd_arena_destroy(T.cpu_arena);
    vkd_backend_destroy(T.cpu);
    if (T.vk) {
        vkd_arena_destroy(T.vk_arena);
        vkd_backend_destroy(T.vk);
    }
    printf("%d passed, %d failed\n", ran - failed, failed);
    if (ran == 0) {
        fprintf(stderr, "no test case ran (mode %s%s%s)\n", mode, filter ? ", filter " : "",
                filter ? filter : "");
        return 1;
    }
    return failed ? 1 : 0;
}
