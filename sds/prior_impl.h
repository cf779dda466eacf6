// Internals shared by the prior interface (prior.c) and its two kinds (prior_unet.c,
// oracle.c). Not for callers: use prior.h.
#ifndef VKD_SDS_PRIOR_IMPL_H
#define VKD_SDS_PRIOR_IMPL_H

#include "prior.h"

struct cJSON;

typedef struct {
    // Fill c->impl for `prompt` (already checked non-blank and short), or for the
    // unconditional input when prompt is NULL.
    vkd_status_t (*encode)(vkd_prior_t *p, const char *prompt, vkd_prior_cond_t *c);
    void (*cond_free)(vkd_prior_cond_t *c);
    // The model's raw output (eps or v per info.prediction) for a checked batch.
    vkd_status_t (*predict)(vkd_prior_t *p, float *out, const float *x_t, const int *t,
                            const vkd_prior_cond_t *const *cond, int B);
    void (*destroy)(vkd_prior_t *p); // frees p->impl
} vkd_prior_ops_t;

struct vkd_prior {
    const vkd_prior_ops_t *ops;
    vkd_prior_info_t info;
    vkd_schedule_t sched;
    void *impl;
};

struct vkd_prior_cond {
    const vkd_prior_t *owner;
    char *prompt; // "" for the unconditional
    int uncond;
    void *impl;
};

// Fills p->ops and p->impl for an oracle; p->info's image, range and camera fields and
// p->sched are already set from o by the caller.
vkd_status_t vkd_oracle_init(vkd_prior_t *p, const vkd_oracle_opts_t *o);

// Fills p->ops and p->impl for a UNet prior from the parsed prior file `root` (path and
// its directory for messages and relative names); p->info and p->sched are already set.
vkd_status_t vkd_prior_unet_init(vkd_prior_t *p, const struct cJSON *root, const char *path,
                                 const char *dir, vkd_backend_t *be);

#endif
