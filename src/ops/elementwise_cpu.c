// Elementwise ops on the CPU: plain loops over contiguous memory, split into fixed-size
// chunks for OpenMP (the chunking, not the thread count, decides every result, so runs are
// reproducible on any machine).
//
// The activation loops vectorise only if GCC may if-convert the selects in activation.h,
// which it refuses while FP operations are assumed to trap; nothing here inspects FP
// exception flags, so turn that assumption off for this file (4-10x faster loops).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <stddef.h>

#include "activation.h"
#include "ops_impl.h"

#define CHUNK 16384          // elements per OpenMP work item
// Below these sizes a loop is too cheap to be worth waking threads. A parallel region
// costs tens of microseconds of CPU time in futex wake-ups and sleeps (and, on a loaded
// machine, a wait for a descheduled worker): 2^17 floats of copy take ~50 us, 2^16
// AVX-512 activations ~20-60 us. Measured on the UNet at B = 2, 32x32 (bench/RESULTS.md,
// "CPU UNet and trainer speed-up"): lower thresholds cost CPU time and, on a busy
// machine, wall time too.
#define PAR_MIN (1 << 17)
#define PAR_MIN_ACT (1 << 16)

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

vkd_status_t fill_cpu(vkd_backend_t *be, vkd_buf_t out, float value, size_t n) {
    (void)be;
    float *o = out.host; // (n)
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) o[i] = value;
    return VKD_OK;
}

vkd_status_t copy_cpu(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp, size_t n) {
    (void)be;
    float *o = out.host;       // (n)
    const float *x = inp.host; // (n)
    if (o == x) return VKD_OK;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) o[i] = x[i];
    return VKD_OK;
}

// The switch is outside the loops: each case is a loop the compiler specialises for one
// activation (vkd_act_fwd inlines with a constant code), not a per-element branch.
#define ACT_CASES(LOOP)                                                                  \
    switch (act) {                                                                       \
    case VKD_ACT_SILU: LOOP(0); break;                                                   \
    case VKD_ACT_SIGMOID: LOOP(1); break;                                                \
    case VKD_ACT_EXP: LOOP(2); break;                                                    \
    case VKD_ACT_SOFTPLUS: LOOP(3); break;                                               \
    case VKD_ACT_GELU: LOOP(4); break;                                                   \
    case VKD_ACT_GELU_TANH: LOOP(5); break;                                              \
    case VKD_ACT_QUICK_GELU: LOOP(6); break;                                             \
    default: LOOP(7); break;                                                             \
    }

// The activations are arithmetic-bound (20-50 flops per element): the baseline x86-64
// build runs them 4 lanes wide, so the span kernels are also built for AVX2 and AVX-512
// and picked at load time. The project compiles without FP contraction (-std=c11), so
// every clone performs the same IEEE operations in the same order: identical results.
// The kernels are plain functions called per chunk from the OpenMP loops, because GCC
// outlines an OpenMP body into a function of its own that would not inherit the clones.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ELT_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ELT_SIMD_CLONES
#endif

#define ACT_CHUNK 4096 // elements per OpenMP work item of an activation

ELT_SIMD_CLONES
static void act_fwd_span(vkd_act_t act, float *o, const float *x, size_t n) {
    // o (n), may alias x; x (n)
#define FWD_LOOP(K) for (size_t i = 0; i < n; i++) o[i] = vkd_act_fwd(K, x[i])
    ACT_CASES(FWD_LOOP)
#undef FWD_LOOP
}

ELT_SIMD_CLONES
static void act_bwd_span(vkd_act_t act, float *dx, const float *dy, const float *x, size_t n) {
    // dx (n), dy (n), x (n)
#define BWD_LOOP(K) for (size_t i = 0; i < n; i++) dx[i] += dy[i] * vkd_act_bwd(K, x[i])
    ACT_CASES(BWD_LOOP)
#undef BWD_LOOP
}

vkd_status_t unary_forward_cpu(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp, size_t n,
                               vkd_act_t act) {
    (void)be;
    float *o = out.host;       // (n), may alias inp
    const float *x = inp.host; // (n)
    const size_t nchunks = (n + ACT_CHUNK - 1) / ACT_CHUNK;
#pragma omp parallel for schedule(static) if (n > PAR_MIN_ACT)
    for (size_t c = 0; c < nchunks; c++) {
        const size_t i0 = c * ACT_CHUNK;
        act_fwd_span(act, o + i0, x + i0, min_sz(ACT_CHUNK, n - i0));
    }
    return VKD_OK;
}

vkd_status_t unary_backward_cpu(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dout,
                                vkd_buf_t inp, size_t n, vkd_act_t act) {
    (void)be;
    float *dx = dinp.host;       // (n)
    const float *dy = dout.host; // (n)
    const float *x = inp.host;   // (n)
    const size_t nchunks = (n + ACT_CHUNK - 1) / ACT_CHUNK;
#pragma omp parallel for schedule(static) if (n > PAR_MIN_ACT)
    for (size_t c = 0; c < nchunks; c++) {
        const size_t i0 = c * ACT_CHUNK;
        act_bwd_span(act, dx + i0, dy + i0, x + i0, min_sz(ACT_CHUNK, n - i0));
    }
    return VKD_OK;
}

// ---- broadcast binary ops ---------------------------------------------------------------
// Element i pairs with b[(i / b_inner) % b_n]. A chunk [i0, i1) is walked in runs where
// the b operand is either one value (b_inner > 1) or a contiguous slice of b (b_inner == 1),
// so the inner loops are plain contiguous loops.
typedef struct {
    float *dst;        // (n): out, or da when accumulating
    const float *x;    // (n): a (forward) or dout (backward)
    const float *b;    // (b_n), or NULL for "1" (the da of a sum)
    size_t b_n, b_inner;
    int mul;           // x * b instead of x + b
    int accumulate;    // dst += ... instead of dst = ...
} bin_job_t;

static void bin_run(const bin_job_t *j, size_t i, size_t len, const float *bs, float bv) {
    float *d = j->dst + i;      // (len)
    const float *x = j->x + i;  // (len)
    if (j->accumulate) {
        // da += dout * b (product) or da += dout (sum: b == NULL)
        if (!j->b) {
            for (size_t t = 0; t < len; t++) d[t] += x[t];
        } else if (bs) {
            for (size_t t = 0; t < len; t++) d[t] += x[t] * bs[t];
        } else {
            for (size_t t = 0; t < len; t++) d[t] += x[t] * bv;
        }
    } else if (j->mul) {
        if (bs) for (size_t t = 0; t < len; t++) d[t] = x[t] * bs[t];
        else for (size_t t = 0; t < len; t++) d[t] = x[t] * bv;
    } else {
        if (bs) for (size_t t = 0; t < len; t++) d[t] = x[t] + bs[t];
        else for (size_t t = 0; t < len; t++) d[t] = x[t] + bv;
    }
}

static void bin_chunk(const bin_job_t *j, size_t i0, size_t i1) {
    size_t i = i0;
    while (i < i1) {
        size_t len;
        if (j->b_inner == 1) {
            const size_t k = i % j->b_n;
            len = min_sz(j->b_n - k, i1 - i);
            bin_run(j, i, len, j->b ? j->b + k : NULL, 0.0f);
        } else {
            const size_t k = (i / j->b_inner) % j->b_n;
            len = min_sz(j->b_inner - i % j->b_inner, i1 - i);
            bin_run(j, i, len, NULL, j->b ? j->b[k] : 0.0f);
        }
        i += len;
    }
}

static void bin_apply(const bin_job_t *j, size_t n) {
    const size_t nchunks = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t c = 0; c < nchunks; c++) bin_chunk(j, c * CHUNK, min_sz(n, (c + 1) * CHUNK));
}

vkd_status_t binary_forward_cpu(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t a, vkd_buf_t b,
                                const vkd_binary_t *d) {
    (void)be;
    const bin_job_t j = {
        .dst = out.host, .x = a.host, .b = b.host, // (n), (n), (b_n)
        .b_n = d->b_n, .b_inner = d->b_inner, .mul = d->op == VKD_BIN_MUL,
    };
    bin_apply(&j, d->n);
    return VKD_OK;
}

// sum_t x[t] (y == NULL) or sum_t x[t] y[t], in double with 8 independent partial sums
// (a form the compiler vectorises without reassociating anything itself).
static double dot_or_sum(const float *x, const float *y, size_t len) {
    double acc[8] = {0};
    size_t t = 0;
    if (y) {
        for (; t + 8 <= len; t += 8)
            for (int l = 0; l < 8; l++) acc[l] += (double)x[t + l] * (double)y[t + l];
        for (; t < len; t++) acc[0] += (double)x[t] * (double)y[t];
    } else {
        for (; t + 8 <= len; t += 8)
            for (int l = 0; l < 8; l++) acc[l] += (double)x[t + l];
        for (; t < len; t++) acc[0] += (double)x[t];
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// db[k] += sum over the broadcast of dout (sum) or dout * a (product), accumulated in double.
static void binary_db(float *db, const float *dy, const float *a, const vkd_binary_t *d) {
    // db (b_n), dy (n), a (n) or NULL
    const size_t b_n = d->b_n, inner = d->b_inner, reps = d->n / (b_n * inner);
    if (inner == 1) {
        // Rows of b_n: walk them in order, a block of 64 accumulators per thread.
        const size_t nblk = (b_n + 63) / 64;
#pragma omp parallel for schedule(static) if (d->n > PAR_MIN && nblk > 1)
        for (size_t blk = 0; blk < nblk; blk++) {
            const size_t k0 = blk * 64, kn = min_sz(64, b_n - k0);
            double acc[64] = {0};
            for (size_t r = 0; r < reps; r++) {
                const float *y = dy + r * b_n + k0;         // (kn)
                const float *x = a ? a + r * b_n + k0 : NULL; // (kn)
                if (x) for (size_t t = 0; t < kn; t++) acc[t] += (double)y[t] * (double)x[t];
                else for (size_t t = 0; t < kn; t++) acc[t] += (double)y[t];
            }
            for (size_t t = 0; t < kn; t++) db[k0 + t] += (float)acc[t];
        }
        return;
    }
#pragma omp parallel for schedule(static) if (d->n > PAR_MIN && b_n > 1)
    for (size_t k = 0; k < b_n; k++) {
        double acc = 0.0;
        for (size_t r = 0; r < reps; r++) {
            const size_t off = (r * b_n + k) * inner;
            acc += dot_or_sum(dy + off, a ? a + off : NULL, inner);
        }
        db[k] += (float)acc;
    }
}

vkd_status_t binary_backward_cpu(vkd_backend_t *be, vkd_buf_t da, vkd_buf_t db, vkd_buf_t dout,
                                 vkd_buf_t a, vkd_buf_t b, const vkd_binary_t *d) {
    (void)be;
    const int mul = d->op == VKD_BIN_MUL;
    if (vkd_buf_present(da)) {
        const bin_job_t j = {
            .dst = da.host, .x = dout.host, .b = mul ? b.host : NULL, // (n), (n), (b_n)
            .b_n = d->b_n, .b_inner = d->b_inner, .mul = mul, .accumulate = 1,
        };
        bin_apply(&j, d->n);
    }
    if (vkd_buf_present(db)) binary_db(db.host, dout.host, mul ? a.host : NULL, d);
    return VKD_OK;
}

vkd_status_t scale_forward_cpu(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp, size_t n,
                               float alpha, float beta) {
    (void)be;
    float *o = out.host;       // (n), may alias inp
    const float *x = inp.host; // (n)
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) o[i] = alpha * x[i] + beta;
    return VKD_OK;
}

vkd_status_t scale_backward_cpu(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dout, size_t n,
                                float alpha) {
    (void)be;
    float *dx = dinp.host;       // (n)
    const float *dy = dout.host; // (n)
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) dx[i] += alpha * dy[i];
    return VKD_OK;
}
