// Scaled dot-product attention backward on the CPU.
//
// Nothing is saved by the forward, so each block of ATT_QB queries recomputes its
// probabilities and then runs the chain rule as GEMMs (vkd_sgemm, OpenBLAS):
//   P  (nq, kn) = softmax(scale Q K^T)            (masked entries 0)
//   dV (kn, Dv) += P^T dO
//   dP (nq, kn) = dO V^T
//   dS (nq, kn) = P o (dP - rowsum(dP o P))       (softmax backward, in dP's buffer)
//   dQ (nq, D) += scale dS K,   dK (kn, D) += scale dS^T Q
// Work items are whole (b, h) pairs, not query blocks: every block of a head adds into
// the same dK and dV rows, so splitting a head between threads would race. Items run in
// an OpenMP loop with OpenBLAS single-threaded inside; with a single item (B*H == 1) the
// loop is serial and the GEMMs get the threads. The score buffers are bounded by ATT_QB
// rows (Lk = 4096 would need 64 MiB per head unblocked).
// Causal blocks only touch keys up to the block's last query.
// Gradients are accumulated in place at their strides (op_attention_backward checked that
// their rows are distinct); q/k/v rows closer than their length are gathered first.
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attention_row.h"
#include "blas.h"
#include "ops_impl.h"

#define ATT_QB 128             // queries per block
#define ATT_PAR_MIN_FLOPS 2e6  // below this a parallel region costs more than it saves

// p (n): the first `lim` scores become their softmax, the rest (masked) 0.
ATT_SIMD_CLONES
static void softmax_row(float *p, int lim, int n) {
    const float inv = 1.0f / vkd_att_softmax_row_unnormalised(p, lim, n);
#pragma omp simd
    for (int j = 0; j < lim; j++) p[j] *= inv;
}

// dp (n) = p o (dp - sum(dp o p)) over the first `lim` entries, 0 beyond (masked).
ATT_SIMD_CLONES
static void softmax_grad_row(float *dp, const float *p, int lim, int n) {
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int j = 0; j < lim; j++) dot += dp[j] * p[j];
#pragma omp simd
    for (int j = 0; j < lim; j++) dp[j] = p[j] * (dp[j] - dot);
    for (int j = lim; j < n; j++) dp[j] = 0.0f;
}

// Rows of `n` rows x `w` floats at stride `ld` usable directly as a GEMM operand?
static int rows_direct(int n, int w, int64_t ld) { return n == 1 || ld >= w; }

static void gather_rows(float *dst, const float *src, int n, int w, int64_t ld) {
    for (int i = 0; i < n; i++) memcpy(dst + (size_t)i * w, src + i * ld, sizeof(float) * (size_t)w);
}

vkd_status_t attention_backward_cpu(vkd_backend_t *be, vkd_buf_t dq, vkd_buf_t dk, vkd_buf_t dv,
                                    vkd_buf_t dout, vkd_buf_t q, vkd_buf_t k, vkd_buf_t v,
                                    const vkd_attention_t *a) {
    (void)be;
    float *dQ = vkd_buf_present(dq) ? dq.host : NULL; // (B, H, Lq, D) strided as q
    float *dK = vkd_buf_present(dk) ? dk.host : NULL; // (B, H, Lk, D) strided as k
    float *dV = vkd_buf_present(dv) ? dv.host : NULL; // (B, H, Lk, Dv) strided as v
    const float *dO = dout.host; // (B, H, Lq, Dv) strided as out
    const float *Q = q.host;     // (B, H, Lq, D) strided
    const float *K = k.host;     // (B, H, Lk, D) strided
    const float *V = v.host;     // (B, H, Lk, Dv) strided
    if (!dQ && !dK && !dV) return VKD_OK;
    const int H = a->H, Lq = a->Lq, Lk = a->Lk, D = a->D, Dv = a->Dv;
    const int qrows = Lq < ATT_QB ? Lq : ATT_QB;
    const long long items = (long long)a->B * H;
    const int need_ds = dQ || dK; // dV needs only P

    // Read operands: gathered when their rows overlap (as in the forward).
    const int gq = !rows_direct(Lq, D, a->sq_l), gk = !rows_direct(Lk, D, a->sk_l);
    const int gv = need_ds && !rows_direct(Lk, Dv, a->sv_l);
    const int ldq = gq || Lq == 1 ? D : (int)a->sq_l, ldk = gk || Lk == 1 ? D : (int)a->sk_l;
    const int ldv = gv || Lk == 1 ? Dv : (int)a->sv_l, ldo = Lq == 1 ? Dv : (int)a->so_l;
    // Gradients (distinct rows, checked by the wrapper) are written at their own strides.
    const int lgq = Lq == 1 ? D : (int)a->sq_l, lgk = Lk == 1 ? D : (int)a->sk_l;
    const int lgv = Lk == 1 ? Dv : (int)a->sv_l;

    // Per-thread workspace: P and dP (qrows, Lk), gathered Q (qrows, D), K (Lk, D), V (Lk, Dv).
    const size_t n_s = (size_t)qrows * Lk, n_q = gq ? (size_t)qrows * D : 0;
    const size_t n_k = gk ? (size_t)Lk * D : 0, n_v = gv ? (size_t)Lk * Dv : 0;
    const size_t per = 2 * n_s + n_q + n_k + n_v;
    const double flops = 2.0 * a->B * H * (double)Lq * Lk * (2.0 * D + 2.0 * Dv);
    const int par = items > 1 && flops > ATT_PAR_MIN_FLOPS;
    int nt = par ? omp_get_max_threads() : 1;
    if (nt > items) nt = (int)items;
    float *work = malloc((size_t)nt * per * sizeof *work);
    if (!work)
        return vkd_fail(VKD_ERR_NOMEM, "op_attention_backward: no memory for %d x %zu floats "
                        "of workspace (Lk = %d)", nt, per, Lk);

#pragma omp parallel num_threads(nt) if (par)
    {
        float *P = work + (size_t)omp_get_thread_num() * per; // (qrows, Lk)
        float *dP = P + n_s;  // (qrows, Lk), becomes dS
        float *Qg = dP + n_s; // (qrows, D) when gathered
        float *Kg = Qg + n_q; // (Lk, D) when gathered
        float *Vg = Kg + n_k; // (Lk, Dv) when gathered
#pragma omp for schedule(dynamic, 1)
        for (long long it = 0; it < items; it++) {
            const int b = (int)(it / H), h = (int)(it % H);
            const float *kp = K + b * a->sk_b + h * a->sk_h; // (Lk, D)
            const float *vp = V + b * a->sv_b + h * a->sv_h; // (Lk, Dv)
            float *dkp = dK ? dK + b * a->sk_b + h * a->sk_h : NULL; // (Lk, D)
            float *dvp = dV ? dV + b * a->sv_b + h * a->sv_h : NULL; // (Lk, Dv)
            if (gk) gather_rows(Kg, kp, Lk, D, a->sk_l), kp = Kg;
            if (gv) gather_rows(Vg, vp, Lk, Dv, a->sv_l), vp = Vg;
            for (int i0 = 0; i0 < Lq; i0 += ATT_QB) {
                const int nq = Lq - i0 < ATT_QB ? Lq - i0 : ATT_QB;
                const int kn = a->causal ? (i0 + nq < Lk ? i0 + nq : Lk) : Lk;
                const float *qp = Q + b * a->sq_b + h * a->sq_h + i0 * a->sq_l; // (nq, D)
                const float *op = dO + b * a->so_b + h * a->so_h + i0 * a->so_l; // (nq, Dv)
                if (gq) gather_rows(Qg, qp, nq, D, a->sq_l), qp = Qg;
                // P (nq, kn) = softmax(scale Q (nq, D) K^T (D, kn))
                vkd_sgemm(0, 1, nq, kn, D, a->scale, qp, ldq, kp, ldk, 0.0f, P, kn);
                for (int r = 0; r < nq; r++)
                    softmax_row(P + (size_t)r * kn, a->causal ? i0 + r + 1 : kn, kn);
                // dV (kn, Dv) += P^T (kn, nq) dO (nq, Dv)
                if (dvp) vkd_sgemm(1, 0, kn, Dv, nq, 1.0f, P, kn, op, ldo, 1.0f, dvp, lgv);
                if (!need_ds) continue;
                // dP (nq, kn) = dO (nq, Dv) V^T (Dv, kn), then dS in place
                vkd_sgemm(0, 1, nq, kn, Dv, 1.0f, op, ldo, vp, ldv, 0.0f, dP, kn);
                for (int r = 0; r < nq; r++)
                    softmax_grad_row(dP + (size_t)r * kn, P + (size_t)r * kn,
                                     a->causal ? i0 + r + 1 : kn, kn);
                if (dQ) { // dQ (nq, D) += scale dS (nq, kn) K (kn, D)
                    float *dqp = dQ + b * a->sq_b + h * a->sq_h + i0 * a->sq_l;
                    vkd_sgemm(0, 0, nq, D, kn, a->scale, dP, kn, kp, ldk, 1.0f, dqp, lgq);
                }
                // dK (kn, D) += scale dS^T (kn, nq) Q (nq, D)
                if (dkp) vkd_sgemm(1, 0, kn, D, nq, a->scale, dP, kn, qp, ldq, 1.0f, dkp, lgk);
            }
        }
    }
    free(work);
    return VKD_OK;
}
