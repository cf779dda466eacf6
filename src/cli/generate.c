// `vkdream generate "PROMPT"`: the SDS loop (src/dream.h) with its run directory: flags,
// checks before any work, progress, periodic checkpoints and previews, SIGINT/SIGTERM,
// --resume, and the final outputs (turntable, mesh, metrics).
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "dream.h"
#include "dream_score.h"
#include "dream_view.h"
#include "fileio.h"
#include "nerf/mesh_field.h"
#include "progress.h"
#include "shapeworld.h"

#define CONFIG_FORMAT "vkdream-generate-1"
#define CKPT_EVERY 250      // steps between checkpoints
#define PREVIEW_EVERY_S 20.0 // seconds between preview refreshes

static void usage(FILE *f) {
    fprintf(f,
            "usage: vkdream generate \"PROMPT\" [options]\n"
            "       vkdream generate --resume DIR [--device D]\n"
            "\n"
            "Optimises a NeRF so that its renders from random cameras look like the prompt to a\n"
            "diffusion prior (score distillation). DIR receives checkpoint.safetensors,\n"
            "turntable.png, preview.png (refreshed while it runs), mesh.glb, config.json,\n"
            "log.jsonl and metrics.json (with ground-truth scores for ShapeWorld prompts).\n"
            "Ctrl-C saves a checkpoint; --resume DIR continues exactly where it stopped.\n"
            "\n"
            "options:\n"
            "  -o DIR            output directory (out/<prompt as a slug>)\n"
            "  --prior P         prior file (.json), or \"oracle\": the exact posterior-mean\n"
            "                    denoiser of the prompt's ShapeWorld object (default: the bundled\n"
            "                    models/" CLI_BUNDLED_PRIOR ")\n"
            "  --steps N         SDS steps (1000)\n"
            "  --seed S          seed of every random draw (0)\n"
            "  --guidance G      classifier-free guidance scale s in eps_u + s (eps_c - eps_u)\n"
            "                    (20; 1 for the oracle, whose conditional is exact)\n"
            "  --negative TEXT   negative prompt (replaces the unconditional prediction)\n"
            "  --t-min F         smallest diffusion time, fraction of T (0.02)\n"
            "  --t-max F         largest diffusion time at the start (0.98) ...\n"
            "  --t-end F         ... annealed linearly to this over the second half (0.5)\n"
            "  --weighting W     sds (1 - abar_t), uniform or fantasia3d (sds)\n"
            "  --res R           render size: the prior's image size times 1..8, box-filtered\n"
            "                    down to it (the prior's size)\n"
            "  --views N         cameras per step, 1..16 (1)\n"
            "  --lr LR           Adam learning rate (see vkdream generate --help defaults)\n"
            "  --reg-ramp F      the sparsity regularisers (opacity, entropy) rise from 0 over\n"
            "                    this fraction of the run (0.3)\n"
            "  --lit P           probability of a lit (shaded) step after the albedo warm-up\n"
            "                    (0.75; 0 for the oracle: see README)\n"
            "  --device D        auto, cpu, vulkan, vulkan:N (auto)\n"
            "  --resume DIR      continue the run in DIR (its config.json and checkpoint)\n"
            "  --view            show the field in a window while it is optimised (needs a\n"
            "                    display; mouse and keys as in vkdream view, S saves a PNG into\n"
            "                    DIR). Frames take at most 10%% of the time (35%% while you drag\n"
            "                    the view); the results are the same as without. Closing the\n"
            "                    window does not stop the run. Also with --resume.\n"
            "  --view-camera A,E,D  its start camera (30,20,2.2)\n"
            "  --view-size WxH   its window size (640x480)\n"
            "  --view-screenshot FILE  write the final frame (full resolution, as `vkdream\n"
            "                    render --camera` draws the checkpoint) to FILE.png\n"
            "  --view-validate   enable the Vulkan validation layer for the window\n"
            "  -h, --help        this help\n");
}

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "vkdream generate: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\n");
    usage(stderr);
    return 2;
}

typedef struct {
    char prompt[VKD_PROMPT_MAX + 1];
    char negative[VKD_PROMPT_MAX + 1];
    char prior[PATH_MAX];   // "oracle" or a path ("" = the bundled one)
    char dir[PATH_MAX];
    const char *device;
    const char *resume;
    int guidance_set, lit_set, lr_set;
    double lit;
    vkd_dream_opts_t o;
    int view;                  // --view
    vkd_view_opts_t vo;        // its window
    const char *view_shot;     // --view-screenshot
} gen_args_t;

static const char *weighting_name(vkd_sds_weighting_t w) {
    return w == VKD_SDS_W_UNIFORM ? "uniform" : w == VKD_SDS_W_FANTASIA3D ? "fantasia3d" : "sds";
}

static int parse_weighting(const char *s, vkd_sds_weighting_t *w) {
    if (!strcmp(s, "sds")) *w = VKD_SDS_W_SDS;
    else if (!strcmp(s, "uniform")) *w = VKD_SDS_W_UNIFORM;
    else if (!strcmp(s, "fantasia3d")) *w = VKD_SDS_W_FANTASIA3D;
    else return 0;
    return 1;
}

// 0 on success, -1 after --help, else the exit code (usage printed).
static int parse_args(int argc, char **argv, gen_args_t *a) {
    memset(a, 0, sizeof *a);
    a->o = vkd_dream_opts_default();
    a->vo = vkd_view_opts_default();
    int n_run_flags = 0, have_prompt = 0;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) {
            usage(stdout);
            return -1;
        }
        if (f[0] != '-' || !f[1]) {
            if (have_prompt) return usage_error("more than one prompt ('%s'); quote the prompt", f);
            if (strlen(f) > VKD_PROMPT_MAX) return usage_error("the prompt is longer than %s bytes", "1024");
            snprintf(a->prompt, sizeof a->prompt, "%s", f);
            have_prompt = 1;
            continue;
        }
        // The window's flags change nothing in the run: allowed with --resume too.
        if (!strcmp(f, "--view") || !strcmp(f, "--view-validate")) {
            if (!strcmp(f, "--view")) a->view = 1;
            else a->vo.validation = 1;
            continue;
        }
        if (!strncmp(f, "--view-", 7)) {
            if (!v) return usage_error("option %s needs a value", f);
            i++;
            if (!strcmp(f, "--view-camera")) {
                if (vkd_view_parse_camera(v, &a->vo.cam)) return usage_error("%s", vkd_last_error());
            } else if (!strcmp(f, "--view-size")) {
                int used = 0;
                if (sscanf(v, "%dx%d%n", &a->vo.width, &a->vo.height, &used) != 2 || v[used] ||
                    a->vo.width < 8 || a->vo.height < 8 || a->vo.width > 8192 || a->vo.height > 8192)
                    return usage_error("--view-size: '%s' is not WxH with each in 8..8192", v);
            } else if (!strcmp(f, "--view-screenshot")) {
                a->view_shot = v;
            } else {
                return usage_error("unknown option '%s'", f);
            }
            continue;
        }
        static const char *const with_value[] = {
            "-o",     "--prior", "--steps", "--seed", "--guidance", "--negative", "--t-min",
            "--t-max", "--t-end", "--weighting", "--res", "--views", "--lr", "--lit",
            "--reg-ramp", "--device", "--resume"};
        int known = 0;
        for (size_t k = 0; k < sizeof with_value / sizeof *with_value; k++) known |= !strcmp(f, with_value[k]);
        if (!known) return usage_error("unknown option '%s'", f);
        if (!v) return usage_error("option %s needs a value", f);
        i++;
        if (strcmp(f, "--device") && strcmp(f, "--resume")) n_run_flags++;
        if (!strcmp(f, "-o")) {
            if (!*v || strlen(v) >= sizeof a->dir - 64) return usage_error("-o: '%s' is not a usable directory", v);
            snprintf(a->dir, sizeof a->dir, "%s", v);
        } else if (!strcmp(f, "--prior")) {
            if (!*v || strlen(v) >= sizeof a->prior) return usage_error("--prior: '%s' is not a usable path", v);
            snprintf(a->prior, sizeof a->prior, "%s", v);
        } else if (!strcmp(f, "--steps")) {
            if (!cli_parse_int(v, 1, 10000000, &a->o.steps))
                return usage_error("--steps: '%s' is not an integer in 1..10000000", v);
        } else if (!strcmp(f, "--seed")) {
            if (!cli_parse_u64(v, &a->o.seed)) return usage_error("--seed: '%s' is not an unsigned integer", v);
        } else if (!strcmp(f, "--guidance")) {
            if (!cli_parse_double(v, 0, 1000, &d)) return usage_error("--guidance: '%s' is not a number in 0..1000", v);
            a->o.sds.guidance.scale = (float)d, a->guidance_set = 1;
        } else if (!strcmp(f, "--negative")) {
            if (strlen(v) > VKD_PROMPT_MAX) return usage_error("--negative: longer than %s bytes", "1024");
            snprintf(a->negative, sizeof a->negative, "%s", v);
        } else if (!strcmp(f, "--t-min") || !strcmp(f, "--t-max") || !strcmp(f, "--t-end")) {
            if (!cli_parse_double(v, 0, 1, &d)) return usage_error("%s: not a number in 0..1", f);
            float *dst = !strcmp(f, "--t-min") ? &a->o.sds.t_min : !strcmp(f, "--t-max") ? &a->o.sds.t_max
                                                                                         : &a->o.t_max_end;
            *dst = (float)d;
        } else if (!strcmp(f, "--weighting")) {
            if (!parse_weighting(v, &a->o.sds.weighting))
                return usage_error("--weighting: '%s' is not sds, uniform or fantasia3d", v);
        } else if (!strcmp(f, "--res")) {
            if (!cli_parse_int(v, 8, 2048, &a->o.res)) return usage_error("--res: '%s' is not an integer in 8..2048", v);
        } else if (!strcmp(f, "--views")) {
            if (!cli_parse_int(v, 1, 16, &a->o.views)) return usage_error("--views: '%s' is not an integer in 1..16", v);
        } else if (!strcmp(f, "--lr")) {
            if (!cli_parse_double(v, 1e-7, 1, &d)) return usage_error("--lr: '%s' is not a number in 1e-7..1", v);
            a->o.nerf.lr = (float)d, a->lr_set = 1;
        } else if (!strcmp(f, "--reg-ramp")) {
            if (!cli_parse_double(v, 0, 1, &d)) return usage_error("--reg-ramp: '%s' is not a number in 0..1", v);
            a->o.reg_ramp = (float)d;
        } else if (!strcmp(f, "--lit")) {
            if (!cli_parse_double(v, 0, 1, &a->lit)) return usage_error("--lit: '%s' is not a number in 0..1", v);
            a->lit_set = 1;
        } else if (!strcmp(f, "--device")) {
            a->device = v;
        } else {
            a->resume = v;
        }
    }
    if (!a->view && (a->view_shot || a->vo.validation || a->vo.width != 640 || a->vo.height != 480))
        return usage_error("%s", "--view-screenshot, --view-size and --view-validate need --view");
    if (a->resume) {
        if (have_prompt || n_run_flags)
            return usage_error("%s", "--resume DIR takes the prompt and every setting from DIR/config.json; "
                                     "give only --device (and the --view flags) with it");
        return 0;
    }
    if (!have_prompt) return usage_error("%s", "give a prompt, e.g. vkdream generate \"a red cube\" --prior oracle");
    return 0;
}

// "a red cube" -> "a-red-cube": lowercase letters and digits, runs of anything else -> '-'.
static int is_blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') return 0;
    return 1;
}

static void path_in(char *out, size_t cap, const char *dir, const char *file) {
    snprintf(out, cap, "%s/%s", dir, file);
}

// ---- config.json ------------------------------------------------------------------------

static vkd_status_t write_config(const gen_args_t *a, const char *path) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return vkd_fail(VKD_ERR_NOMEM, "config.json: out of memory");
    const vkd_dream_opts_t *o = &a->o;
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    cJSON_AddStringToObject(j, "format", CONFIG_FORMAT);
    cJSON_AddStringToObject(j, "prompt", a->prompt);
    cJSON_AddStringToObject(j, "negative", a->negative);
    cJSON_AddStringToObject(j, "prior", a->prior);
    cJSON_AddNumberToObject(j, "steps", o->steps);
    cJSON_AddStringToObject(j, "seed", seed);
    cJSON_AddNumberToObject(j, "guidance", o->sds.guidance.scale);
    cJSON_AddNumberToObject(j, "t_min", o->sds.t_min);
    cJSON_AddNumberToObject(j, "t_max", o->sds.t_max);
    cJSON_AddNumberToObject(j, "t_max_end", o->t_max_end);
    cJSON_AddNumberToObject(j, "t_anneal_start", o->t_anneal_start);
    cJSON_AddStringToObject(j, "weighting", weighting_name(o->sds.weighting));
    cJSON_AddNumberToObject(j, "grad_clip", o->sds.grad_clip);
    cJSON_AddNumberToObject(j, "res", o->res);
    cJSON_AddNumberToObject(j, "views", o->views);
    cJSON_AddNumberToObject(j, "albedo_steps", (double)o->shade.albedo_steps);
    cJSON_AddNumberToObject(j, "p_lit", o->shade.p_lit);
    cJSON_AddNumberToObject(j, "p_textureless", o->shade.p_textureless);
    cJSON_AddNumberToObject(j, "max_skips", o->max_skips);
    cJSON_AddNumberToObject(j, "reg_ramp", o->reg_ramp);
    char *nerf = vkd_nerf_config_to_json(&o->nerf);
    cJSON *nj = nerf ? cJSON_Parse(nerf) : NULL;
    free(nerf);
    if (nj) cJSON_AddItemToObject(j, "nerf", nj);
    char *txt = nj ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    if (!txt) return vkd_fail(VKD_ERR_NOMEM, "config.json: out of memory");
    vkd_status_t s = vkd_file_write_atomic(path, txt, strlen(txt));
    free(txt);
    return s;
}

static int j_num(const cJSON *j, const char *k, double *v) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, k);
    if (!cJSON_IsNumber(x)) return 0;
    *v = x->valuedouble;
    return 1;
}

static int j_str(const cJSON *j, const char *k, char *out, size_t cap) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, k);
    if (!cJSON_IsString(x) || strlen(x->valuestring) >= cap) return 0;
    snprintf(out, cap, "%s", x->valuestring);
    return 1;
}

// The prompt of the run in dir (when config.json exists): 1 found, 0 none, -1 unreadable.
static int config_prompt(const char *path, char *prompt, size_t cap) {
    if (access(path, F_OK) != 0) return 0;
    char *buf = NULL;
    size_t n;
    if (vkd_file_read_all(path, &buf, &n)) return -1;
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    const int ok = j && j_str(j, "prompt", prompt, cap);
    cJSON_Delete(j);
    return ok ? 1 : -1;
}

static vkd_status_t read_config(const char *path, gen_args_t *a) {
    char *buf = NULL;
    size_t n;
    VKD_TRY(vkd_file_read_all(path, &buf, &n));
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    vkd_dream_opts_t *o = &a->o;
    double d[15];
    char fmt[32] = "", seed[24] = "", w[16] = "";
    static const char *const keys[15] = {"steps", "guidance", "t_min", "t_max", "t_max_end",
                                         "t_anneal_start", "grad_clip", "res", "views",
                                         "albedo_steps", "p_lit", "p_textureless", "max_skips"};
    int ok = j && j_str(j, "format", fmt, sizeof fmt) && !strcmp(fmt, CONFIG_FORMAT) &&
             j_str(j, "prompt", a->prompt, sizeof a->prompt) &&
             j_str(j, "negative", a->negative, sizeof a->negative) &&
             j_str(j, "prior", a->prior, sizeof a->prior) && j_str(j, "seed", seed, sizeof seed) &&
             cli_parse_u64(seed, &o->seed) && j_str(j, "weighting", w, sizeof w) &&
             parse_weighting(w, &o->sds.weighting);
    for (int i = 0; i < 13 && ok; i++) ok = j_num(j, keys[i], &d[i]);
    const cJSON *nj = ok ? cJSON_GetObjectItemCaseSensitive(j, "nerf") : NULL;
    char *ntxt = nj ? cJSON_PrintUnformatted(nj) : NULL;
    vkd_status_t s = VKD_OK;
    if (!ok || !ntxt)
        s = vkd_fail(VKD_ERR_FORMAT, "%s is not a vkdream generate config (missing or malformed key); "
                     "it cannot be resumed", path);
    if (!s) s = vkd_nerf_config_from_json(ntxt, path, &o->nerf);
    double ramp = 0; // absent in runs made before the ramp existed: none, as they ran
    o->reg_ramp = j && j_num(j, "reg_ramp", &ramp) ? (float)ramp : 0.0f;
    free(ntxt);
    cJSON_Delete(j);
    VKD_TRY(s);
    o->steps = (int)d[0], o->sds.guidance.scale = (float)d[1], o->sds.t_min = (float)d[2];
    o->sds.t_max = (float)d[3], o->t_max_end = (float)d[4], o->t_anneal_start = (float)d[5];
    o->sds.grad_clip = (float)d[6], o->res = (int)d[7], o->views = (int)d[8];
    o->shade.albedo_steps = (uint64_t)d[9], o->shade.p_lit = (float)d[10];
    o->shade.p_textureless = (float)d[11], o->max_skips = (int)d[12];
    a->guidance_set = a->lit_set = a->lr_set = 1;
    a->lit = o->shade.p_lit;
    return VKD_OK;
}

// log.jsonl keeps the lines of steps before `keep` (a resumed run rewrites what follows).
static vkd_status_t trim_log(const char *path, uint64_t keep) {
    char *buf = NULL;
    size_t n;
    if (access(path, F_OK) != 0) return VKD_OK;
    VKD_TRY(vkd_file_read_all(path, &buf, &n));
    vkd_afile_t *f;
    vkd_status_t s = vkd_afile_open(path, &f);
    for (char *line = buf, *next; !s && line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        unsigned long long step;
        if (sscanf(line, "{\"step\": %llu", &step) == 1 && step < keep) s = vkd_afile_printf(f, "%s\n", line);
    }
    if (!s) s = vkd_afile_commit(f);
    free(buf);
    return s;
}

// ---- signals ------------------------------------------------------------------------------

static volatile sig_atomic_t g_signal = 0;
static void on_signal(int sig) { g_signal = sig; }

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// ---- the run --------------------------------------------------------------------------------

typedef struct {
    gen_args_t *a;
    vkd_backend_t *be;
    vkd_prior_t *p;
    vkd_dream_t *d;
    int oracle, is_sw;
    vkd_sw_object_t obj;
    char ckpt[PATH_MAX + 32], preview[PATH_MAX + 32], log[PATH_MAX + 32];
    vkd_dream_view_t *view; // --view (NULL without)
} run_t;

// The ShapeWorld oracle renders its image sets in albedo shading: it cannot condition on
// the shading mode, and a mixed set pulls albedo renders towards lit and grey textureless
// images (measured: a red cube came out pink-grey, IoU 0.2 at 400 steps, against 0.81
// with albedo sets and albedo steps); so SDS with it renders albedo only unless --lit.
static vkd_status_t open_prior(run_t *R) {
    gen_args_t *a = R->a;
    if (!strcmp(a->prior, "oracle")) {
        R->oracle = 1;
        vkd_oracle_opts_t oo = vkd_oracle_opts_default();
        oo.shading = VKD_ORACLE_SHADE_ALBEDO;
        return vkd_prior_oracle_create(&oo, &R->p);
    }
    return vkd_prior_load(a->prior, R->be, &R->p);
}

// Final outputs: checkpoint, turntable, mesh, metrics.
static vkd_status_t finish(run_t *R, double seconds, double loss_tail, uint64_t done) {
    const char *dir = R->a->dir;
    char path[PATH_MAX + 32];
    VKD_TRY(vkd_dream_save(R->d, R->ckpt));
    // A short run may end before the occupancy grid's warm-up: without it the pictures
    // below cost 10-50x more. The grid only skips empty space (nerf/README.md).
    vkd_nerf_renderer_t *r = vkd_dream_renderer(R->d);
    if (!vkd_nerf_grid_ready(r)) VKD_TRY(vkd_nerf_grid_refresh(r, done));
    path_in(path, sizeof path, dir, "turntable.png");
    VKD_TRY(vkd_dream_write_turntable(vkd_dream_renderer(R->d), path, 8, 64));
    // The solid is scored and meshed at density 5 (dream_score.h: VKD_DREAM_SDS_ISO), so
    // metrics.json and mesh.glb describe the same solid.
    vkd_dream_score_opts_t so = vkd_dream_score_opts_default();
    so.iso = VKD_DREAM_SDS_ISO;
    vkd_nerf_mesh_opts_t mo = vkd_nerf_mesh_opts_default();
    mo.threshold = so.iso;
    path_in(path, sizeof path, dir, "mesh.glb");
    vkd_nerf_mesh_info_t mi;
    vkd_status_t ms = vkd_nerf_export_mesh_file(vkd_dream_field(R->d), &mo, path, R->a->prompt, &mi);
    if (ms) fprintf(stderr, "vkdream generate: no mesh.glb: %s\n", vkd_last_error());
    cJSON *j = cJSON_CreateObject();
    if (!j) return vkd_fail(VKD_ERR_NOMEM, "metrics.json: out of memory");
    cJSON_AddStringToObject(j, "prompt", R->a->prompt);
    cJSON_AddNumberToObject(j, "steps", (double)done);
    cJSON_AddNumberToObject(j, "seconds", seconds);
    cJSON_AddNumberToObject(j, "steps_per_second", seconds > 0 ? R->a->o.steps / seconds : 0);
    cJSON_AddNumberToObject(j, "skipped_steps", vkd_dream_skips(R->d));
    cJSON_AddNumberToObject(j, "final_loss", loss_tail);
    cJSON_AddStringToObject(j, "device", vkd_backend_name(R->be));
    cJSON_AddBoolToObject(j, "mesh", ms == VKD_OK);
    if (R->is_sw) {
        vkd_dream_score_t sc;
        VKD_TRY(vkd_dream_score(vkd_dream_field(R->d), R->obj, &so, &sc));
        char *txt = vkd_dream_score_json(&sc, R->obj, &so);
        cJSON *sj = txt ? cJSON_Parse(txt) : NULL;
        free(txt);
        if (sj) cJSON_AddItemToObject(j, "score", sj);
        printf("score: IoU %.3f (rotation %g deg; best shape %s%s), colour %s (%s)\n", sc.iou,
               (double)sc.rot_deg, vkd_sw_shape_name((vkd_sw_shape_t)sc.best_shape),
               sc.shape_correct ? ", correct" : ", WRONG",
               sc.colour < 0 ? "none" : vkd_sw_colour_name((vkd_sw_colour_t)sc.colour),
               sc.colour_correct ? "correct" : "WRONG");
    } else {
        cJSON_AddNullToObject(j, "score");
    }
    char *txt = cJSON_Print(j);
    cJSON_Delete(j);
    if (!txt) return vkd_fail(VKD_ERR_NOMEM, "metrics.json: out of memory");
    path_in(path, sizeof path, dir, "metrics.json");
    vkd_status_t s = vkd_file_write_atomic(path, txt, strlen(txt));
    free(txt);
    return s;
}

// Returns the exit code.
static int train(run_t *R, uint64_t start) {
    const vkd_dream_opts_t *o = vkd_dream_opts(R->d);
    FILE *log = fopen(R->log, start ? "a" : "w");
    if (!log) {
        vkd_fail(VKD_ERR_IO, "cannot write %s: %s", R->log, strerror(errno));
        return cli_error(NULL);
    }
    install_signals();
    vkd_progress_t pb;
    vkd_progress_init(&pb, stderr, "generate", (uint64_t)o->steps, "step");
    vkd_progress_update(&pb, start);
    const double t0 = now_s();
    double last_preview = t0, loss_tail = 0;
    int n_tail = 0, rc = 0;
    vkd_status_t s = VKD_OK;
    uint64_t step = start;
    vkd_dream_view_tick(R->view, R->d); // the field before the first step
    while (step < (uint64_t)o->steps && !g_signal) {
        vkd_dream_step_info_t in;
        s = vkd_dream_step(R->d, &in);
        step = vkd_dream_steps_done(R->d);
        fprintf(log, "{\"step\": %llu, \"loss\": %.6g, \"t\": %d, \"t_max\": %.4g, \"grad_norm\": %.6g, "
                     "\"mode\": \"%s\", \"samples\": %d, \"ms\": %.2f, \"time\": %.3f, \"skipped\": %s}\n",
                (unsigned long long)in.step, in.loss, in.t, (double)in.t_max, in.grad_norm,
                vkd_shade_mode_name(in.mode), in.samples, in.ms, now_s() - t0,
                in.skipped ? "true" : "false");
        fflush(log);
        if (s) break;
        if (step + 50 > (uint64_t)o->steps && !in.skipped) loss_tail += in.loss, n_tail++;
        vkd_progress_note(&pb, "loss %.3f t %d%s", in.loss, in.t, in.skipped ? " SKIPPED" : "");
        vkd_progress_update(&pb, step);
        if (step % CKPT_EVERY == 0 && step < (uint64_t)o->steps && (s = vkd_dream_save(R->d, R->ckpt))) break;
        if (now_s() - last_preview > PREVIEW_EVERY_S) {
            if ((s = vkd_dream_write_preview(vkd_dream_renderer(R->d), R->preview))) break;
            last_preview = now_s();
        }
        vkd_dream_view_tick(R->view, R->d); // a frame when the view's time budget allows
    }
    vkd_progress_finish(&pb);
    fclose(log);
    if (s) return cli_error(vkd_dream_skips(R->d) ? "the last good checkpoint is kept in the output directory" : NULL);
    if (g_signal) {
        s = vkd_dream_save(R->d, R->ckpt);
        if (!s) s = vkd_dream_write_preview(vkd_dream_renderer(R->d), R->preview);
        if (s) return cli_error(NULL);
        fprintf(stderr, "vkdream generate: %s at step %llu of %d; saved %s\n  continue with: "
                        "vkdream generate --resume %s\n", g_signal == SIGINT ? "interrupted" : "terminated",
                (unsigned long long)step, o->steps, R->ckpt, R->a->dir);
        return 128 + g_signal;
    }
    const double secs = now_s() - t0;
    if (R->view) {
        int frames;
        double fs;
        vkd_dream_view_stats(R->view, &frames, &fs);
        printf("view: %d frames in %.2f s (%.1f%% of the run)\n", frames, fs,
               secs > 0 ? 100.0 * fs / secs : 0.0);
        // The final field, as `vkdream render` will draw the checkpoint. A view problem
        // costs the picture, not the run's outputs.
        if (vkd_dream_view_final(R->view, R->d, R->a->view_shot))
            fprintf(stderr, "vkdream generate: %s\n", vkd_last_error());
        else if (R->a->view_shot && vkd_dream_view_is_open(R->view))
            printf("view: wrote %s\n", R->a->view_shot);
        fflush(stdout);
    }
    if ((s = vkd_dream_write_preview(vkd_dream_renderer(R->d), R->preview)) ||
        (s = finish(R, secs, n_tail ? loss_tail / n_tail : 0, step)))
        return cli_error(NULL);
    printf("generate: \"%s\": %d steps in %.1f s (%.1f steps/s) -> %s/ (checkpoint.safetensors, "
           "turntable.png, mesh.glb, metrics.json)\n", R->a->prompt, o->steps, secs,
           secs > 0 ? (double)(step - start) / secs : 0.0, R->a->dir);
    return rc;
}

// The live view (--view): file scope, so that every way out of generate() closes it.
static vkd_dream_view_t *g_view = NULL;

static int generate(int argc, char **argv) {
    gen_args_t a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    run_t R = {.a = &a};
    if (a.view) {
        // Before any work: without a display this fails at once, and says so (a long run
        // silently without the window it was asked for would be worse).
        // The title and S's folder: a's buffers, filled in below (before any frame).
        a.vo.prompt = a.prompt;
        a.vo.shot_dir = a.dir;
        if (vkd_dream_view_open(&a.vo, &g_view))
            return cli_error("run without --view (preview.png in the output directory is refreshed "
                             "while it runs), or under a virtual display (xvfb-run)");
        R.view = g_view;
    }
    char cfg_path[PATH_MAX + 32];
    if (a.resume) {
        snprintf(a.dir, sizeof a.dir, "%s", a.resume);
        path_in(cfg_path, sizeof cfg_path, a.dir, "config.json");
        if (access(cfg_path, R_OK) != 0) {
            vkd_fail(VKD_ERR_IO, "cannot resume '%s': it has no config.json (not a generate run)", a.dir);
            return cli_error(NULL);
        }
        const char *dev = a.device, *res = a.resume;
        if (read_config(cfg_path, &a)) return cli_error(NULL);
        a.device = dev, a.resume = res;
    }
    if (is_blank(a.prompt)) {
        vkd_fail(VKD_ERR_INVALID, "the prompt is empty");
        return cli_error("e.g. vkdream generate \"a red cube\" --prior oracle");
    }
    R.is_sw = vkd_sw_parse(a.prompt, &R.obj, NULL) == VKD_OK;
    if (!*a.prior) {
        char tried[4 * PATH_MAX];
        if (!cli_find_model(CLI_BUNDLED_PRIOR, a.prior, sizeof a.prior, tried, sizeof tried)) {
            fprintf(stderr, "vkdream generate: no prior is bundled yet (looked for %s).\n"
                            "  Use --prior oracle (the exact prior of a ShapeWorld object, e.g. vkdream "
                            "generate \"a red cube\" --prior oracle)\n  or --prior FILE.json for a "
                            "trained prior.\n", tried);
            return 1;
        }
    }
    const int oracle = !strcmp(a.prior, "oracle");
    if (oracle && !R.is_sw) {
        vkd_sw_parse(a.prompt, &R.obj, NULL); // for its message listing the known words
        return cli_error("the oracle prior knows ShapeWorld prompts such as \"a red cube\"");
    }
    if (!a.resume) {
        if (oracle && !a.guidance_set) a.o.sds.guidance.scale = 1.0f;
        a.o.shade.p_lit = (float)(a.lit_set ? a.lit : oracle ? 0.0 : a.o.shade.p_lit);
        a.o.shade.albedo_steps = (uint64_t)(a.o.steps / 10);
        if (!*a.dir) {
            char slug[80];
            cli_slugify(a.prompt, slug, sizeof slug);
            snprintf(a.dir, sizeof a.dir, "out/%s", slug);
        }
    }
    // The output directory: creatable, writable, and not another prompt's run.
    if (vkd_mkdir_p(a.dir)) return cli_error("choose another directory with -o DIR");
    path_in(cfg_path, sizeof cfg_path, a.dir, "config.json");
    char probe[PATH_MAX + 32];
    path_in(probe, sizeof probe, a.dir, ".write-test");
    vkd_afile_t *pf;
    if (vkd_afile_open(probe, &pf)) return cli_error("choose a writable directory with -o DIR");
    vkd_afile_abort(pf);
    if (!a.resume) {
        char other[VKD_PROMPT_MAX + 1];
        const int k = config_prompt(cfg_path, other, sizeof other);
        if (k < 0 || (k > 0 && strcmp(other, a.prompt))) {
            if (k < 0) vkd_fail(VKD_ERR_INVALID, "output directory '%s' holds an unreadable config.json", a.dir);
            else vkd_fail(VKD_ERR_INVALID, "output directory '%s' holds a run of \"%s\", not \"%s\"", a.dir, other, a.prompt);
            return cli_error("choose another directory with -o DIR (or delete that one)");
        }
    }
    path_in(R.ckpt, sizeof R.ckpt, a.dir, "checkpoint.safetensors");
    path_in(R.preview, sizeof R.preview, a.dir, "preview.png");
    path_in(R.log, sizeof R.log, a.dir, "log.jsonl");
    const vkd_backend_opts_t bo = {a.device, -1, 1};
    vkd_status_t s = vkd_backend_create(&bo, &R.be);
    if (!s) s = open_prior(&R);
    if (!s) s = vkd_dream_create(R.be, R.p, a.prompt, *a.negative ? a.negative : NULL, &a.o, &R.d);
    uint64_t start = 0;
    if (!s && a.resume) {
        s = vkd_dream_resume(R.d, R.ckpt);
        start = vkd_dream_steps_done(R.d);
        if (!s) s = trim_log(R.log, start);
    }
    if (!s && !a.resume) s = write_config(&a, cfg_path);
    if (s) {
        rc = cli_error(NULL);
    } else {
        printf("generate: \"%s\" with %s, %d steps (seed %llu, guidance %g, %s) -> %s/%s\n", a.prompt,
               oracle ? "the oracle prior" : a.prior, a.o.steps, (unsigned long long)a.o.seed,
               (double)a.o.sds.guidance.scale, vkd_backend_name(R.be), a.dir,
               start ? " (resumed)" : "");
        fflush(stdout);
        rc = train(&R, start);
    }
    vkd_dream_destroy(R.d);
    vkd_prior_free(R.p);
    vkd_backend_destroy(R.be);
    return rc;
}

int cmd_generate(int argc, char **argv) {
    const int rc = generate(argc, argv);
    const vkd_status_t s = vkd_dream_view_close(g_view);
    g_view = NULL;
    return s && !rc ? cli_error(NULL) : rc;
}
