// The configuration of a NeRF run: field architecture, background, renderer, regularisers
// and optimiser. It is stored as JSON in every checkpoint, so a checkpoint always says
// what it is; loading compares it with the tensors (nerf/checkpoint.h).
#ifndef VKD_NERF_CONFIG_H
#define VKD_NERF_CONFIG_H

#include <stdint.h>

#include "status.h"

#define VKD_NERF_MAX_DEPTH 8

typedef enum { VKD_NERF_BG_FIXED = 0, VKD_NERF_BG_MLP = 1 } vkd_nerf_bg_mode_t;

typedef struct {
    // ---- field (DreamFusion appendix A.2) ----
    int width;              // ResNet block width, 16..256 (64)
    int depth;              // number of ResNet blocks, 1..VKD_NERF_MAX_DEPTH (2)
    int n_freq;             // IPE frequencies L, 0..16 (8)
    float ipe_var_start;    // isotropic IPE covariance lambda_Sigma at step 0 (5e-2)
    float ipe_var_end;      // ... after the anneal (2e-3)
    float ipe_anneal_frac;  // share of total_steps the anneal takes (1/3), log-linear
    int density_act;        // VKD_ACT_EXP or VKD_ACT_SOFTPLUS ("exp")
    float density_bias;     // initial bias of the density pre-activation (-2)
    float blob_lambda;      // lambda_tau (5)
    float blob_sigma;       // sigma (0.2)
    // ---- background ----
    int bg_mode;            // fixed colour or a small MLP on the encoded ray direction
    float bg_color[3];      // linear RGB (the ShapeWorld background)
    int bg_width;           // MLP width (32)
    int bg_freq;            // frequencies of the direction encoding (4)
    // ---- renderer ----
    float bound;            // bounding sphere radius (1.4)
    int samples;            // stratified samples per ray (48)
    float normal_h;         // tetrahedral finite-difference step (0.01)
    float normal_eps;       // n = -g / sqrt(|g|^2 + eps^2) (1e-3)
    int grid_res;           // occupancy grid cells per axis, 0 = off (32)
    int grid_every;         // refresh every N steps (16)
    float grid_decay;       // per-refresh decay of the cell values (0.95)
    float grid_thresh;      // a cell is occupied above this density (0.01)
    int grid_warmup;        // no skipping before this step (64)
    // ---- regularisers (per-ray means) ----
    float lambda_orient;    // orientation loss (1e-2)
    float lambda_opacity;   // mean opacity (0)
    float lambda_entropy;   // binary entropy of the opacity (0)
    // ---- optimiser: Adam, linear warm-up ----
    float lr;               // (1e-3, the SDS range of NOTES.md)
    float beta1, beta2;     // (0.9, 0.99)
    float adam_eps;         // (1e-8)
    int warmup_steps;       // (50)
    int total_steps;        // planned length of the run (2000), for the IPE anneal
    uint64_t seed;          // initialisation and sampling (0)
} vkd_nerf_config_t;

vkd_nerf_config_t vkd_nerf_config_default(void);
// VKD_ERR_INVALID naming the first field out of range.
vkd_status_t vkd_nerf_config_check(const vkd_nerf_config_t *c);
// The JSON text of c (malloc'd; free it), every field, one key per field.
char *vkd_nerf_config_to_json(const vkd_nerf_config_t *c);
// Parse JSON into c: fields start from the defaults and each key present replaces one.
// Unknown keys, wrong types and invalid values are VKD_ERR_INVALID naming `what` (a file
// name or "checkpoint X") and the key.
vkd_status_t vkd_nerf_config_from_json(const char *json, const char *what, vkd_nerf_config_t *c);

// The IPE covariance lambda_Sigma at a step: log-linear from start to end over the first
// ipe_anneal_frac * total_steps steps, then end.
float vkd_nerf_ipe_var(const vkd_nerf_config_t *c, int64_t step);

#endif
