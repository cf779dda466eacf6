// GEMM: argument checks for both backends, and the backward composed from the forward.
//
// One extension of the ops.h contract: stride_c == 0 with batch > 1 means "shared
// output", C = alpha * sum_b op(A_b) op(B_b) + beta C + bias. Any other overlap of the
// batches of C is rejected (invocations of different batches would race). The backward
// needs exactly this to sum the gradient of a shared operand (stride 0) over the batch in
// one dispatch, without a scratch buffer or sub-views at unaligned offsets.
#include <stdint.h>

#include "ops_impl.h"

// Elements a batched operand spans: (batch - 1) * stride + rows * cols. Fails unless it
// fits the int32 indexing of the shaders.
static vkd_status_t span(const char *op, const char *arg, int batch, int64_t stride, int rows,
                         int cols, size_t *out) {
    if (stride < 0 || stride > INT32_MAX)
        return vkd_fail(VKD_ERR_INVALID, "%s: batch stride of '%s' is %lld (must be in [0, 2^31))",
                        op, arg, (long long)stride);
    int64_t n = (int64_t)(batch - 1) * stride + (int64_t)rows * cols;
    if (n > INT32_MAX)
        return vkd_fail(VKD_ERR_INVALID,
                        "%s: '%s' spans %lld elements, more than the 2^31 - 1 the kernels index",
                        op, arg, (long long)n);
    *out = (size_t)n;
    return VKD_OK;
}

// Byte ranges [off, off + n floats) of two views of the same arena intersect.
static int overlap(vkd_buf_t x, size_t nx, vkd_buf_t y, size_t ny) {
    if (!vkd_buf_present(x) || !vkd_buf_present(y) || x.arena != y.arena) return 0;
    return x.off < y.off + ny * sizeof(float) && y.off < x.off + nx * sizeof(float);
}

static vkd_status_t check_dims(const char *op, const vkd_gemm_t *g) {
    if (!g) return vkd_fail(VKD_ERR_INVALID, "%s: no GEMM descriptor", op);
    if (g->M < 1 || g->N < 1 || g->K < 1 || g->batch < 1)
        return vkd_fail(VKD_ERR_INVALID, "%s: M=%d N=%d K=%d batch=%d must all be >= 1", op, g->M,
                        g->N, g->K, g->batch);
    if ((g->trans_a != 0 && g->trans_a != 1) || (g->trans_b != 0 && g->trans_b != 1))
        return vkd_fail(VKD_ERR_INVALID, "%s: trans_a=%d trans_b=%d must be 0 or 1", op,
                        g->trans_a, g->trans_b);
    return VKD_OK;
}

// Rejects a stride that makes two batches of a written tensor overlap (0 is allowed: the
// batches are summed into one tensor).
static vkd_status_t check_out_stride(const char *op, const char *arg, int batch,
                                     int64_t stride, int64_t size) {
    if (batch > 1 && stride != 0 && stride < size)
        return vkd_fail(VKD_ERR_INVALID,
                        "%s: batch stride %lld of '%s' is below its matrix size %lld, so batches "
                        "would overlap (use 0 to sum over the batch)",
                        op, (long long)stride, arg, (long long)size);
    return VKD_OK;
}

vkd_status_t op_gemm_forward(vkd_backend_t *be, vkd_buf_t c, vkd_buf_t a, vkd_buf_t b,
                             vkd_buf_t bias, const vkd_gemm_t *g) {
    static const char *op = "op_gemm_forward";
    VKD_TRY(check_dims(op, g));
    size_t na = 0, nb = 0, nc = 0;
    VKD_TRY(span(op, "a", g->batch, g->stride_a, g->M, g->K, &na)); // (batch, M, K) / (batch, K, M)
    VKD_TRY(span(op, "b", g->batch, g->stride_b, g->K, g->N, &nb)); // (batch, K, N) / (batch, N, K)
    VKD_TRY(span(op, "c", g->batch, g->stride_c, g->M, g->N, &nc)); // (batch, M, N)
    VKD_TRY(check_out_stride(op, "c", g->batch, g->stride_c, (int64_t)g->M * g->N));
    VKD_TRY(vkd_check_buf(op, "c", c, nc, 0));
    VKD_TRY(vkd_check_buf(op, "a", a, na, 0));
    VKD_TRY(vkd_check_buf(op, "b", b, nb, 0));
    VKD_TRY(vkd_check_buf(op, "bias", bias, (size_t)g->N, 1)); // (N)
    const vkd_buf_t all[] = {c, a, b, bias};
    VKD_TRY(vkd_check_backend(op, be, all, 4));
    if (overlap(c, nc, a, na) || overlap(c, nc, b, nb) || overlap(c, nc, bias, (size_t)g->N))
        return vkd_fail(VKD_ERR_INVALID, "%s: output 'c' overlaps an input (a, b or bias)", op);
    return VKD_CALL(be, gemm_forward, c, a, b, bias, g);
}

// d op(A) = alpha dC op(B)^T and d op(B) = alpha op(A)^T dC, written as forward GEMMs on
// the stored layouts (a transposed operand's gradient is the transpose of the product):
//   da (M,K) += alpha dC op(B)^T          da (K,M) += alpha op(B) dC^T      (trans_a)
//   db (K,N) += alpha op(A)^T dC          db (N,K) += alpha dC^T op(A)      (trans_b)
// Every call accumulates (beta = 1) and inherits the batch: an operand with stride 0 has
// stride 0 in its gradient, which the forward sums over the batch.
vkd_status_t op_gemm_backward(vkd_backend_t *be, vkd_buf_t da, vkd_buf_t db, vkd_buf_t dbias,
                              vkd_buf_t dc, vkd_buf_t a, vkd_buf_t b, const vkd_gemm_t *g) {
    static const char *op = "op_gemm_backward";
    VKD_TRY(check_dims(op, g));
    const int M = g->M, N = g->N, K = g->K;
    size_t na = 0, nb = 0, nc = 0;
    VKD_TRY(span(op, "a", g->batch, g->stride_a, M, K, &na));
    VKD_TRY(span(op, "b", g->batch, g->stride_b, K, N, &nb));
    VKD_TRY(span(op, "dc", g->batch, g->stride_c, M, N, &nc));
    VKD_TRY(vkd_check_buf(op, "dc", dc, nc, 0));                          // (batch, M, N)
    VKD_TRY(vkd_check_buf(op, "da", da, na, 1));                          // like a
    VKD_TRY(vkd_check_buf(op, "db", db, nb, 1));                          // like b
    VKD_TRY(vkd_check_buf(op, "dbias", dbias, (size_t)N, 1));             // (N)
    const int need_a = vkd_buf_present(db), need_b = vkd_buf_present(da);
    VKD_TRY(vkd_check_buf(op, "a", a, need_a ? na : 0, !need_a)); // read only for db
    VKD_TRY(vkd_check_buf(op, "b", b, need_b ? nb : 0, !need_b)); // read only for da
    const vkd_buf_t all[] = {da, db, dbias, dc, a, b};
    VKD_TRY(vkd_check_backend(op, be, all, 6));
    if (vkd_buf_present(da))
        VKD_TRY(check_out_stride(op, "da", g->batch, g->stride_a, (int64_t)M * K));
    if (vkd_buf_present(db))
        VKD_TRY(check_out_stride(op, "db", g->batch, g->stride_b, (int64_t)K * N));
    // dbias sums dC over all rows of all batches; they must be one (rows, N) block.
    int bias_rows = M;
    if (g->batch > 1 && g->stride_c != 0) {
        if (g->stride_c != (int64_t)M * N && vkd_buf_present(dbias))
            return vkd_fail(VKD_ERR_INVALID,
                            "%s: dbias needs the batches of dc contiguous (stride_c = M*N = %lld "
                            "or 0), got stride_c = %lld",
                            op, (long long)M * N, (long long)g->stride_c);
        bias_rows = M * g->batch; // fits: nc <= INT32_MAX
    }

    if (vkd_buf_present(da)) {
        vkd_gemm_t d = {.alpha = g->alpha, .beta = 1.0f, .batch = g->batch,
                        .stride_c = g->stride_a};
        if (!g->trans_a) {
            // (M,K) = dC (M,N) . op(B)^T (N,K)
            d.M = M, d.N = K, d.K = N;
            d.trans_a = 0, d.trans_b = !g->trans_b;
            d.stride_a = g->stride_c, d.stride_b = g->stride_b;
            VKD_TRY(op_gemm_forward(be, da, dc, b, VKD_BUF_NONE, &d));
        } else {
            // (K,M) = op(B) (K,N) . dC^T (N,M)
            d.M = K, d.N = M, d.K = N;
            d.trans_a = g->trans_b, d.trans_b = 1;
            d.stride_a = g->stride_b, d.stride_b = g->stride_c;
            VKD_TRY(op_gemm_forward(be, da, b, dc, VKD_BUF_NONE, &d));
        }
    }
    if (vkd_buf_present(db)) {
        vkd_gemm_t d = {.alpha = g->alpha, .beta = 1.0f, .batch = g->batch,
                        .stride_c = g->stride_b};
        if (!g->trans_b) {
            // (K,N) = op(A)^T (K,M) . dC (M,N)
            d.M = K, d.N = N, d.K = M;
            d.trans_a = !g->trans_a, d.trans_b = 0;
            d.stride_a = g->stride_a, d.stride_b = g->stride_c;
            VKD_TRY(op_gemm_forward(be, db, a, dc, VKD_BUF_NONE, &d));
        } else {
            // (N,K) = dC^T (N,M) . op(A) (M,K)
            d.M = N, d.N = K, d.K = M;
            d.trans_a = 1, d.trans_b = g->trans_a;
            d.stride_a = g->stride_c, d.stride_b = g->stride_a;
            VKD_TRY(op_gemm_forward(be, db, dc, a, VKD_BUF_NONE, &d));
        }
    }
    if (vkd_buf_present(dbias)) return VKD_CALL(be, bias_grad, dbias, dc, bias_rows, N);
    return VKD_OK;
}
