// Token-embedding backward: argument checks (sizes, buffer lengths and every id, which
// lives on the host) shared by both backends, then the table call.
#include <stdint.h>

#include "ops_impl.h"

static const char OP[] = "op_embedding_backward";

vkd_status_t op_embedding_backward(vkd_backend_t *be, vkd_buf_t dweight, vkd_buf_t dout,
                                   const int32_t *ids, int N, int V, int D) {
    if (!be) return vkd_fail(VKD_ERR_INVALID, "%s: backend is NULL", OP);
    if (N < 1 || V < 1 || D < 1)
        return vkd_fail(VKD_ERR_INVALID, "%s: N = %d, V = %d, D = %d must be positive", OP, N,
                        V, D);
    if ((int64_t)N * D > INT32_MAX || (int64_t)V * D > INT32_MAX)
        return vkd_fail(VKD_ERR_INVALID, "%s: dout (%d x %d) or dweight (%d x %d) exceeds 2^31-1 "
                        "elements", OP, N, D, V, D);
    if (!ids) return vkd_fail(VKD_ERR_INVALID, "%s: ids is NULL", OP);
    for (int i = 0; i < N; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return vkd_fail(VKD_ERR_INVALID, "%s: ids[%d] = %d is outside the vocabulary [0, %d)",
                            OP, i, (int)ids[i], V);
    VKD_TRY(vkd_check_buf(OP, "dweight", dweight, (size_t)V * D, 0)); // (V, D)
    VKD_TRY(vkd_check_buf(OP, "dout", dout, (size_t)N * D, 0));       // (N, D)
    const vkd_buf_t all[] = {dweight, dout};
    VKD_TRY(vkd_check_backend(OP, be, all, 2));
    if (dweight.arena == dout.arena && dweight.off < dout.off + (size_t)N * D * sizeof(float) &&
        dout.off < dweight.off + (size_t)V * D * sizeof(float))
        return vkd_fail(VKD_ERR_INVALID, "%s: 'dweight' overlaps 'dout'", OP);
    return VKD_CALL(be, embedding_backward, dweight, dout, ids, N, V, D);
}
