// Scaled dot-product attention on the CPU.
//
// Work items are (b, h, block of ATT_QB queries): S = scale * Q K^T and O = P V are two
// vkd_sgemm calls (OpenBLAS); in between, P = exp(S - row max) (stable), and O's rows are
// divided by P's row sums afterwards (Dv divisions per row instead of Lk). Blocking the
// queries bounds the score buffer to ATT_QB * Lk floats per thread (Lk = 4096 would need
// 64 MiB per head unblocked) and gives enough items to share between threads even when
// B*H is 1. Items run in an OpenMP loop; inside a parallel region OpenBLAS runs each
// GEMM single-threaded, and with a single item the loop stays serial so the GEMMs get
// the threads instead.
// Rows of q/k/v/out are used in place (their row stride is the GEMM's leading dimension);
// q/k/v rows closer than their length (overlapping views) are gathered first. Output
// rows never overlap (op_attention_forward rejects that).
// Causal blocks only score keys up to the block's last query.
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attention_row.h"
#include "blas.h"
#include "ops_impl.h"

#define ATT_QB 128              // queries per work item
#define ATT_PAR_MIN_FLOPS 2e6   // below this a parallel region costs more than it saves

// Rows of `n` rows x `w` floats at stride `ld` usable directly as a GEMM operand?
static int rows_direct(int n, int w, int64_t ld) { return n == 1 || ld >= w; }

static void gather_rows(float *dst, const float *src, int n, int w, int64_t ld) {
    for (int i = 0; i < n; i++) memcpy(dst + (size_t)i * w, src + i * ld, sizeof(float) * (size_t)w);
}

vkd_status_t attention_forward_cpu(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t q, vkd_buf_t k,
                                   vkd_buf_t v, const vkd_attention_t *a) {
    (void)be;
    float *O = out.host;       // (B, H, Lq, Dv) strided
    const float *Q = q.host;   // (B, H, Lq, D) strided
    const float *K = k.host;   // (B, H, Lk, D) strided
    const float *V = v.host;   // (B, H, Lk, Dv) strided
    const int H = a->H, Lq = a->Lq, Lk = a->Lk, D = a->D, Dv = a->Dv;
    const int nqb = (Lq + ATT_QB - 1) / ATT_QB;
    const int qrows = Lq < ATT_QB ? Lq : ATT_QB;
    const long long items = (long long)a->B * H * nqb;

    // Gathering is decided once: a stride smaller than the row means overlapping rows.
    const int gq = !rows_direct(Lq, D, a->sq_l), gk = !rows_direct(Lk, D, a->sk_l);
    const int gv = !rows_direct(Lk, Dv, a->sv_l);
    const int ldq = gq || Lq == 1 ? D : (int)a->sq_l, ldk = gk || Lk == 1 ? D : (int)a->sk_l;
    const int ldv = gv || Lk == 1 ? Dv : (int)a->sv_l, ldo = Lq == 1 ? Dv : (int)a->so_l;

    // Per-thread workspace: scores (ATT_QB, Lk), row sums and the gathered operands.
    const size_t n_s = (size_t)qrows * Lk, n_q = gq ? (size_t)qrows * D : 0;
    const size_t n_k = gk ? (size_t)Lk * D : 0, n_v = gv ? (size_t)Lk * Dv : 0;
    const size_t per = n_s + (size_t)qrows + n_q + n_k + n_v;
    const double flops = 2.0 * a->B * H * (double)Lq * Lk * (D + Dv);
    const int par = items > 1 && flops > ATT_PAR_MIN_FLOPS;
    const int nt = par ? omp_get_max_threads() : 1;
    float *work = malloc((size_t)nt * per * sizeof *work);
    if (!work)
        return vkd_fail(VKD_ERR_NOMEM, "op_attention_forward: no memory for %d x %zu floats of "
                        "workspace (Lk = %d)", nt, per, Lk);

#pragma omp parallel num_threads(nt) if (par)
    {
        float *S = work + (size_t)omp_get_thread_num() * per; // (qrows, Lk)
        float *rsum = S + n_s;      // (qrows) softmax denominators
        float *Qg = rsum + qrows;   // (qrows, D) when gathered
        float *Kg = Qg + n_q; // (Lk, D) when gathered
        float *Vg = Kg + n_k; // (Lk, Dv) when gathered
#pragma omp for schedule(dynamic, 1)
        for (long long it = 0; it < items; it++) {
            const int b = (int)(it / ((long long)H * nqb));
            const int h = (int)((it / nqb) % H);
            const int i0 = (int)(it % nqb) * ATT_QB;
            const int nq = Lq - i0 < ATT_QB ? Lq - i0 : ATT_QB;
            const int kn = a->causal ? (i0 + nq < Lk ? i0 + nq : Lk) : Lk;
            const float *qp = Q + b * a->sq_b + h * a->sq_h + i0 * a->sq_l;
            const float *kp = K + b * a->sk_b + h * a->sk_h;
            const float *vp = V + b * a->sv_b + h * a->sv_h;
            float *op = O + b * a->so_b + h * a->so_h + i0 * a->so_l;
            if (gq) gather_rows(Qg, qp, nq, D, a->sq_l), qp = Qg;
            if (gk) gather_rows(Kg, kp, kn, D, a->sk_l), kp = Kg;
            if (gv) gather_rows(Vg, vp, kn, Dv, a->sv_l), vp = Vg;
            // S (nq, kn) = scale * Q (nq, D) K^T (D, kn)
            vkd_sgemm(0, 1, nq, kn, D, a->scale, qp, ldq, kp, ldk, 0.0f, S, kn);
            for (int r = 0; r < nq; r++)
                rsum[r] = vkd_att_softmax_row_unnormalised(S + (size_t)r * kn, a->causal ? i0 + r + 1 : kn, kn);
            // O (nq, Dv) = exp(S - max) (nq, kn) V (kn, Dv), then each row / its sum
            vkd_sgemm(0, 0, nq, Dv, kn, 1.0f, S, kn, vp, ldv, 0.0f, op, ldo);
            for (int r = 0; r < nq; r++) {
                const float inv = 1.0f / rsum[r];
                float *orow = op + r * a->so_l;
                for (int j = 0; j < Dv; j++) orow[j] *= inv;
            }
        }
    }
    free(work);
    return VKD_OK;
}
