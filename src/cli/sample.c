// `vkdream sample "PROMPT"`: a PNG grid of 2D samples from a prior, to check it by eye.
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "cli.h"
#include "image.h"
#include "judge.h"
#include "progress.h"
#include "sds/prior.h"
#include "sds/sampler.h"
#include "shapeworld.h"


static void usage(FILE *f) {
    fprintf(f,
            "usage: vkdream sample \"PROMPT\" [options]\n"
            "\n"
            "Draws samples from a diffusion prior and writes them as one PNG grid.\n"
            "\n"
            "options:\n"
            "  -n N              number of samples (4)\n"
            "  -o FILE.png       output grid (samples.png)\n"
            "  --prior P         prior file (.json), or \"oracle\": the exact posterior-mean\n"
            "                    denoiser of ShapeWorld renders (prompts like \"a red cube\")\n"
            "                    (default: the bundled models/" CLI_BUNDLED_PRIOR ")\n"
            "  --sampler S       ddim or ddpm (ddim)\n"
            "  --steps K         sampler steps (50); ddpm with K = T runs the full chain\n"
            "  --eta E           DDIM noise, 0 (deterministic) .. 1 (0)\n"
            "  --guidance G      classifier-free guidance s in eps_u + s (eps_c - eps_u) (5;\n"
            "                    1 for an oracle, whose conditional is exact); 1 = conditional\n"
            "                    only (DreamFusion's w is s - 1)\n"
            "  --negative TEXT   negative prompt: replaces the unconditional prediction\n"
            "  --seed S          random seed (0); sample i is the same for any -n\n"
            "  --device D        backend of a UNet prior: auto, cpu, vulkan, vulkan:N (auto);\n"
            "                    the oracle runs on the host\n"
            "  --cols C          tiles per row (about sqrt(N))\n"
            "  --zoom Z          nearest-neighbour upscaling of each tile, 1..16 (tiles of at\n"
            "                    least 128 pixels)\n"
            "  --no-clip         do not clamp the predicted x0 to the prior's value range\n"
            "  --judge           judge each sample against the (ShapeWorld) prompt: a verdict\n"
            "                    line per sample, then as the last line a JSON object {\"prompt\",\n"
            "                    \"n\", \"shape_correct\", \"colour_correct\", \"grey\", \"empty\"}\n"
            "                    (grey: textureless samples, whose colour is never correct)\n"
            "  -h, --help        this help\n");
}

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "vkdream sample: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\n");
    usage(stderr);
    return 2;
}

typedef struct {
    const char *prompt, *out, *prior, *negative, *device;
    long n, cols, zoom;
    int clip, guidance_set, judge;
    vkd_sampler_opts_t so;
} sample_args_t;

// 0 on success, else the exit code (usage printed).
static int parse_args(int argc, char **argv, sample_args_t *a) {
    memset(a, 0, sizeof *a);
    a->out = "samples.png";
    a->n = 4;
    a->clip = 1;
    a->so = vkd_sampler_opts_default();
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(f, "--no-clip")) {
            a->clip = 0;
            continue;
        } else if (!strcmp(f, "--judge")) {
            a->judge = 1;
            continue;
        } else if (f[0] != '-' || !f[1]) {
            if (a->prompt) return usage_error("more than one prompt ('%s'); quote the prompt", f);
            a->prompt = f;
            continue;
        }
        static const char *const with_value[] = {"-n", "-o", "--prior", "--negative", "--device",
                                                 "--steps", "--sampler", "--eta", "--guidance",
                                                 "--seed", "--cols", "--zoom"};
        int known = 0;
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
            known |= !strcmp(f, with_value[k]);
        if (!known) return usage_error("unknown option '%s'", f);
        if (!v) return usage_error("option %s needs a value", f);
        i++;
        if (!strcmp(f, "-n")) {
            if (!cli_parse_long(v, 1, 256, &a->n)) return usage_error("-n: '%s' is not a count in 1..256", v);
        } else if (!strcmp(f, "-o")) {
            a->out = v;
        } else if (!strcmp(f, "--prior")) {
            a->prior = v;
        } else if (!strcmp(f, "--negative")) {
            a->negative = v;
        } else if (!strcmp(f, "--device")) {
            a->device = v;
        } else if (!strcmp(f, "--steps")) {
            long k;
            if (!cli_parse_long(v, 1, 1000000, &k)) return usage_error("--steps: '%s' is not a count >= 1", v);
            a->so.steps = (int)k;
        } else if (!strcmp(f, "--sampler")) {
            if (vkd_sampler_parse(v, &a->so.kind) != VKD_OK)
                return usage_error("--sampler: '%s' is not ddim or ddpm", v);
        } else if (!strcmp(f, "--eta")) {
            if (!cli_parse_double(v, 0, 1, &d)) return usage_error("--eta: '%s' is not a number in [0, 1]", v);
            a->so.eta = d;
        } else if (!strcmp(f, "--guidance")) {
            if (!cli_parse_double(v, -1000, 1000, &d))
                return usage_error("--guidance: '%s' is not a number in [-1000, 1000]", v);
            a->so.guidance.scale = (float)d;
            a->guidance_set = 1;
        } else if (!strcmp(f, "--seed")) {
            if (!cli_parse_u64(v, &a->so.seed)) return usage_error("--seed: '%s' is not a non-negative integer", v);
        } else if (!strcmp(f, "--cols")) {
            if (!cli_parse_long(v, 1, 256, &a->cols)) return usage_error("--cols: '%s' is not a count in 1..256", v);
        } else if (!strcmp(f, "--zoom")) {
            if (!cli_parse_long(v, 1, 16, &a->zoom)) return usage_error("--zoom: '%s' is not in 1..16", v);
        } else {
            return usage_error("unknown option '%s'", f);
        }
    }
    if (!a->prompt) return usage_error("%s", "missing PROMPT");
    a->so.clip_x0 = a->clip;
    return 0;
}

// samples (n, C, H, W) in the prior's range -> a grid PNG of linear [0, 1] tiles.
static vkd_status_t write_grid(const vkd_prior_t *p, const float *samples, const sample_args_t *a) {
    const int W = vkd_prior_info(p)->width;
    const int z = a->zoom ? (int)a->zoom : (W >= 128 ? 1 : (128 + W - 1) / W);
    return vkd_sample_grid_png(p, samples, (int)a->n, (int)a->cols, z, a->out);
}

// --judge: a verdict line per sample (n, 3, H, W in the prior's range) against the prompt's
// object, then the summary JSON object as the last line of stdout.
static vkd_status_t judge_samples(const vkd_prior_t *p, const float *samples, const sample_args_t *a,
                                  vkd_sw_object_t obj) {
    const vkd_prior_info_t *in = vkd_prior_info(p);
    const int H = in->height, W = in->width, n = (int)a->n;
    if (in->channels != 3)
        return vkd_fail(VKD_ERR_UNSUPPORTED, "--judge: the prior makes %d-channel images; the judge "
                        "needs RGB", in->channels);
    const size_t D = (size_t)3 * H * W;
    vkd_judge_t *j = NULL;
    VKD_TRY(vkd_judge_create(VKD_JUDGE_SEED_DEFAULT, &j));
    float *rgb = malloc(sizeof(float) * D); // (H, W, 3)
    vkd_status_t s = rgb ? VKD_OK : vkd_fail(VKD_ERR_NOMEM, "--judge: out of memory");
    int shape_ok = 0, colour_ok = 0, grey = 0, empty = 0;
    for (int i = 0; s == VKD_OK && i < n; i++) {
        vkd_prior_image_to_hwc(p, rgb, samples + (size_t)i * D);
        vkd_judge_verdict_t v;
        s = vkd_judge_image(j, rgb, H, W, &v);
        if (s != VKD_OK) break;
        int so, co;
        vkd_judge_match(&v, obj, &so, &co);
        shape_ok += so, colour_ok += co, grey += !v.empty && v.achromatic, empty += v.empty;
        char label[32];
        snprintf(label, sizeof label, "sample %d", i);
        cli_judge_print(stdout, label, &v);
    }
    if (s == VKD_OK) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "prompt", a->prompt);
        cJSON_AddNumberToObject(o, "n", n);
        cJSON_AddNumberToObject(o, "shape_correct", shape_ok);
        cJSON_AddNumberToObject(o, "colour_correct", colour_ok);
        cJSON_AddNumberToObject(o, "grey", grey);
        cJSON_AddNumberToObject(o, "empty", empty);
        char *txt = o ? cJSON_PrintUnformatted(o) : NULL;
        if (txt) printf("%s\n", txt);
        else s = vkd_fail(VKD_ERR_NOMEM, "--judge: out of memory for the JSON line");
        free(txt);
        cJSON_Delete(o);
    }
    free(rgb);
    vkd_judge_free(j);
    return s;
}

int cmd_sample(int argc, char **argv) {
    sample_args_t a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    vkd_sw_object_t judge_obj = {0, 0};
    if (a.judge && vkd_sw_parse(a.prompt, &judge_obj, NULL) != VKD_OK)
        return cli_error("--judge scores ShapeWorld prompts like \"a red cube\"");
    char bundled[PATH_MAX], tried[4 * PATH_MAX];
    const char *prior_path = a.prior;
    if (!prior_path) {
        if (!cli_find_model(CLI_BUNDLED_PRIOR, bundled, sizeof bundled, tried, sizeof tried)) {
            fprintf(stderr,
                    "vkdream sample: no prior is bundled yet (looked for %s).\n"
                    "  Use --prior oracle for the ShapeWorld oracle prior (e.g. vkdream sample "
                    "\"a red cube\" --prior oracle),\n  or --prior FILE.json for a trained prior.\n",
                    tried);
            return 1;
        }
        prior_path = bundled;
    }
    vkd_backend_t *be = NULL;
    vkd_prior_t *p = NULL;
    vkd_prior_cond_t *cond = NULL, *unc = NULL;
    float *samples = NULL;
    vkd_status_t s;
    const int oracle = !strcmp(prior_path, "oracle");
    if (oracle) {
        s = vkd_prior_oracle_create(NULL, &p);
    } else {
        vkd_backend_opts_t bo = {a.device, -1, 0};
        s = vkd_backend_create(&bo, &be);
        if (s == VKD_OK) s = vkd_prior_load(prior_path, be, &p);
    }
    // Guidance sharpens an imperfect learned conditional; an oracle's (built in or from a
    // prior file) is exact, and extrapolating away from its unconditional set only adds
    // saturated artefacts.
    if (s == VKD_OK && !a.guidance_set && vkd_prior_info(p)->kind == VKD_PRIOR_ORACLE)
        a.so.guidance.scale = 1.0f;
    const int guided = a.negative || vkd_cfg_ldm_scale(&a.so.guidance) != 1.0;
    if (s == VKD_OK) s = vkd_prior_encode(p, a.prompt, &cond);
    if (s == VKD_OK && guided)
        s = a.negative ? vkd_prior_encode(p, a.negative, &unc) : vkd_prior_encode_uncond(p, &unc);
    int steps = 0;
    if (s == VKD_OK) s = vkd_sample_steps(p, &a.so, &steps);
    if (s == VKD_OK) {
        const vkd_prior_info_t *in = vkd_prior_info(p);
        samples = malloc(sizeof(float) * (size_t)a.n * in->channels * in->height * in->width);
        if (!samples) s = vkd_fail(VKD_ERR_NOMEM, "out of host memory for %ld samples", a.n);
    }
    if (s == VKD_OK) {
        vkd_progress_t pb;
        vkd_progress_init(&pb, stderr, "sampling", (uint64_t)steps, "step");
        s = vkd_sample(p, samples, (int)a.n, cond, unc, &a.so, &pb);
        vkd_progress_finish(&pb);
    }
    if (s == VKD_OK) s = write_grid(p, samples, &a);
    if (s == VKD_OK) {
        const vkd_prior_info_t *in = vkd_prior_info(p);
        printf("wrote %s: %ld sample%s of \"%s\" (%dx%d) from %s, %s %d steps, guidance %g%s%s%s, "
               "seed %llu\n", a.out, a.n, a.n == 1 ? "" : "s", a.prompt, in->width, in->height,
               oracle ? "the oracle prior" : prior_path, vkd_sampler_name(a.so.kind), steps,
               (double)a.so.guidance.scale, a.negative ? ", negative \"" : "",
               a.negative ? a.negative : "", a.negative ? "\"" : "", (unsigned long long)a.so.seed);
    }
    if (s == VKD_OK && a.judge) s = judge_samples(p, samples, &a, judge_obj);
    free(samples);
    vkd_prior_cond_free(cond);
    vkd_prior_cond_free(unc);
    vkd_prior_free(p);
    vkd_backend_destroy(be);
    if (s != VKD_OK) return cli_error(oracle && strstr(vkd_last_error(), "caption")
                                          ? "the oracle knows prompts like \"a red cube\" or "
                                            "\"an orange torus, side view\""
                                          : NULL);
    return 0;
}
