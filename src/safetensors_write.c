// Writing safetensors files (see safetensors.h for the layout and the borrowing rule).
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "safetensors.h"

typedef struct {
    char *name;
    vkd_dtype_t dtype;
    int ndim;
    int64_t shape[VKD_ST_MAX_DIMS];
    size_t nbytes;
    const void *data; // borrowed
    int order;        // insertion index: keeps the sort stable
} wtensor_t;

struct vkd_st_writer {
    wtensor_t *t; // (n)
    int n, cap;
    char **meta;  // (n_meta, 2) key, value
    int n_meta, meta_cap;
};

vkd_status_t vkd_st_writer_create(vkd_st_writer_t **out) {
    *out = calloc(1, sizeof **out);
    return *out ? VKD_OK : vkd_fail(VKD_ERR_NOMEM, "safetensors writer: out of memory");
}

void vkd_st_writer_free(vkd_st_writer_t *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->t[i].name);
    for (int i = 0; i < 2 * w->n_meta; i++) free(w->meta[i]);
    free(w->t);
    free(w->meta);
    free(w);
}

vkd_status_t vkd_st_writer_add(vkd_st_writer_t *w, const char *name, vkd_dtype_t dtype,
                               int ndim, const int64_t *shape, const void *data) {
    if (!name || !name[0] || strcmp(name, "__metadata__") == 0)
        return vkd_fail(VKD_ERR_INVALID, "safetensors writer: invalid tensor name '%s'",
                        name ? name : "(null)");
    if ((unsigned)dtype >= VKD_DT_COUNT)
        return vkd_fail(VKD_ERR_INVALID, "safetensors writer: tensor '%s': invalid dtype %d",
                        name, (int)dtype);
    if (ndim < 0 || ndim > VKD_ST_MAX_DIMS || (ndim > 0 && !shape))
        return vkd_fail(VKD_ERR_INVALID, "safetensors writer: tensor '%s': ndim %d (0..%d)",
                        name, ndim, VKD_ST_MAX_DIMS);
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return vkd_fail(VKD_ERR_INVALID, "safetensors writer: tensor '%s' added twice", name);
    wtensor_t t = {.dtype = dtype, .ndim = ndim, .data = data, .order = w->n};
    size_t nbytes = vkd_dtype_size(dtype);
    int overflow = 0, empty = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return vkd_fail(VKD_ERR_INVALID, "safetensors writer: tensor '%s': negative dim "
                            "%lld at index %d", name, (long long)shape[d], d);
        t.shape[d] = shape[d];
        if (shape[d] == 0) empty = 1;
        else if (nbytes > SIZE_MAX / (uint64_t)shape[d]) overflow = 1;
        else nbytes *= (size_t)shape[d];
    }
    if (empty) nbytes = 0;
    else if (overflow)
        return vkd_fail(VKD_ERR_INVALID, "safetensors writer: tensor '%s': shape too large", name);
    if (nbytes && !data)
        return vkd_fail(VKD_ERR_INVALID, "safetensors writer: tensor '%s': NULL data", name);
    t.nbytes = nbytes;
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        wtensor_t *nt = realloc(w->t, (size_t)cap * sizeof *nt);
        if (!nt) return vkd_fail(VKD_ERR_NOMEM, "safetensors writer: out of memory");
        w->t = nt, w->cap = cap;
    }
    if (!(t.name = strdup(name)))
        return vkd_fail(VKD_ERR_NOMEM, "safetensors writer: out of memory");
    w->t[w->n++] = t;
    return VKD_OK;
}

vkd_status_t vkd_st_writer_meta(vkd_st_writer_t *w, const char *key, const char *value) {
    if (!key || !value)
        return vkd_fail(VKD_ERR_INVALID, "safetensors writer: NULL metadata key or value");
    char *v = strdup(value);
    if (!v) return vkd_fail(VKD_ERR_NOMEM, "safetensors writer: out of memory");
    for (int i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[2 * i], key) == 0) {
            free(w->meta[2 * i + 1]);
            w->meta[2 * i + 1] = v;
            return VKD_OK;
        }
    if (w->n_meta == w->meta_cap) {
        int cap = w->meta_cap ? 2 * w->meta_cap : 16;
        char **nm = realloc(w->meta, (size_t)cap * 2 * sizeof *nm);
        if (!nm) return free(v), vkd_fail(VKD_ERR_NOMEM, "safetensors writer: out of memory");
        w->meta = nm, w->meta_cap = cap;
    }
    char *k = strdup(key);
    if (!k) return free(v), vkd_fail(VKD_ERR_NOMEM, "safetensors writer: out of memory");
    w->meta[2 * w->n_meta] = k;
    w->meta[2 * w->n_meta + 1] = v;
    w->n_meta++;
    return VKD_OK;
}

// Largest element first, then insertion order: with an 8-aligned data start every offset
// is then a multiple of its element size (all sizes are powers of two).
static int cmp_layout(const void *a, const void *b) {
    const wtensor_t *x = *(const wtensor_t *const *)a, *y = *(const wtensor_t *const *)b;
    size_t ex = vkd_dtype_size(x->dtype), ey = vkd_dtype_size(y->dtype);
    if (ex != ey) return ex > ey ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

// Integers go in as raw JSON text: cJSON would print numbers past 1e15 in exponent form,
// which strict readers reject for offsets.
static cJSON *json_u64_array(const uint64_t *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        char buf[24];
        snprintf(buf, sizeof buf, "%" PRIu64, v[i]);
        cJSON *x = cJSON_CreateRaw(buf);
        if (!x || !cJSON_AddItemToArray(a, x)) {
            cJSON_Delete(x);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

static int add_item(cJSON *obj, const char *key, cJSON *item) {
    if (item && cJSON_AddItemToObject(obj, key, item)) return 1;
    cJSON_Delete(item);
    return 0;
}

// The header JSON, in data order, with offsets assigned.
static char *build_header(const vkd_st_writer_t *w, const wtensor_t *const *ord) {
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && w->n_meta) {
        cJSON *md = cJSON_CreateObject();
        ok = add_item(root, "__metadata__", md);
        for (int i = 0; ok && i < w->n_meta; i++)
            ok = add_item(md, w->meta[2 * i], cJSON_CreateString(w->meta[2 * i + 1]));
    }
    uint64_t off = 0;
    for (int i = 0; ok && i < w->n; i++) {
        const wtensor_t *t = ord[i];
        uint64_t shape[VKD_ST_MAX_DIMS], offs[2] = {off, off + t->nbytes};
        for (int d = 0; d < t->ndim; d++) shape[d] = (uint64_t)t->shape[d];
        cJSON *e = cJSON_CreateObject();
        ok = add_item(root, t->name, e) &&
             add_item(e, "dtype", cJSON_CreateString(vkd_dtype_name(t->dtype))) &&
             add_item(e, "shape", json_u64_array(shape, t->ndim)) &&
             add_item(e, "data_offsets", json_u64_array(offs, 2));
        off += t->nbytes;
    }
    char *s = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return s;
}

vkd_status_t vkd_st_write(const vkd_st_writer_t *w, const char *path) {
    const wtensor_t **ord = malloc((size_t)(w->n ? w->n : 1) * sizeof *ord);
    if (!ord) return vkd_fail(VKD_ERR_NOMEM, "writing '%s': out of memory", path);
    for (int i = 0; i < w->n; i++) ord[i] = &w->t[i];
    qsort(ord, (size_t)w->n, sizeof *ord, cmp_layout);
    char *json = build_header(w, ord);
    if (!json) {
        free(ord);
        return vkd_fail(VKD_ERR_NOMEM, "writing '%s': out of memory for the header", path);
    }
    size_t len = strlen(json), padded = (len + 7) & ~(size_t)7;
    unsigned char hl[8];
    for (int i = 0; i < 8; i++) hl[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    static const char spaces[] = "        ";
    vkd_afile_t *f;
    vkd_status_t s = vkd_afile_open(path, &f);
    if (s == VKD_OK) {
        s = vkd_afile_write(f, hl, 8);
        if (s == VKD_OK) s = vkd_afile_write(f, json, len);
        if (s == VKD_OK) s = vkd_afile_write(f, spaces, padded - len);
        for (int i = 0; s == VKD_OK && i < w->n; i++)
            s = vkd_afile_write(f, ord[i]->data, ord[i]->nbytes);
        if (s == VKD_OK) s = vkd_afile_commit(f);
        else vkd_afile_abort(f);
    }
    free(json);
    free(ord);
    return s;
}
