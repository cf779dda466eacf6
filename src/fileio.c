#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

// Small writes (text lines) are gathered so each costs a memcpy, not a system call.
#define AFILE_BUF (64 * 1024)
#define READ_ALL_MAX ((size_t)1 << 30)

struct vkd_afile {
    int fd;
    char *path;
    char *tmp;
    vkd_status_t err;  // sticky: first failure
    char errmsg[600];  // its message, repeated by later calls
    size_t used;
    unsigned char buf[AFILE_BUF];
};

// Writes n bytes, retrying partial writes and EINTR. Returns 0 or an errno value.
static int write_full(int fd, const void *data, size_t n) {
    const unsigned char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (w == 0) return EIO;
        p += w, n -= (size_t)w;
    }
    return 0;
}

void vkd_dir_of(const char *path, char *dir, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, cap, ".");
    else if (slash == path) snprintf(dir, cap, "/");
    else snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

// The directory part of path, malloc'd (any length).
static char *dir_of(const char *path) {
    const size_t cap = strlen(path) + 2;
    char *d = malloc(cap);
    if (d) vkd_dir_of(path, d, cap);
    return d;
}

vkd_status_t vkd_path_join(char *out, size_t cap, const char *a, const char *b) {
    int n = snprintf(out, cap, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= cap) return vkd_fail(VKD_ERR_INVALID, "path %s/%s is too long", a, b);
    return VKD_OK;
}

vkd_status_t vkd_mkdir_p(const char *dir) {
    if (!dir || !*dir) return vkd_fail(VKD_ERR_INVALID, "no directory name given");
    char *tmp = strdup(dir);
    if (!tmp) return vkd_fail(VKD_ERR_NOMEM, "out of memory for the path %s", dir);
    vkd_status_t s = VKD_OK;
    for (char *p = tmp + 1;; p++) {
        const int end = !*p;
        if (*p == '/' || end) {
            *p = 0;
            if (mkdir(tmp, 0777) != 0 && errno != EEXIST) {
                s = vkd_fail(VKD_ERR_IO, "cannot create directory '%s': %s", tmp, strerror(errno));
                break;
            }
            if (end) break;
            *p = '/';
        }
    }
    free(tmp);
    struct stat st;
    if (s == VKD_OK && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        s = vkd_fail(VKD_ERR_IO, "'%s' exists and is not a directory", dir);
    return s;
}

// Records the first failure in the handle and returns it.
static vkd_status_t afile_fail(vkd_afile_t *f, const char *what, int err) {
    if (f->err == VKD_OK) {
        f->err = VKD_ERR_IO;
        snprintf(f->errmsg, sizeof f->errmsg,
                 "writing '%.400s': %s: %s (the previous file, if any, is unchanged)", f->path,
                 what, strerror(err));
    }
    return vkd_fail(f->err, "%s", f->errmsg);
}

// A random suffix for the temporary name. getrandom keeps concurrent writers (threads,
// processes) from racing for the same name; O_EXCL below catches the rest.
static void random_suffix(char out[7]) {
    static const char alphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    unsigned char r[6];
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)out;
        for (int i = 0; i < 6; i++) r[i] = (unsigned char)(x >> (8 * i));
    }
    for (int i = 0; i < 6; i++) out[i] = alphabet[r[i] % (sizeof alphabet - 1)];
    out[6] = 0;
}

static void afile_free(vkd_afile_t *f) {
    free(f->path);
    free(f->tmp);
    free(f);
}

vkd_status_t vkd_afile_open(const char *path, vkd_afile_t **out) {
    *out = NULL;
    if (!path || !path[0]) return vkd_fail(VKD_ERR_INVALID, "atomic write: empty output path");
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return vkd_fail(VKD_ERR_IO, "cannot write '%s': it is a directory", path);
    vkd_afile_t *f = calloc(1, sizeof *f);
    size_t len = strlen(path);
    if (f) f->path = strdup(path), f->tmp = malloc(len + 12);
    if (!f || !f->path || !f->tmp) {
        if (f) afile_free(f);
        return vkd_fail(VKD_ERR_NOMEM, "cannot write '%s': out of memory", path);
    }
    f->fd = -1;
    int err = 0;
    for (int attempt = 0; attempt < 100 && f->fd < 0; attempt++) {
        char sfx[7];
        random_suffix(sfx);
        snprintf(f->tmp, len + 12, "%s.tmp.%s", path, sfx);
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        err = errno;
        if (f->fd < 0 && err != EEXIST) break;
    }
    if (f->fd < 0) {
        char *dir = dir_of(path);
        vkd_fail(VKD_ERR_IO,
                 "cannot write '%s': cannot create a temporary file in directory '%s': %s%s", path,
                 dir ? dir : "?", strerror(err),
                 err == ENOENT ? " (create the directory first)" : "");
        free(dir);
        afile_free(f);
        return VKD_ERR_IO;
    }
    *out = f;
    return VKD_OK;
}

static vkd_status_t afile_flush(vkd_afile_t *f) {
    if (f->used == 0) return VKD_OK;
    int err = write_full(f->fd, f->buf, f->used);
    f->used = 0;
    return err ? afile_fail(f, "write failed", err) : VKD_OK;
}

vkd_status_t vkd_afile_write(vkd_afile_t *f, const void *data, size_t n) {
    if (f->err != VKD_OK) return vkd_fail(f->err, "%s", f->errmsg);
    if (n == 0) return VKD_OK;
    if (f->used + n <= AFILE_BUF) {
        memcpy(f->buf + f->used, data, n);
        f->used += n;
        return VKD_OK;
    }
    VKD_TRY(afile_flush(f));
    if (n < AFILE_BUF) {
        memcpy(f->buf, data, n);
        f->used = n;
        return VKD_OK;
    }
    int err = write_full(f->fd, data, n);
    return err ? afile_fail(f, "write failed", err) : VKD_OK;
}

vkd_status_t vkd_afile_printf(vkd_afile_t *f, const char *fmt, ...) {
    char small[1024];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (len < 0) return afile_fail(f, "formatting failed", EINVAL);
    if ((size_t)len < sizeof small) return vkd_afile_write(f, small, (size_t)len);
    char *big = malloc((size_t)len + 1);
    if (!big) return afile_fail(f, "out of memory", ENOMEM);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)len + 1, fmt, ap);
    va_end(ap);
    vkd_status_t s = vkd_afile_write(f, big, (size_t)len);
    free(big);
    return s;
}

const char *vkd_afile_path(const vkd_afile_t *f) { return f->path; }

void vkd_afile_abort(vkd_afile_t *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    unlink(f->tmp);
    afile_free(f);
}

// Makes the rename itself durable. Some file systems cannot fsync a directory (EINVAL);
// there is nothing more to do on those.
static int fsync_dir(const char *path) {
    char *dir = dir_of(path);
    if (!dir) return ENOMEM;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0) return errno;
    int err = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    return err == EINVAL || err == ENOTSUP ? 0 : err;
}

vkd_status_t vkd_afile_commit(vkd_afile_t *f) {
    vkd_status_t s = f->err != VKD_OK ? vkd_fail(f->err, "%s", f->errmsg) : afile_flush(f);
    if (s == VKD_OK && fsync(f->fd) != 0) s = afile_fail(f, "fsync failed", errno);
    if (s == VKD_OK) {
        // close() can report a deferred write error (NFS, quota), so it is checked too.
        int rc = close(f->fd);
        f->fd = -1;
        if (rc != 0) s = afile_fail(f, "close failed", errno);
    }
    if (s == VKD_OK && rename(f->tmp, f->path) != 0) s = afile_fail(f, "rename failed", errno);
    if (s != VKD_OK) {
        vkd_afile_abort(f);
        return s;
    }
    int err = fsync_dir(f->path);
    if (err)
        s = vkd_fail(VKD_ERR_IO,
                     "wrote '%s', but syncing its directory failed: %s (the new file may not "
                     "survive a crash)",
                     f->path, strerror(err));
    afile_free(f);
    return s;
}

vkd_status_t vkd_file_write_atomic(const char *path, const void *data, size_t n) {
    vkd_afile_t *f;
    VKD_TRY(vkd_afile_open(path, &f));
    vkd_status_t s = vkd_afile_write(f, data, n);
    if (s != VKD_OK) {
        vkd_afile_abort(f);
        return s;
    }
    return vkd_afile_commit(f);
}

vkd_status_t vkd_file_read_all(const char *path, char **buf, size_t *n) {
    *buf = NULL;
    *n = 0;
    if (!path || !path[0]) return vkd_fail(VKD_ERR_INVALID, "read: empty file path");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return vkd_fail(VKD_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return vkd_fail(VKD_ERR_IO, "cannot stat '%s': %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return vkd_fail(VKD_ERR_IO, "cannot read '%s': not a regular file%s", path,
                        S_ISDIR(st.st_mode) ? " (it is a directory)" : "");
    }
    if ((uint64_t)st.st_size > READ_ALL_MAX) {
        close(fd);
        return vkd_fail(VKD_ERR_IO, "cannot read '%s': %lld bytes is more than the %zu-byte limit "
                        "for whole-file reads", path, (long long)st.st_size, READ_ALL_MAX);
    }
    size_t size = (size_t)st.st_size;
    char *b = malloc(size + 1);
    if (!b) {
        close(fd);
        return vkd_fail(VKD_ERR_NOMEM, "cannot read '%s': out of memory for %zu bytes", path, size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, b + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int err = errno;
            free(b);
            close(fd);
            return vkd_fail(VKD_ERR_IO, "reading '%s' failed: %s", path, strerror(err));
        }
        if (r == 0) break; // shrank while we read: take what is there
        got += (size_t)r;
    }
    close(fd);
    b[got] = 0;
    *buf = b;
    *n = got;
    return VKD_OK;
}
