// Scaffolding shared by the golden conformance tests (see golden_util.h).
#include "golden_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *golden_dir_checked(tctx_t *T, char *buf, size_t cap) {
    const char *shared = getenv("VKDREAM_SHARED");
    snprintf(buf, cap, "%s/golden", shared ? shared : "");
    struct stat sb;
    if (!shared || stat(buf, &sb) != 0) {
        int err = errno;
        printf("  golden data not available (%s); skipping this case\n",
               shared ? buf : "VKDREAM_SHARED unset");
        CHECK(T, !shared || err == ENOENT || err == ENOTDIR, "cannot stat %s: %s", buf,
              strerror(err));
        return NULL;
    }
    return buf;
}

vkd_status_t golden_tap(void *user, const char *name, vkd_buf_t buf, int ndim,
                        const int64_t *shape) {
    golden_tap_t *c = user;
    char key[96];
    snprintf(key, sizeof key, "dbg.%s", name);
    const vkd_st_tensor_t *t = vkd_st_find(c->io, key);
    CHECK(c->T, t != NULL || !c->require, "the forward emitted %s, which the golden file lacks",
          key);
    if (!t) return VKD_OK;
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    CHECK(c->T, same, "%s: shape differs from the reference's", key);
    if (!same) return VKD_OK;
    size_t n;
    float *ref = test_golden_f32(c->T, c->io, key, &n);
    float *got = malloc(n * sizeof(float) + 1);
    vkd_status_t s = ref && got ? vkd_buf_read(buf, got, n * sizeof(float)) : VKD_ERR_NOMEM;
    if (s == VKD_OK) test_compare(c->T, key, got, ref, n, c->tol);
    free(ref);
    free(got);
    c->seen++;
    return s;
}

void golden_tap_check_all(const golden_tap_t *tap) {
    int n_dbg = 0;
    for (int i = 0; i < vkd_st_count(tap->io); i++)
        n_dbg += strncmp(vkd_st_get(tap->io, i)->name, "dbg.", 4) == 0;
    CHECK(tap->T, tap->seen == n_dbg, "compared %d of the %d dbg.* tensors", tap->seen, n_dbg);
}

void golden_compare_out(tctx_t *T, const vkd_safetensors_t *io, const char *name, vkd_buf_t buf,
                        double tol) {
    size_t n;
    float *ref = test_golden_f32(T, io, name, &n);
    float *got = ref ? test_read(T, buf, n) : NULL;
    if (got) test_compare(T, name, got, ref, n, tol);
    free(ref);
    free(got);
}

// Adds tensor t under its own name (reshaped when the edit says so), then under the name
// of each copy its name starts with.
static vkd_status_t add_edited(vkd_st_writer_t *wr, const vkd_st_tensor_t *t,
                               const golden_edit_t *e) {
    const int re = e->reshape && strcmp(t->name, e->reshape) == 0;
    vkd_status_t s = vkd_st_writer_add(wr, t->name, t->dtype, re ? e->new_ndim : t->ndim,
                                       re ? e->new_shape : t->shape, t->data);
    for (int c = 0; s == VKD_OK && c < e->n_copies; c++) {
        const char *from = e->copies[c][0];
        const size_t nf = strlen(from);
        if (strncmp(t->name, from, nf) != 0) continue;
        char to[256];
        snprintf(to, sizeof to, "%s%s", e->copies[c][1], t->name + nf);
        s = vkd_st_writer_add(wr, to, t->dtype, t->ndim, t->shape, t->data);
    }
    return s;
}

int golden_copy_edited(tctx_t *T, const char *src, const golden_edit_t *e, golden_copy_t *out) {
    const char *tmp = getenv("TMPDIR");
    snprintf(out->dir, sizeof out->dir, "%s/vkd_golden_XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    out->path[0] = 0;
    if (!mkdtemp(out->dir)) {
        test_fail(T, __FILE__, __LINE__, "mkdtemp %s: %s", out->dir, strerror(errno));
        return 0;
    }
    snprintf(out->path, sizeof out->path, "%s/edited.safetensors", out->dir);
    vkd_safetensors_t *st = NULL;
    vkd_st_writer_t *wr = NULL;
    vkd_status_t s = vkd_st_open(src, &st);
    if (s == VKD_OK) s = vkd_st_writer_create(&wr);
    for (int i = 0; s == VKD_OK && i < vkd_st_count(st); i++) {
        const vkd_st_tensor_t *t = vkd_st_get(st, i);
        if (!(e->drop && strcmp(t->name, e->drop) == 0)) s = add_edited(wr, t, e);
    }
    const float extra[3] = {1, 2, 3};
    if (s == VKD_OK && e->extra)
        s = vkd_st_writer_add(wr, e->extra, VKD_DT_F32, 1, (int64_t[]){3}, extra);
    if (s == VKD_OK) s = vkd_st_write(wr, out->path);
    vkd_st_writer_free(wr);
    vkd_st_close(st);
    CHECK(T, s == VKD_OK, "writing an edited copy of %s: %s", src, vkd_last_error());
    if (s != VKD_OK) golden_copy_remove(out);
    return s == VKD_OK;
}

void golden_copy_remove(const golden_copy_t *c) {
    if (c->path[0]) unlink(c->path);
    rmdir(c->dir);
}

void golden_expect_refused(tctx_t *T, vkd_status_t s, const char *tensor, const char *what) {
    printf("  %s -> %s\n", what, vkd_last_error());
    CHECK(T, s == VKD_ERR_FORMAT && strstr(vkd_last_error(), tensor), "%s: %s", what,
          vkd_last_error());
}

cJSON *golden_cfg_edited(const char *text, const char *outer, const char *inner,
                         const golden_cfg_edit_t *e) {
    cJSON *root = cJSON_Parse(text);
    cJSON *obj = outer ? cJSON_GetObjectItemCaseSensitive(root, outer) : root;
    if (!e->outer) obj = cJSON_GetObjectItemCaseSensitive(obj, inner);
    cJSON_DeleteItemFromObjectCaseSensitive(obj, e->key);
    if (e->json) cJSON_AddItemToObject(obj, e->key, cJSON_Parse(e->json));
    return root;
}

void golden_cfg_check(tctx_t *T, const golden_cfg_edit_t *e, const char *what, vkd_status_t s) {
    const char *err = vkd_last_error();
    printf("  %s = %s -> %s\n", e->key, e->json ? e->json : "(deleted)", s ? err : "accepted");
    CHECK(T, s == e->want && strstr(err, e->msg) && strstr(err, what),
          "%s: want status %d mentioning '%s' and %s, got %d (%s)", e->key, (int)e->want, e->msg,
          what, (int)s, err);
}
