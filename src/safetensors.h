// The safetensors file format: reading (memory-mapped, fully validated) and writing
// (aligned, atomic).
//
// Layout: u64 little-endian header length N, N bytes of JSON mapping each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end)} (offsets relative to the data section)
// plus an optional "__metadata__" object of string values, then the raw little-endian
// tensor data. This is the format of Hugging Face / Stable Diffusion checkpoints.
#ifndef VKD_SAFETENSORS_H
#define VKD_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef enum {
    VKD_DT_F32,
    VKD_DT_F16,
    VKD_DT_BF16,
    VKD_DT_F64,
    VKD_DT_I64,
    VKD_DT_I32,
    VKD_DT_I16,
    VKD_DT_I8,
    VKD_DT_U8,
    VKD_DT_BOOL,
    VKD_DT_COUNT
} vkd_dtype_t;

#define VKD_ST_MAX_DIMS 8
// Headers above this are rejected as corrupt (real checkpoints have well under 10 MB).
#define VKD_ST_MAX_HEADER ((uint64_t)100 << 20)

// "F32", "BF16", ...; "?" for an invalid value.
const char *vkd_dtype_name(vkd_dtype_t dt);
// Bytes per element (0 for an invalid value).
size_t vkd_dtype_size(vkd_dtype_t dt);

// Half-precision conversions (IEEE binary16 and bfloat16). Exact for every input: f16
// subnormals, infinities and NaNs (payload kept) map to the same float value.
float vkd_f16_to_f32(uint16_t h);
float vkd_bf16_to_f32(uint16_t h);
// Round to nearest even; overflow gives infinity, NaN stays a (quiet) NaN.
uint16_t vkd_f32_to_f16(float f);
uint16_t vkd_f32_to_bf16(float f);

// A tensor inside an open file. `data` points into the read-only mapping: it is valid until
// vkd_st_close() and may be misaligned in files from other writers, so read it through
// vkd_st_to_f32/_i64 or memcpy rather than casting it to float *.
typedef struct {
    const char *name;
    vkd_dtype_t dtype;
    int ndim;                       // 0 (a scalar) .. VKD_ST_MAX_DIMS
    int64_t shape[VKD_ST_MAX_DIMS]; // unused dims are 0
    size_t nbytes;
    const void *data;
} vkd_st_tensor_t;

typedef struct vkd_safetensors vkd_safetensors_t;

// ---- reading ----------------------------------------------------------------------------
// Maps and validates the whole file: header length vs file size, JSON syntax, known
// dtypes, shapes (non-negative, bytes = numel * element size without overflow), offsets
// inside the data section, no overlapping tensors, no duplicate names, string metadata.
// Errors are VKD_ERR_IO (cannot open/map) or VKD_ERR_FORMAT, naming the file and tensor.
// Tensors keep the header's order.
vkd_status_t vkd_st_open(const char *path, vkd_safetensors_t **out);
void vkd_st_close(vkd_safetensors_t *st); // NULL is fine
const char *vkd_st_path(const vkd_safetensors_t *st);
int vkd_st_count(const vkd_safetensors_t *st);
const vkd_st_tensor_t *vkd_st_get(const vkd_safetensors_t *st, int i); // NULL if out of range
const vkd_st_tensor_t *vkd_st_find(const vkd_safetensors_t *st, const char *name);
int vkd_st_metadata_count(const vkd_safetensors_t *st);
// The i-th metadata pair; returns the key (NULL if out of range) and sets *value.
const char *vkd_st_metadata_at(const vkd_safetensors_t *st, int i, const char **value);
const char *vkd_st_metadata(const vkd_safetensors_t *st, const char *key); // NULL if absent

// Looks up a tensor that must exist with exactly this shape (ndim dims) and a dtype that
// vkd_st_to_f32 converts (anything but BOOL). The error (VKD_ERR_FORMAT) names the file,
// the tensor, expected vs actual shape and dtype, and for a missing name the nearest
// existing one. *out may be NULL when only the check is wanted.
vkd_status_t vkd_st_expect(const vkd_safetensors_t *st, const char *name, int ndim,
                           const int64_t *shape, const vkd_st_tensor_t **out);

size_t vkd_st_numel(const vkd_st_tensor_t *t);
// Converts every element to float32 into dst; n_floats must equal vkd_st_numel(t).
// F32 is copied, F16/BF16 are exact, F64 and integers above 2^24 are rounded to nearest.
// BOOL is refused (VKD_ERR_INVALID).
vkd_status_t vkd_st_to_f32(const vkd_st_tensor_t *t, float *dst, size_t n_floats);
// Same for float64 (F64 copied exactly) — for schedules and reference comparisons.
vkd_status_t vkd_st_to_f64(const vkd_st_tensor_t *t, double *dst, size_t n);
// Integer dtypes (I64, I32, I16, I8, U8, BOOL) to int64: token ids, timesteps, indices.
vkd_status_t vkd_st_to_i64(const vkd_st_tensor_t *t, int64_t *dst, size_t n);

// ---- writing ----------------------------------------------------------------------------
// Collect tensors and metadata, then write them in one go. Names, shapes and metadata are
// copied; tensor DATA IS BORROWED (no copy of possibly large weights): it must stay valid
// and unchanged until vkd_st_write() returns. The file is written atomically (fileio.h):
// header padded with spaces to a multiple of 8, tensors ordered by decreasing element size
// (stable) so every offset is aligned to its element size.
typedef struct vkd_st_writer vkd_st_writer_t;

vkd_status_t vkd_st_writer_create(vkd_st_writer_t **out);
void vkd_st_writer_free(vkd_st_writer_t *w); // NULL is fine
// data holds numel * vkd_dtype_size(dtype) little-endian bytes (may be NULL when numel is
// 0). Duplicate names, "__metadata__", negative dims and ndim > 8 are VKD_ERR_INVALID.
vkd_status_t vkd_st_writer_add(vkd_st_writer_t *w, const char *name, vkd_dtype_t dtype,
                               int ndim, const int64_t *shape, const void *data);
// Sets (or replaces) a metadata string.
vkd_status_t vkd_st_writer_meta(vkd_st_writer_t *w, const char *key, const char *value);
vkd_status_t vkd_st_write(const vkd_st_writer_t *w, const char *path);

#endif
