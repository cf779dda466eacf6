// Conformance of the noise schedule with LDM's (golden/schedule_sd): betas and
// alphas_cumprod in double, the float32 buffer bit for bit, and the DDIM-50 subset.
#include <math.h>
#include <stdlib.h>

#include "golden_util.h"
#include "safetensors.h"
#include "sds/schedule.h"
#include "test_util.h"

// Opens golden/<file>, or returns NULL after saying why the case is skipped (no shared
// directory) or failing it (the directory is there but the file is not readable).
static vkd_safetensors_t *open_golden(tctx_t *T, const char *file) {
    char dir[1024], path[1200];
    if (!golden_dir_checked(T, dir, sizeof dir)) return NULL;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    vkd_safetensors_t *st = NULL;
    vkd_status_t s = vkd_st_open(path, &st);
    CHECK(T, s == VKD_OK, "open %s: %s", path, vkd_last_error());
    return st;
}

// Reads a 1-D tensor of n elements as double (float and integer dtypes convert exactly).
static double *read_f64(tctx_t *T, const vkd_safetensors_t *st, const char *name, size_t n) {
    const vkd_st_tensor_t *t;
    vkd_status_t s = vkd_st_expect(st, name, 1, (int64_t[]){(int64_t)n}, &t);
    CHECK(T, s == VKD_OK, "%s", vkd_last_error());
    if (s != VKD_OK) return NULL;
    double *x = malloc(n * sizeof(double));
    if (t->dtype == VKD_DT_I64) {
        int64_t *iv = malloc(n * sizeof(int64_t));
        CHECK(T, vkd_st_to_i64(t, iv, n) == VKD_OK, "%s: %s", name, vkd_last_error());
        for (size_t i = 0; i < n; i++) x[i] = (double)iv[i];
        free(iv);
    } else {
        CHECK(T, vkd_st_to_f64(t, x, n) == VKD_OK, "%s: %s", name, vkd_last_error());
    }
    return x;
}

// max |got - ref| / |ref| over n values; fails above tol.
static void compare_rel(tctx_t *T, const char *name, const double *got, const double *ref,
                        size_t n, double tol) {
    double worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - ref[i]) / fabs(ref[i]);
        if (!(e <= worst)) worst = e, wi = i;
    }
    printf("  %-28s max rel err %.3g (n=%zu)\n", name, worst, n);
    CHECK(T, worst <= tol, "%s: rel err %.3g > %.3g at %zu (got %.17g, ref %.17g)", name, worst,
          tol, wi, got[wi], ref[wi]);
}

static void t_golden_sd_schedule(tctx_t *T) {
    vkd_safetensors_t *st = open_golden(T, "schedule_sd.io.safetensors");
    if (!st) return;
    vkd_schedule_t s = {0};
    vkd_schedule_desc_t d = vkd_schedule_desc_sd();
    vkd_status_t rc = vkd_schedule_init(&s, &d);
    CHECK(T, rc == VKD_OK, "schedule: %s", vkd_last_error());
    double *betas = read_f64(T, st, "out.betas", 1000);
    double *ac = read_f64(T, st, "out.alphas_cumprod", 1000);
    double *ac32 = read_f64(T, st, "out.alphas_cumprod_f32", 1000);
    double *ts = read_f64(T, st, "out.ddim50.timesteps", 50);
    double *da = read_f64(T, st, "out.ddim50.alphas", 50);
    double *dap = read_f64(T, st, "out.ddim50.alphas_prev", 50);
    if (rc == VKD_OK && betas && ac && ac32 && ts && da && dap) {
        CHECK(T, s.T == 1000, "T = %d", s.T);
        compare_rel(T, "betas", s.betas, betas, 1000, 1e-12);
        compare_rel(T, "alphas_cumprod", s.alphas_cumprod, ac, 1000, 1e-12);
        int bits = 0, exact64 = 0;
        for (int i = 0; i < 1000; i++) {
            bits += (double)s.alphas_cumprod_f32[i] == ac32[i];
            exact64 += s.alphas_cumprod[i] == ac[i] && s.betas[i] == betas[i];
        }
        printf("  alphas_cumprod_f32: %d of 1000 bit-exact; double values identical: %d\n", bits,
               exact64);
        CHECK(T, bits == 1000, "alphas_cumprod_f32: only %d of 1000 values are bit-exact", bits);

        vkd_ddim_schedule_t dd = {0};
        rc = vkd_ddim_schedule_init(&dd, &s, 50, 0.0);
        CHECK(T, rc == VKD_OK, "ddim: %s", vkd_last_error());
        if (rc == VKD_OK) {
            CHECK(T, dd.n == 50, "DDIM-50 has %d timesteps", dd.n);
            int ts_ok = 0, a_ok = 0, ap_ok = 0, sig0 = 0;
            for (int i = 0; i < 50 && i < dd.n; i++) {
                ts_ok += dd.timesteps[i] == (int)ts[i];
                a_ok += (double)(float)dd.alphas[i] == da[i];
                ap_ok += dd.alphas_prev[i] == dap[i];
                sig0 += dd.sigmas[i] == 0.0;
            }
            printf("  DDIM-50: timesteps %d/50 exact (%d .. %d), alphas %d/50, alphas_prev %d/50\n",
                   ts_ok, dd.timesteps[0], dd.timesteps[dd.n - 1], a_ok, ap_ok);
            CHECK(T, ts_ok == 50, "DDIM-50 timesteps: %d of 50 match", ts_ok);
            CHECK(T, a_ok == 50, "DDIM-50 alphas: %d of 50 match bit-exactly", a_ok);
            CHECK(T, ap_ok == 50, "DDIM-50 alphas_prev: %d of 50 match exactly", ap_ok);
            CHECK(T, sig0 == 50, "eta = 0 gives zero sigmas (%d of 50)", sig0);
        }
        vkd_ddim_schedule_free(&dd);
    }
    free(betas), free(ac), free(ac32), free(ts), free(da), free(dap);
    vkd_schedule_free(&s);
    vkd_st_close(st);
}

static const tcase_t cases[] = {TCASE_CPU(t_golden_sd_schedule)};
TEST_MAIN(cases)
