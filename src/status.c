#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MSG_CAP 2048
static _Thread_local char g_msg[MSG_CAP];

vkd_status_t vkd_fail(vkd_status_t code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return code;
}

vkd_status_t vkd_fail_ctx(vkd_status_t code, const char *fmt, ...) {
    char prefix[MSG_CAP], old[MSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, g_msg, sizeof old);
    snprintf(g_msg, sizeof g_msg, "%.1000s: %.1000s", prefix, old[0] ? old : vkd_status_name(code));
    return code;
}

const char *vkd_last_error(void) { return g_msg[0] ? g_msg : "no error message recorded"; }
void vkd_clear_error(void) { g_msg[0] = 0; }

const char *vkd_status_name(vkd_status_t code) {
    switch (code) {
    case VKD_OK: return "ok";
    case VKD_ERR_INVALID: return "invalid argument";
    case VKD_ERR_NOMEM: return "out of memory";
    case VKD_ERR_VULKAN: return "Vulkan error";
    case VKD_ERR_NODEVICE: return "no Vulkan device";
    case VKD_ERR_IO: return "I/O error";
    case VKD_ERR_FORMAT: return "bad file format";
    case VKD_ERR_UNSUPPORTED: return "unsupported";
    case VKD_ERR_NUMERIC: return "numerical error";
    }
    return "unknown error";
}
