// Philox random numbers (uniform, normal): argument checks shared by both backends, then
// the table call. n = 0 is a no-op. The mapping of elements to counters is in ops.h and
// src/philox.h.
#include <stdint.h>

#include "ops_impl.h"

static vkd_status_t check_rng(const char *op, vkd_backend_t *be, vkd_buf_t out, size_t n,
                              uint64_t offset) {
    if (!be) return vkd_fail(VKD_ERR_INVALID, "%s: backend is NULL", op);
    if (n > (size_t)INT32_MAX)
        return vkd_fail(VKD_ERR_INVALID, "%s: n = %zu is more than 2^31-1 elements", op, n);
    if (offset + n < offset)
        return vkd_fail(VKD_ERR_INVALID, "%s: offset %llu + n %zu passes the end of the stream",
                        op, (unsigned long long)offset, n);
    if (n == 0) return VKD_OK;
    VKD_TRY(vkd_check_buf(op, "out", out, n, 0)); // (n)
    return vkd_check_backend(op, be, &out, 1);
}

vkd_status_t op_rng_uniform(vkd_backend_t *be, vkd_buf_t out, size_t n, uint64_t seed,
                            uint64_t stream, uint64_t offset) {
    VKD_TRY(check_rng("op_rng_uniform", be, out, n, offset));
    if (n == 0) return VKD_OK;
    return VKD_CALL(be, rng_uniform, out, n, seed, stream, offset);
}

vkd_status_t op_rng_normal(vkd_backend_t *be, vkd_buf_t out, size_t n, uint64_t seed,
                           uint64_t stream, uint64_t offset) {
    VKD_TRY(check_rng("op_rng_normal", be, out, n, offset));
    if (n == 0) return VKD_OK;
    return VKD_CALL(be, rng_normal, out, n, seed, stream, offset);
}
