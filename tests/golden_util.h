// Scaffolding shared by the golden conformance tests (tests/golden_*.c): finding the
// golden data, comparing a forward's tapped module outputs and results with the
// reference's dbg.* and out.* tensors, and edited copies of golden weights and configs for
// the cases that check how a bad file is refused. test_util.h has the general harness.
#ifndef VKD_TEST_GOLDEN_UTIL_H
#define VKD_TEST_GOLDEN_UTIL_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "safetensors.h"
#include "test_util.h"

// $VKDREAM_SHARED/golden in buf, or NULL after saying why the case is skipped (no shared
// data). Unlike test_golden_dir it also fails the case when the directory is there but
// cannot be read: data that exists must not be skipped silently.
const char *golden_dir_checked(tctx_t *T, char *buf, size_t cap);

// A forward's tap (vkd_unet_tap_fn, vkd_vae_tap_fn) that compares each module output with
// the golden io file's dbg.<name> as soon as the forward produces it.
typedef struct {
    tctx_t *T;
    const vkd_safetensors_t *io;
    double tol;
    int require; // 1: a module output without a dbg.<name> fails (the file holds them all)
    int seen;    // the dbg.* tensors compared so far
} golden_tap_t;
vkd_status_t golden_tap(void *user, const char *name, vkd_buf_t buf, int ndim,
                        const int64_t *shape);
// Fails the case unless the tap compared every dbg.* tensor of its io file.
void golden_tap_check_all(const golden_tap_t *tap);

// Compares the n floats of buf with io's tensor `name` (its size gives n).
void golden_compare_out(tctx_t *T, const vkd_safetensors_t *io, const char *name, vkd_buf_t buf,
                        double tol);

// An edit of a weights file: what golden_copy_edited changes on the way.
typedef struct {
    const char *drop;    // a tensor left out (NULL: none)
    const char *reshape; // a tensor stored with new_ndim, new_shape (same data; NULL: none)
    int new_ndim;
    int64_t new_shape[4];
    const char *extra;   // a tensor of 3 floats added (NULL: none)
    // n_copies {from, to} name prefixes: a tensor named from... is also stored as to...
    const char *const (*copies)[2];
    int n_copies;
} golden_edit_t;

// An edited copy of a weights file, in a temporary directory of its own.
typedef struct {
    char dir[1100];
    char path[1200];
} golden_copy_t;
// Writes src with the edit e applied into a new temporary directory ($TMPDIR or /tmp).
// Returns 0, the case failed, when that does not work.
int golden_copy_edited(tctx_t *T, const char *src, const golden_edit_t *e, golden_copy_t *out);
// Deletes the copy and its directory.
void golden_copy_remove(const golden_copy_t *c);
// A load of a bad weights file must have been refused as VKD_ERR_FORMAT with an error
// that names `tensor`; prints the error, labelled `what`.
void golden_expect_refused(tctx_t *T, vkd_status_t s, const char *tensor, const char *what);

// One edit of a bad-config case. A golden config keeps the model's settings in an inner
// object within an outer one (UNet: constructor_args within the top level; VAE:
// ddconfig within constructor_args): in the inner object (or the outer one when `outer`
// is 1), `key` is set to the JSON `json`, or deleted when json is NULL. The config parser
// must then refuse it with `want` and `msg` in its error.
typedef struct {
    const char *key, *json;
    int outer;
    vkd_status_t want;
    const char *msg;
} golden_cfg_edit_t;
// The JSON text with edit e applied, as a tree for the caller to cJSON_Delete. The paths of
// the objects, from the top level: outer (NULL: the top level itself) and inner, its key
// there.
cJSON *golden_cfg_edited(const char *text, const char *outer, const char *inner,
                         const golden_cfg_edit_t *e);
// Prints what parsing edit e gave (status s; the parser was told the text is `what`) and
// fails the case unless it is e->want with an error that names e->msg and `what`.
void golden_cfg_check(tctx_t *T, const golden_cfg_edit_t *e, const char *what, vkd_status_t s);

#endif
