// Reading safetensors files (see safetensors.h); the writer is in safetensors_write.c.
//
// The file is mapped read-only and tensors point into the mapping, so opening a large
// checkpoint costs only the header parse. Everything the header claims is checked against
// the file before any pointer is handed out: a corrupt or hostile file must produce an
// error message, never an out-of-bounds read.
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader assumes a little-endian host"
#endif

// JSON numbers are doubles in cJSON; above 2^53 they are no longer exact integers.
#define MAX_JSON_INT 9007199254740992.0

struct vkd_safetensors {
    char *path;
    void *map;
    size_t map_size;
    const unsigned char *data; // start of the data section
    size_t data_size;
    cJSON *root;               // tensor names and metadata strings point into it
    int n;
    vkd_st_tensor_t *t;        // (n) in header order
    const vkd_st_tensor_t **by_name; // (n) sorted by name
    int n_meta;
    const char **meta;         // (n_meta, 2) key, value
};

static const char *const dtype_names[VKD_DT_COUNT] = {"F32", "F16", "BF16", "F64", "I64",
                                                      "I32", "I16", "I8",   "U8",  "BOOL"};
static const size_t dtype_sizes[VKD_DT_COUNT] = {4, 2, 2, 8, 8, 4, 2, 1, 1, 1};

const char *vkd_dtype_name(vkd_dtype_t dt) {
    return (unsigned)dt < VKD_DT_COUNT ? dtype_names[dt] : "?";
}

size_t vkd_dtype_size(vkd_dtype_t dt) { return (unsigned)dt < VKD_DT_COUNT ? dtype_sizes[dt] : 0; }

// ---- errors -----------------------------------------------------------------------------

// "PATH: tensor 'NAME': <what>" (or "PATH: <what>" when tensor is NULL).
static vkd_status_t st_fail(vkd_status_t code, const char *path, const char *tensor,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static vkd_status_t st_fail(vkd_status_t code, const char *path, const char *tensor,
                            const char *fmt, ...) {
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (tensor) return vkd_fail(code, "%s: tensor '%.300s': %s", path, tensor, what);
    return vkd_fail(code, "%s: %s", path, what);
}

static void fmt_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

// ---- header parsing ---------------------------------------------------------------------

// A JSON number that is a non-negative integer below 2^53 (exactly representable).
static int json_uint(const cJSON *x, uint64_t *out) {
    if (!cJSON_IsNumber(x)) return 0;
    double v = x->valuedouble;
    if (!(v >= 0 && v <= MAX_JSON_INT) || v != (double)(uint64_t)v) return 0;
    *out = (uint64_t)v;
    return 1;
}

static int parse_dtype(const char *s, vkd_dtype_t *out) {
    for (int i = 0; i < VKD_DT_COUNT; i++)
        if (strcmp(s, dtype_names[i]) == 0) return *out = (vkd_dtype_t)i, 1;
    return 0;
}

static vkd_status_t parse_tensor(vkd_safetensors_t *st, const cJSON *item, vkd_st_tensor_t *t) {
    const char *path = st->path, *name = item->string;
    t->name = name;
    if (!cJSON_IsObject(item))
        return st_fail(VKD_ERR_FORMAT, path, name, "header entry is not an object");
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!dt || !shape || !offs)
        return st_fail(VKD_ERR_FORMAT, path, name, "header entry lacks \"%s\"",
                       !dt ? "dtype" : !shape ? "shape" : "data_offsets");
    if (!cJSON_IsString(dt))
        return st_fail(VKD_ERR_FORMAT, path, name, "\"dtype\" is not a string");
    if (!parse_dtype(dt->valuestring, &t->dtype))
        return st_fail(VKD_ERR_FORMAT, path, name,
                       "unsupported dtype \"%.40s\" (supported: F32, F16, BF16, F64, I64, I32, "
                       "I16, I8, U8, BOOL)", dt->valuestring);
    if (!cJSON_IsArray(shape))
        return st_fail(VKD_ERR_FORMAT, path, name, "\"shape\" is not an array");
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > VKD_ST_MAX_DIMS)
        return st_fail(VKD_ERR_FORMAT, path, name, "%d dimensions (at most %d are supported)",
                       ndim, VKD_ST_MAX_DIMS);
    t->ndim = ndim;
    // The element count is kept in bytes from the start so one overflow check covers all.
    size_t nbytes = vkd_dtype_size(t->dtype);
    int d = 0, overflow = 0;
    for (const cJSON *e = shape->child; e; e = e->next, d++) {
        uint64_t v;
        if (!json_uint(e, &v)) {
            if (cJSON_IsNumber(e) && e->valuedouble < 0)
                return st_fail(VKD_ERR_FORMAT, path, name, "negative dimension %g at index %d",
                               e->valuedouble, d);
            return st_fail(VKD_ERR_FORMAT, path, name,
                           "shape[%d] is not a non-negative integer below 2^53", d);
        }
        t->shape[d] = (int64_t)v;
        if (v != 0 && nbytes > SIZE_MAX / v) overflow = 1;
        else nbytes *= (size_t)v;
    }
    char sh[256];
    fmt_shape(sh, sizeof sh, ndim, t->shape);
    // A zero dimension makes the tensor empty whatever the others are.
    for (int k = 0; k < ndim; k++)
        if (t->shape[k] == 0) overflow = 0, nbytes = 0;
    if (overflow)
        return st_fail(VKD_ERR_FORMAT, path, name, "shape %s is too large (byte size overflows)",
                       sh);
    uint64_t b, e;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || !json_uint(offs->child, &b) ||
        !json_uint(offs->child->next, &e))
        return st_fail(VKD_ERR_FORMAT, path, name,
                       "\"data_offsets\" is not a pair [begin, end] of non-negative integers");
    if (e < b)
        return st_fail(VKD_ERR_FORMAT, path, name,
                       "data_offsets [%llu, %llu) end before they begin",
                       (unsigned long long)b, (unsigned long long)e);
    if (e > st->data_size)
        return st_fail(VKD_ERR_FORMAT, path, name,
                       "data_offsets [%llu, %llu) run past the end of the data section (%zu "
                       "bytes; truncated file?)",
                       (unsigned long long)b, (unsigned long long)e, st->data_size);
    if (e - b != nbytes)
        return st_fail(VKD_ERR_FORMAT, path, name,
                       "shape %s with dtype %s needs %zu bytes but data_offsets [%llu, %llu) "
                       "hold %llu",
                       sh, dtype_names[t->dtype], nbytes, (unsigned long long)b,
                       (unsigned long long)e, (unsigned long long)(e - b));
    t->nbytes = nbytes;
    t->data = st->data + b;
    return VKD_OK;
}

static vkd_status_t parse_metadata(vkd_safetensors_t *st, const cJSON *md) {
    if (!cJSON_IsObject(md))
        return st_fail(VKD_ERR_FORMAT, st->path, NULL, "\"__metadata__\" is not an object");
    int n = cJSON_GetArraySize(md);
    st->meta = calloc((size_t)(n ? n : 1) * 2, sizeof *st->meta);
    if (!st->meta) return vkd_fail(VKD_ERR_NOMEM, "%s: out of memory for metadata", st->path);
    for (const cJSON *e = md->child; e; e = e->next) {
        if (!cJSON_IsString(e))
            return st_fail(VKD_ERR_FORMAT, st->path, NULL,
                           "metadata value for key '%.200s' is not a string", e->string);
        for (int i = 0; i < st->n_meta; i++)
            if (strcmp(st->meta[2 * i], e->string) == 0)
                return st_fail(VKD_ERR_FORMAT, st->path, NULL, "duplicate metadata key '%.200s'",
                               e->string);
        st->meta[2 * st->n_meta] = e->string;
        st->meta[2 * st->n_meta + 1] = e->valuestring;
        st->n_meta++;
    }
    return VKD_OK;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const vkd_st_tensor_t *const *)a)->name,
                  (*(const vkd_st_tensor_t *const *)b)->name);
}

static int cmp_data(const void *a, const void *b) {
    const vkd_st_tensor_t *x = *(const vkd_st_tensor_t *const *)a;
    const vkd_st_tensor_t *y = *(const vkd_st_tensor_t *const *)b;
    uintptr_t px = (uintptr_t)x->data, py = (uintptr_t)y->data;
    return px < py ? -1 : px > py;
}

// Duplicate names (cJSON keeps both) and overlapping data ranges.
static vkd_status_t check_layout(vkd_safetensors_t *st) {
    if (st->n == 0) return VKD_OK;
    for (int i = 0; i < st->n; i++) st->by_name[i] = &st->t[i];
    qsort(st->by_name, (size_t)st->n, sizeof *st->by_name, cmp_name);
    for (int i = 1; i < st->n; i++)
        if (strcmp(st->by_name[i - 1]->name, st->by_name[i]->name) == 0)
            return st_fail(VKD_ERR_FORMAT, st->path, st->by_name[i]->name,
                           "name appears twice in the header");
    const vkd_st_tensor_t **ord = malloc((size_t)st->n * sizeof *ord);
    if (!ord) return vkd_fail(VKD_ERR_NOMEM, "%s: out of memory", st->path);
    memcpy(ord, st->by_name, (size_t)st->n * sizeof *ord);
    qsort(ord, (size_t)st->n, sizeof *ord, cmp_data);
    const vkd_st_tensor_t *prev = NULL; // the non-empty tensor reaching furthest so far
    vkd_status_t s = VKD_OK;
    for (int i = 0; i < st->n && s == VKD_OK; i++) {
        const vkd_st_tensor_t *t = ord[i];
        if (t->nbytes == 0) continue;
        const unsigned char *b = t->data;
        if (prev && b < (const unsigned char *)prev->data + prev->nbytes)
            s = st_fail(VKD_ERR_FORMAT, st->path, t->name,
                        "data [%zu, %zu) overlaps tensor '%.300s' [%zu, %zu)",
                        (size_t)(b - st->data), (size_t)(b - st->data) + t->nbytes, prev->name,
                        (size_t)((const unsigned char *)prev->data - st->data),
                        (size_t)((const unsigned char *)prev->data - st->data) + prev->nbytes);
        if (!prev || b + t->nbytes > (const unsigned char *)prev->data + prev->nbytes) prev = t;
    }
    free(ord);
    return s;
}

// Shows where a JSON syntax error is, with non-printable bytes masked.
static void json_context(const char *hdr, size_t len, size_t pos, char out[48]) {
    size_t from = pos > 20 ? pos - 20 : 0, k = 0;
    for (size_t i = from; i < len && k < 40; i++, k++)
        out[k] = hdr[i] >= 0x20 && hdr[i] < 0x7f ? hdr[i] : '?';
    out[k] = 0;
}

static vkd_status_t parse_header(vkd_safetensors_t *st, const char *hdr, size_t len) {
    if (memchr(hdr, 0, len))
        return st_fail(VKD_ERR_FORMAT, st->path, NULL, "the JSON header contains a NUL byte");
    const char *end = NULL;
    st->root = cJSON_ParseWithLengthOpts(hdr, len, &end, 0);
    if (!st->root) {
        size_t pos = end && end >= hdr && end <= hdr + len ? (size_t)(end - hdr) : 0;
        char ctx[48];
        json_context(hdr, len, pos, ctx);
        return st_fail(VKD_ERR_FORMAT, st->path, NULL,
                       "the header is not valid JSON (error near byte %zu: \"%s\")", pos, ctx);
    }
    for (const char *p = end; p < hdr + len; p++)
        if (!strchr(" \t\r\n", *p))
            return st_fail(VKD_ERR_FORMAT, st->path, NULL,
                           "unexpected data after the JSON header at byte %zu",
                           (size_t)(p - hdr));
    if (!cJSON_IsObject(st->root))
        return st_fail(VKD_ERR_FORMAT, st->path, NULL, "the header is JSON but not an object");
    int n = 0, n_md = 0;
    for (const cJSON *e = st->root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) n_md++;
        else n++;
    }
    if (n_md > 1)
        return st_fail(VKD_ERR_FORMAT, st->path, NULL, "\"__metadata__\" appears %d times", n_md);
    st->t = calloc((size_t)(n ? n : 1), sizeof *st->t);
    st->by_name = calloc((size_t)(n ? n : 1), sizeof *st->by_name);
    if (!st->t || !st->by_name)
        return vkd_fail(VKD_ERR_NOMEM, "%s: out of memory for %d tensors", st->path, n);
    for (const cJSON *e = st->root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            VKD_TRY(parse_metadata(st, e));
            continue;
        }
        VKD_TRY(parse_tensor(st, e, &st->t[st->n]));
        st->n++;
    }
    return check_layout(st);
}

static uint64_t load_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static vkd_status_t st_open_mapped(vkd_safetensors_t *st) {
    int fd = open(st->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return st_fail(VKD_ERR_IO, st->path, NULL, "cannot open: %s", strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int err = errno;
        close(fd);
        return st_fail(VKD_ERR_IO, st->path, NULL, "cannot stat: %s", strerror(err));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return st_fail(VKD_ERR_IO, st->path, NULL, "%s",
                       S_ISDIR(sb.st_mode) ? "is a directory, not a file"
                                           : "is not a regular file");
    }
    size_t size = (size_t)sb.st_size;
    if (size < 8) {
        close(fd);
        return st_fail(VKD_ERR_FORMAT, st->path, NULL,
                       "file is %zu bytes, too short for a safetensors file (it starts with an "
                       "8-byte header length)", size);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd); // the mapping keeps the file alive
    if (map == MAP_FAILED)
        return st_fail(VKD_ERR_IO, st->path, NULL, "cannot map %zu bytes: %s", size,
                       strerror(err));
    st->map = map;
    st->map_size = size;
    const unsigned char *bytes = map;
    uint64_t hl = load_le64(bytes);
    if (hl > size - 8) {
        if (hl > VKD_ST_MAX_HEADER)
            return st_fail(VKD_ERR_FORMAT, st->path, NULL,
                           "header length %llu is implausible (file is %zu bytes): not a "
                           "safetensors file, or corrupt", (unsigned long long)hl, size);
        return st_fail(VKD_ERR_FORMAT, st->path, NULL,
                       "header length %llu exceeds the %zu bytes after it (truncated file?)",
                       (unsigned long long)hl, size - 8);
    }
    if (hl > VKD_ST_MAX_HEADER)
        return st_fail(VKD_ERR_FORMAT, st->path, NULL,
                       "header length %llu is over the %llu-byte limit (corrupt file?)",
                       (unsigned long long)hl, (unsigned long long)VKD_ST_MAX_HEADER);
    if (hl < 2)
        return st_fail(VKD_ERR_FORMAT, st->path, NULL,
                       "header length %llu is too short for a JSON object", (unsigned long long)hl);
    st->data = bytes + 8 + hl;
    st->data_size = size - 8 - (size_t)hl;
    // cJSON gets a private NUL-terminated copy: it never reads past the mapping, and the
    // header is small next to the data.
    char *hdr = malloc((size_t)hl + 1);
    if (!hdr) return vkd_fail(VKD_ERR_NOMEM, "%s: out of memory for the header", st->path);
    memcpy(hdr, bytes + 8, (size_t)hl);
    hdr[hl] = 0;
    vkd_status_t s = parse_header(st, hdr, (size_t)hl);
    free(hdr);
    return s;
}

vkd_status_t vkd_st_open(const char *path, vkd_safetensors_t **out) {
    *out = NULL;
    if (!path || !path[0]) return vkd_fail(VKD_ERR_INVALID, "safetensors: empty file path");
    vkd_safetensors_t *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        free(st);
        return vkd_fail(VKD_ERR_NOMEM, "%s: out of memory", path);
    }
    vkd_status_t s = st_open_mapped(st);
    if (s != VKD_OK) {
        vkd_st_close(st);
        return s;
    }
    *out = st;
    return VKD_OK;
}

void vkd_st_close(vkd_safetensors_t *st) {
    if (!st) return;
    if (st->map) munmap(st->map, st->map_size);
    cJSON_Delete(st->root);
    free(st->t);
    free(st->by_name);
    free(st->meta);
    free(st->path);
    free(st);
}

const char *vkd_st_path(const vkd_safetensors_t *st) { return st->path; }
int vkd_st_count(const vkd_safetensors_t *st) { return st->n; }

const vkd_st_tensor_t *vkd_st_get(const vkd_safetensors_t *st, int i) {
    return i >= 0 && i < st->n ? &st->t[i] : NULL;
}

static int cmp_key_name(const void *key, const void *elem) {
    return strcmp((const char *)key, (*(const vkd_st_tensor_t *const *)elem)->name);
}

const vkd_st_tensor_t *vkd_st_find(const vkd_safetensors_t *st, const char *name) {
    if (st->n == 0 || !name) return NULL;
    const vkd_st_tensor_t *const *hit =
        bsearch(name, st->by_name, (size_t)st->n, sizeof *st->by_name, cmp_key_name);
    return hit ? *hit : NULL;
}

int vkd_st_metadata_count(const vkd_safetensors_t *st) { return st->n_meta; }

const char *vkd_st_metadata_at(const vkd_safetensors_t *st, int i, const char **value) {
    if (i < 0 || i >= st->n_meta) return *value = NULL, NULL;
    *value = st->meta[2 * i + 1];
    return st->meta[2 * i];
}

const char *vkd_st_metadata(const vkd_safetensors_t *st, const char *key) {
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta[2 * i], key) == 0) return st->meta[2 * i + 1];
    return NULL;
}

// The existing name sharing the longest prefix with `name` (a typo or wrong prefix is the
// usual reason for a missing tensor). In sorted order it is a neighbour of the insertion
// point.
static const char *nearest_name(const vkd_safetensors_t *st, const char *name) {
    int lo = 0, hi = st->n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (strcmp(st->by_name[mid]->name, name) < 0) lo = mid + 1;
        else hi = mid;
    }
    const char *best = NULL;
    size_t best_len = 0;
    for (int i = lo - 1; i <= lo; i++) {
        if (i < 0 || i >= st->n) continue;
        const char *c = st->by_name[i]->name;
        size_t k = 0;
        while (c[k] && c[k] == name[k]) k++;
        if (!best || k > best_len) best = c, best_len = k;
    }
    return best;
}

vkd_status_t vkd_st_expect(const vkd_safetensors_t *st, const char *name, int ndim,
                           const int64_t *shape, const vkd_st_tensor_t **out) {
    if (out) *out = NULL;
    char want[256], got[256];
    fmt_shape(want, sizeof want, ndim, shape);
    const vkd_st_tensor_t *t = vkd_st_find(st, name);
    if (!t) {
        const char *near = st->n ? nearest_name(st, name) : NULL;
        if (!near)
            return st_fail(VKD_ERR_FORMAT, st->path, name, "missing (expected shape %s); the file "
                           "has no tensors", want);
        return st_fail(VKD_ERR_FORMAT, st->path, name,
                       "missing (expected shape %s); the nearest name in the file (%d tensors) is "
                       "'%.300s'", want, st->n, near);
    }
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    fmt_shape(got, sizeof got, t->ndim, t->shape);
    if (!same)
        return st_fail(VKD_ERR_FORMAT, st->path, name, "has shape %s (%s), expected %s", got,
                       dtype_names[t->dtype], want);
    if (t->dtype == VKD_DT_BOOL)
        return st_fail(VKD_ERR_FORMAT, st->path, name,
                       "has dtype BOOL, expected a numeric dtype convertible to float32");
    if (out) *out = t;
    return VKD_OK;
}

// ---- conversions ------------------------------------------------------------------------

size_t vkd_st_numel(const vkd_st_tensor_t *t) {
    size_t es = vkd_dtype_size(t->dtype);
    return es ? t->nbytes / es : 0;
}

float vkd_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
    if (e == 0x1f) bits = sign | 0x7f800000u | m << 13; // inf, NaN (payload kept)
    else if (e) bits = sign | (e + 112) << 23 | m << 13;
    else if (!m) bits = sign;
    else { // subnormal m * 2^-24: shift the leading 1 into the implicit-bit position
        uint32_t shift = 0;
        while (!(m & 0x400)) m <<= 1, shift++;
        bits = sign | (113 - shift) << 23 | (m & 0x3ff) << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float vkd_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t vkd_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return sign | 0x7e00 | ((ax >> 13) & 0x3ff); // NaN, made quiet
    if (ax >= 0x477ff000u) return sign | 0x7c00; // rounds past 65504: infinity
    if (ax >= 0x38800000u) {                     // normal half
        uint32_t h = ((ax >> 23) - 112) << 10 | (ax & 0x7fffff) >> 13, rem = ax & 0x1fff;
        if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; // a carry may bump the exponent
        return sign | (uint16_t)h;
    }
    if (ax <= 0x33000000u) return sign; // at most half the smallest subnormal: ties to 0
    uint32_t m = (ax & 0x7fffff) | 0x800000, shift = 126 - (ax >> 23);
    uint32_t h = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) h++;
    return sign | (uint16_t)h;
}

uint16_t vkd_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(x >> 16 | 0x40);
    return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

static vkd_status_t check_count(const vkd_st_tensor_t *t, size_t n, const char *fn) {
    if (n != vkd_st_numel(t))
        return vkd_fail(VKD_ERR_INVALID, "%s: tensor '%s' has %zu elements, destination has %zu",
                        fn, t->name ? t->name : "?", vkd_st_numel(t), n);
    return VKD_OK;
}

// Unaligned little-endian loads: the data may be misaligned (see safetensors.h).
static inline uint16_t ld_u16(const unsigned char *p, size_t i) {
    uint16_t v;
    memcpy(&v, p + 2 * i, 2);
    return v;
}
static inline int16_t ld_i16(const unsigned char *p, size_t i) { return (int16_t)ld_u16(p, i); }
static inline int32_t ld_i32(const unsigned char *p, size_t i) {
    int32_t v;
    memcpy(&v, p + 4 * i, 4);
    return v;
}
static inline float ld_f32(const unsigned char *p, size_t i) {
    float v;
    memcpy(&v, p + 4 * i, 4);
    return v;
}
static inline int64_t ld_i64(const unsigned char *p, size_t i) {
    int64_t v;
    memcpy(&v, p + 8 * i, 8);
    return v;
}
static inline double ld_f64(const unsigned char *p, size_t i) {
    double v;
    memcpy(&v, p + 8 * i, 8);
    return v;
}

// One element of any numeric dtype as a double (exact for every dtype but I64 > 2^53).
static double elem_f64(vkd_dtype_t dt, const unsigned char *p, size_t i) {
    switch (dt) {
    case VKD_DT_F32: return ld_f32(p, i);
    case VKD_DT_F16: return vkd_f16_to_f32(ld_u16(p, i));
    case VKD_DT_BF16: return vkd_bf16_to_f32(ld_u16(p, i));
    case VKD_DT_F64: return ld_f64(p, i);
    case VKD_DT_I64: return (double)ld_i64(p, i);
    case VKD_DT_I32: return ld_i32(p, i);
    case VKD_DT_I16: return ld_i16(p, i);
    case VKD_DT_I8: return (int8_t)p[i];
    default: return p[i];
    }
}

vkd_status_t vkd_st_to_f32(const vkd_st_tensor_t *t, float *dst, size_t n) {
    VKD_TRY(check_count(t, n, "vkd_st_to_f32"));
    const unsigned char *p = t->data;
    // The common dtypes get their own loops (weights are millions of elements); a double
    // holds every other value exactly, so rounding it once to float is correct rounding.
    if (t->dtype == VKD_DT_F32) {
        if (n) memcpy(dst, p, n * 4);
    } else if (t->dtype == VKD_DT_F16) {
        for (size_t i = 0; i < n; i++) dst[i] = vkd_f16_to_f32(ld_u16(p, i));
    } else if (t->dtype == VKD_DT_BF16) {
        for (size_t i = 0; i < n; i++) dst[i] = vkd_bf16_to_f32(ld_u16(p, i));
    } else if (t->dtype == VKD_DT_I64) {
        for (size_t i = 0; i < n; i++) dst[i] = (float)ld_i64(p, i); // I64 rounds once too
    } else if (t->dtype == VKD_DT_BOOL || (unsigned)t->dtype >= VKD_DT_COUNT) {
        return vkd_fail(VKD_ERR_INVALID,
                        "vkd_st_to_f32: tensor '%s' has dtype %s, which has no float meaning",
                        t->name ? t->name : "?", vkd_dtype_name(t->dtype));
    } else {
        for (size_t i = 0; i < n; i++) dst[i] = (float)elem_f64(t->dtype, p, i);
    }
    return VKD_OK;
}

vkd_status_t vkd_st_to_f64(const vkd_st_tensor_t *t, double *dst, size_t n) {
    VKD_TRY(check_count(t, n, "vkd_st_to_f64"));
    const unsigned char *p = t->data;
    if (t->dtype == VKD_DT_BOOL || (unsigned)t->dtype >= VKD_DT_COUNT)
        return vkd_fail(VKD_ERR_INVALID,
                        "vkd_st_to_f64: tensor '%s' has dtype %s, which has no float meaning",
                        t->name ? t->name : "?", vkd_dtype_name(t->dtype));
    if (t->dtype == VKD_DT_F64) {
        if (n) memcpy(dst, p, n * 8);
    } else {
        for (size_t i = 0; i < n; i++) dst[i] = elem_f64(t->dtype, p, i);
    }
    return VKD_OK;
}

vkd_status_t vkd_st_to_i64(const vkd_st_tensor_t *t, int64_t *dst, size_t n) {
    VKD_TRY(check_count(t, n, "vkd_st_to_i64"));
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case VKD_DT_I64:
        if (n) memcpy(dst, p, n * 8);
        break;
    case VKD_DT_I32: for (size_t i = 0; i < n; i++) dst[i] = ld_i32(p, i); break;
    case VKD_DT_I16: for (size_t i = 0; i < n; i++) dst[i] = ld_i16(p, i); break;
    case VKD_DT_I8: for (size_t i = 0; i < n; i++) dst[i] = (int8_t)p[i]; break;
    case VKD_DT_U8: for (size_t i = 0; i < n; i++) dst[i] = p[i]; break;
    case VKD_DT_BOOL: for (size_t i = 0; i < n; i++) dst[i] = p[i] != 0; break;
    default:
        return vkd_fail(VKD_ERR_INVALID,
                        "vkd_st_to_i64: tensor '%s' has dtype %s, not an integer dtype (use "
                        "vkd_st_to_f32)", t->name ? t->name : "?", vkd_dtype_name(t->dtype));
    }
    return VKD_OK;
}
