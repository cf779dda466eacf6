// Argument checks shared by every op_* wrapper, so both backends reject bad calls the
// same way and the message names the op and the argument.
#include "ops_impl.h"

vkd_status_t vkd_check_buf(const char *op, const char *arg, vkd_buf_t b, size_t n, int optional) {
    if (!vkd_buf_present(b)) {
        if (optional || n == 0) return VKD_OK;
        return vkd_fail(VKD_ERR_INVALID, "%s: buffer '%s' is missing (needs %zu floats)", op, arg,
                        n);
    }
    if (b.arena == NULL)
        return vkd_fail(VKD_ERR_INVALID, "%s: buffer '%s' belongs to no arena", op, arg);
    if (b.bytes / sizeof(float) < n)
        return vkd_fail(VKD_ERR_INVALID, "%s: buffer '%s' holds %zu floats but %zu are needed", op,
                        arg, b.bytes / sizeof(float), n);
    return VKD_OK;
}

vkd_status_t vkd_check_backend(const char *op, vkd_backend_t *be, const vkd_buf_t *bufs, int n) {
    if (!be) return vkd_fail(VKD_ERR_INVALID, "%s: no backend", op);
    for (int i = 0; i < n; i++) {
        if (!vkd_buf_present(bufs[i])) continue;
        if (bufs[i].arena == NULL || bufs[i].arena->be != be)
            return vkd_fail(VKD_ERR_INVALID,
                            "%s: argument %d lives on another backend ('%s') than the op's ('%s')",
                            op, i, bufs[i].arena ? bufs[i].arena->be->name : "none", be->name);
    }
    return VKD_OK;
}
