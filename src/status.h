// Error codes and the per-thread last-error message.
//
// Every function that can fail returns a vkd_status_t; on failure it has called
// vkd_fail() with a message that says what went wrong (and, where it can, what to do).
// The message lives in thread-local storage, like errno/dlerror: callers deep in a
// library have no context object to hang it on, and the CLI prints it once at the top.
#ifndef VKD_STATUS_H
#define VKD_STATUS_H

typedef enum {
    VKD_OK = 0,
    VKD_ERR_INVALID,     // bad argument, shape or input data
    VKD_ERR_NOMEM,       // host or device allocation failed
    VKD_ERR_VULKAN,      // a Vulkan call failed
    VKD_ERR_NODEVICE,    // no usable Vulkan loader/device
    VKD_ERR_IO,          // file could not be read or written
    VKD_ERR_FORMAT,      // file content is corrupt or of the wrong kind
    VKD_ERR_UNSUPPORTED, // feature not available on this backend/device
    VKD_ERR_NUMERIC,     // a numerical check failed (NaN, mismatch)
} vkd_status_t;

// Record a failure and return `code` (so callers can `return vkd_fail(...)`).
vkd_status_t vkd_fail(vkd_status_t code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
// Prefix the current message with more context ("loading X: <old message>").
vkd_status_t vkd_fail_ctx(vkd_status_t code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *vkd_last_error(void);
void vkd_clear_error(void);
const char *vkd_status_name(vkd_status_t code);

#define VKD_TRY(expr)                                                                    \
    do {                                                                                 \
        vkd_status_t vkd_try_s_ = (expr);                                                \
        if (vkd_try_s_ != VKD_OK) return vkd_try_s_;                                     \
    } while (0)

#endif
