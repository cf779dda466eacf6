// The prior trainer: trains a text-conditioned pixel-space diffusion prior (text encoder +
// UNet, sds/prior_net.h) on ShapeWorld renders (sw_data.h), and writes it as a prior file
// that vkd_prior_load() reads -- the bundled prior in models/ is one of these.
//
// A run lives in a directory:
//   DIR/<name>.json, DIR/<tokenizer>, DIR/<weights>   the prior (EMA weights): loadable
//                                                      at any checkpoint, copy to models/
//   DIR/train/state.json      step, options, the files of the last good checkpoint
//   DIR/train/params-<step>.safetensors, DIR/train/adam-<step>.safetensors
//   DIR/train/log.jsonl       one line per logged step
//   DIR/samples/step-<step>.png   DDIM sample grids of fixed prompts (by eye)
// A checkpoint writes its new files first and state.json last (each atomically), then
// removes the previous checkpoint's files, so a crash or a full disk at any point leaves
// the last good checkpoint intact and resumable.
//
// One step: B samples (data indices step*B .. step*B + B - 1), t ~ U{0..T-1}, eps ~ N(0, I)
// (Philox stream VKD_TRAIN_NOISE_STREAM, block per (step, sample)), x_t = sqrt(abar) x0 +
// sqrt(1 - abar) eps with x0 in the prior's range, eps- (or v-) prediction MSE with
// optional min-SNR-gamma weighting (eps: min(SNR, g) / SNR; v: min(SNR + 1, g) / (SNR + 1),
// i.e. an x0-error weight of min(SNR, g) resp. min(SNR + 1, g) -- the v form keeps weight
// ~1 at the high-noise steps, where an eps model's x0 weight SNR -> 0 leaves the global
// colour and layout unlearnt), caption dropout from the data (p_uncond), global-norm
// gradient clipping, AdamW (decay off for biases, norms and embeddings) with linear
// warm-up then cosine decay to lr_min at `steps`, EMA of the weights (decay warmed up as
// min(ema_decay, (1 + k) / (10 + k))). Every random draw is keyed by (seed, step), so a
// resumed run continues bit-identically. A non-finite loss or gradient skips the step
// (logged); max_bad_steps in a row stop the run with a message naming the step, and the
// weights on disk are never non-finite (checked before every write). For tests of that
// path, VKDREAM_TRAIN_SIMULATE_NAN=K makes the loss of step K non-finite.
#ifndef VKD_SDS_TRAINER_H
#define VKD_SDS_TRAINER_H

#include <stdint.h>

#include "backend.h"
#include "status.h"
#include "sw_data.h"

#define VKD_TRAIN_NOISE_STREAM 0x4e4f4953u // "NOIS"

typedef struct {
    uint64_t seed;       // (0)
    int batch;           // (32)
    int64_t steps;       // the step count the lr schedule ends at (20000)
    float lr, lr_min;    // (8e-4, 8e-5)
    int warmup;          // linear lr warm-up steps (200)
    float weight_decay;  // AdamW, decoupled (0.01)
    float beta1, beta2;  // (0.9, 0.999)
    float ema_decay;     // (0.999)
    float clip_norm;     // global gradient norm clip, 0 = off (1.0)
    float min_snr_gamma; // min-SNR-gamma loss weight, 0 = off (5)
    int max_bad_steps;   // non-finite steps in a row that stop the run (10)
    vkd_swdata_opts_t data; // res is taken from the prior's image size
    // New runs only (not stored in state.json): start from the weights in this
    // .safetensors file (a prior of the same architecture, e.g. the bundled one, also when
    // the new run changes the prediction type) instead of a fresh initialisation. NULL = off.
    const char *init_weights;
} vkd_trainer_opts_t;

vkd_trainer_opts_t vkd_trainer_opts_default(void);

typedef struct {
    int64_t step;      // the step just done (0-based), i.e. steps done = step + 1
    double loss;       // weighted batch loss (NaN when skipped)
    double grad_norm;  // before clipping
    float lr;
    int skipped;       // 1: non-finite loss or gradient, no update
    double seconds;    // wall time of the step
} vkd_trainer_stats_t;

typedef struct vkd_trainer vkd_trainer_t;

// A new run in out_dir (created if missing; it must not already hold a run) from a prior
// config file (a prior file, models/shapeworld.json: its "weights" and "tokenizer" name the
// output files, the tokenizer is copied from beside the config). Writes the initial prior
// and checks it loads with vkd_prior_load.
vkd_status_t vkd_trainer_create(vkd_backend_t *be, const char *config_path, const char *out_dir,
                                const vkd_trainer_opts_t *opts, vkd_trainer_t **out);
// Continue the run in out_dir from its last checkpoint with the options it was started
// with; steps > 0 / lr > 0 replace the stored schedule end / peak lr (the schedule then
// changes from this step on). config_path (may be NULL) must describe the same model.
vkd_status_t vkd_trainer_resume(vkd_backend_t *be, const char *out_dir, const char *config_path,
                                int64_t steps, float lr, vkd_trainer_t **out);
void vkd_trainer_free(vkd_trainer_t *t); // NULL is fine
// Change the min-SNR-gamma loss weighting (0 = plain MSE) from the next step on, e.g. when
// resuming a run whose low-noise steps were under-weighted; stored with the next checkpoint.
vkd_status_t vkd_trainer_set_min_snr(vkd_trainer_t *t, float gamma);

// Steps done so far (the index of the next step).
int64_t vkd_trainer_steps_done(const vkd_trainer_t *t);
const vkd_trainer_opts_t *vkd_trainer_opts(const vkd_trainer_t *t);
size_t vkd_trainer_param_count(const vkd_trainer_t *t);
// Training forward + backward FLOPs per sample (3x the UNet forward; the text encoder is
// negligible), for GFLOP/s reports.
double vkd_trainer_flops_per_sample(const vkd_trainer_t *t);

vkd_status_t vkd_trainer_step(vkd_trainer_t *t, vkd_trainer_stats_t *st);
// Write the checkpoint (train/ files + the EMA prior) as described above.
vkd_status_t vkd_trainer_checkpoint(vkd_trainer_t *t);
// Append one JSON line for st to train/log.jsonl.
vkd_status_t vkd_trainer_log(vkd_trainer_t *t, const vkd_trainer_stats_t *st);
// Load the prior as last checkpointed and write a grid of DDIM samples (one row per
// prompt, `per_prompt` samples each, guidance `guidance`, `ddim_steps` steps) to png_path.
vkd_status_t vkd_trainer_sample_grid(vkd_trainer_t *t, const char *png_path, int per_prompt,
                                     int ddim_steps, float guidance);
// The current weights (ema = 0) or their EMA (ema = 1), (P) host floats (tests).
const float *vkd_trainer_weights(const vkd_trainer_t *t, int ema);
// The prior file of the run (DIR/<name>.json).
const char *vkd_trainer_prior_path(const vkd_trainer_t *t);

#endif
