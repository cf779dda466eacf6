// `vkdream train-prior`: train the ShapeWorld diffusion prior (sds/trainer.h) with a progress
// bar, periodic checkpoints and sample grids, clean stops on SIGINT/SIGTERM and --resume.
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cli.h"
#include "progress.h"
#include "sds/trainer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: vkdream train-prior -o DIR [--config PRIOR.json] [options]\n"
            "       vkdream train-prior --resume DIR [--steps N] [--lr LR] [--min-snr G]\n"
            "\n"
            "Trains a text-conditioned diffusion prior on ShapeWorld renders (drawn with the\n"
            "camera, light and shading distribution that generate uses) and writes it into DIR\n"
            "as a prior file (DIR/<name>.json + weights + tokenizer) that --prior accepts.\n"
            "\n"
            "  --config FILE     the prior to train: architecture, schedule, camera, tokenizer\n"
            "                    (default: the bundled models/" CLI_BUNDLED_PRIOR ")\n"
            "  -o DIR            run directory (must not hold a run yet)\n"
            "  --resume DIR      continue the run in DIR from its last checkpoint\n"
            "  --init W.safetensors  a new run starts from these weights (a prior of the same\n"
            "                    architecture; its prediction type may differ from --config's)\n"
            "  --steps N         train until N steps are done; also where the cosine lr\n"
            "                    schedule ends (20000)\n"
            "  --batch B         images per step (32)\n"
            "  --lr LR           peak AdamW learning rate (8e-4); --lr-min (8e-5)\n"
            "  --warmup N        linear warm-up steps (200)\n"
            "  --seed S          data, noise and initialisation seed (0)\n"
            "  --ema D           EMA decay of the weights written as the prior (0.999)\n"
            "  --min-snr G       min-SNR-gamma loss weighting, 0 = off (5); may change on --resume\n"
            "  --ckpt-every N    checkpoint every N steps (250)\n"
            "  --sample-every N  DDIM sample grid DIR/samples/step-N.png every N steps, 0 = off\n"
            "                    (1000)\n"
            "  --device D        cpu (default: the trainer's fast path) or a Vulkan device\n"
            "\n"
            "Ctrl-C (SIGINT) or SIGTERM stop after the current step with a checkpoint;\n"
            "`--resume DIR` then continues bit-identically.\n");
}

static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vkdream train-prior: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n\n");
    usage(stderr);
    return 2;
}

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

typedef struct {
    const char *config, *out, *resume, *device;
    long steps, ckpt_every, sample_every;
    int min_snr_set;
    double lr;
    vkd_trainer_opts_t o;
} train_args_t;

static int parse_args(int argc, char **argv, train_args_t *a) {
    memset(a, 0, sizeof *a);
    a->o = vkd_trainer_opts_default();
    a->ckpt_every = 250;
    a->sample_every = 1000;
    a->device = "cpu";
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) {
            usage(stdout);
            return -1;
        }
        if (f[0] != '-') return usage_error("unexpected argument '%s'", f);
        if (!v) return usage_error("option %s needs a value", f);
        i++;
        double d;
        long k;
        if (!strcmp(f, "--config")) a->config = v;
        else if (!strcmp(f, "-o")) a->out = v;
        else if (!strcmp(f, "--resume")) a->resume = v;
        else if (!strcmp(f, "--init")) a->o.init_weights = v;
        else if (!strcmp(f, "--device")) a->device = v;
        else if (!strcmp(f, "--steps")) {
            if (!cli_parse_long(v, 1, 100000000, &a->steps)) return usage_error("--steps: '%s' is not a count >= 1", v);
            a->o.steps = a->steps;
        } else if (!strcmp(f, "--batch")) {
            if (!cli_parse_int(v, 1, 4096, &a->o.batch)) return usage_error("--batch: '%s' is not in 1..4096", v);
        } else if (!strcmp(f, "--lr")) {
            if (!cli_parse_double(v, 1e-8, 0.5, &a->lr)) return usage_error("--lr: '%s' is not in (0, 0.5]", v);
            a->o.lr = (float)a->lr;
        } else if (!strcmp(f, "--lr-min")) {
            if (!cli_parse_double(v, 0, 0.5, &d)) return usage_error("--lr-min: '%s' is not in [0, 0.5]", v);
            a->o.lr_min = (float)d;
        } else if (!strcmp(f, "--warmup")) {
            if (!cli_parse_int(v, 0, 1000000, &a->o.warmup)) return usage_error("--warmup: '%s' is not a count", v);
        } else if (!strcmp(f, "--seed")) {
            if (!cli_parse_u64(v, &a->o.seed)) return usage_error("--seed: '%s' is not a non-negative integer", v);
        } else if (!strcmp(f, "--ema")) {
            if (!cli_parse_double(v, 0, 0.999999, &d)) return usage_error("--ema: '%s' is not in [0, 1)", v);
            a->o.ema_decay = (float)d;
        } else if (!strcmp(f, "--min-snr")) {
            if (!cli_parse_double(v, 0, 1000, &d)) return usage_error("--min-snr: '%s' is not in [0, 1000]", v);
            a->o.min_snr_gamma = (float)d;
            a->min_snr_set = 1;
        } else if (!strcmp(f, "--ckpt-every")) {
            if (!cli_parse_long(v, 1, 100000000, &k)) return usage_error("--ckpt-every: '%s' is not a count >= 1", v);
            a->ckpt_every = k;
        } else if (!strcmp(f, "--sample-every")) {
            if (!cli_parse_long(v, 0, 100000000, &k)) return usage_error("--sample-every: '%s' is not a count >= 0", v);
            a->sample_every = k;
        } else return usage_error("unknown option '%s'", f);
    }
    if (!a->resume && !a->out) return usage_error("%s", "give -o DIR (a new run) or --resume DIR");
    if (a->resume && a->out) return usage_error("%s", "-o and --resume exclude each other");
    if (a->resume && a->o.init_weights)
        return usage_error("%s", "--init starts a new run (-o DIR); a resumed run has its weights");
    if (a->resume && a->o.lr_min != vkd_trainer_opts_default().lr_min)
        return usage_error("%s", "--lr-min cannot change on --resume");
    return 0;
}

static vkd_status_t sample_grid(vkd_trainer_t *t, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/samples/step-%08lld.png", dir,
             (long long)vkd_trainer_steps_done(t));
    vkd_status_t s = vkd_trainer_sample_grid(t, path, 8, 25, 5.0f);
    if (s == VKD_OK) fprintf(stderr, "train-prior: wrote %s\n", path);
    return s;
}

static vkd_status_t train(vkd_trainer_t *t, const train_args_t *a, const char *dir) {
    const vkd_trainer_opts_t *o = vkd_trainer_opts(t);
    const int64_t start = vkd_trainer_steps_done(t);
    const int64_t end = a->steps ? a->steps : o->steps;
    if (start >= end) {
        fprintf(stderr, "train-prior: %s already has %lld steps (asked for %lld); nothing to do\n",
                dir, (long long)start, (long long)end);
        return VKD_OK;
    }
    fprintf(stderr, "train-prior: %zu parameters, batch %d, steps %lld..%lld, %.2f GFLOP per "
            "sample (forward + backward)\n", vkd_trainer_param_count(t), o->batch,
            (long long)start, (long long)end, vkd_trainer_flops_per_sample(t) / 1e9);
    vkd_progress_t pb;
    vkd_progress_init(&pb, stderr, "training", (uint64_t)(end - start), "step");
    double loss_avg = 0, secs = 0;
    int n_avg = 0;
    vkd_status_t s = VKD_OK;
    int64_t since_ckpt = 0;
    while (s == VKD_OK && vkd_trainer_steps_done(t) < end && !g_stop) {
        vkd_trainer_stats_t st;
        s = vkd_trainer_step(t, &st);
        if (s != VKD_OK) break;
        since_ckpt++;
        if (!st.skipped) loss_avg += st.loss, n_avg++;
        secs += st.seconds;
        const int64_t done = vkd_trainer_steps_done(t);
        if (done % 10 == 0 || st.skipped) s = vkd_trainer_log(t, &st);
        if (done % 10 == 0) {
            const double flops = vkd_trainer_flops_per_sample(t) * o->batch * 10;
            vkd_progress_note(&pb, "loss %.4f  %.1f samples/s  %.0f GFLOP/s", n_avg ? loss_avg / n_avg : 0.0,
                              secs > 0 ? 10.0 * o->batch / secs : 0.0, secs > 0 ? flops / secs / 1e9 : 0.0);
            loss_avg = 0, n_avg = 0, secs = 0;
        }
        vkd_progress_update(&pb, (uint64_t)(done - start));
        if (s == VKD_OK && done % a->ckpt_every == 0) s = vkd_trainer_checkpoint(t), since_ckpt = 0;
        if (s == VKD_OK && a->sample_every && done % a->sample_every == 0) s = sample_grid(t, dir);
    }
    vkd_progress_finish(&pb);
    if (since_ckpt > 0) {
        // Save what was done, also after an error that left the weights finite (the
        // checkpoint refuses non-finite ones, keeping the previous good one).
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", s == VKD_OK ? "" : vkd_last_error());
        vkd_status_t c = vkd_trainer_checkpoint(t);
        if (s == VKD_OK) s = c;
        else vkd_fail(s, "%s", msg);
    }
    if (g_stop) fprintf(stderr, "train-prior: stopped at step %lld; continue with --resume %s\n",
                        (long long)vkd_trainer_steps_done(t), dir);
    return s;
}

int cmd_train_prior(int argc, char **argv) {
    train_args_t a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    char cfg[4096], tried[8192];
    if (!a.resume && !a.config) {
        if (!cli_find_model(CLI_BUNDLED_PRIOR, cfg, sizeof cfg, tried, sizeof tried)) {
            fprintf(stderr, "vkdream train-prior: no prior config found (looked for %s); give "
                    "--config FILE.json\n", tried);
            return 1;
        }
        a.config = cfg;
    }
    vkd_backend_t *be = NULL;
    vkd_trainer_t *t = NULL;
    vkd_backend_opts_t bo = {a.device, -1, 0};
    vkd_status_t s = vkd_backend_create(&bo, &be);
    const char *dir = a.resume ? a.resume : a.out;
    if (s == VKD_OK)
        s = a.resume ? vkd_trainer_resume(be, a.resume, a.config, a.steps, (float)a.lr, &t)
                     : vkd_trainer_create(be, a.config, a.out, &a.o, &t);
    if (s == VKD_OK && a.resume && a.min_snr_set) s = vkd_trainer_set_min_snr(t, a.o.min_snr_gamma);
    if (s == VKD_OK) {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        s = train(t, &a, dir);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
    }
    if (s == VKD_OK)
        printf("train-prior: %s holds the prior after %lld steps: %s (use it with --prior %s)\n",
               dir, (long long)vkd_trainer_steps_done(t), vkd_trainer_prior_path(t),
               vkd_trainer_prior_path(t));
    vkd_trainer_free(t);
    vkd_backend_destroy(be);
    return s == VKD_OK ? 0 : cli_error(NULL);
}
