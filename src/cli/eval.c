// `vkdream eval --prompts FILE`: generate (or reuse) a run per ShapeWorld prompt and score
// it against the ground truth: occupancy IoU and shape/colour from the field (generate's
// metrics.json, src/dream_score.h), the judge's verdicts on the 8 shaded turntable views,
// seconds per prompt. Writes DIR/eval.json and DIR/eval.md.
//
// Each prompt runs as a child `vkdream generate` process (the same binary): the run is
// exactly what a user gets from the command line, a crash or a failed run costs one prompt
// and not the evaluation, and the child's checkpoint/--resume machinery makes an
// interrupted evaluation continue where it stopped.
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fileio.h"
#include "image.h"
#include "judge.h"
#include "shapeworld.h"

#define MAX_PROMPTS 256
#define TT_VIEWS 8 // generate's turntable.png: rows of 8 tiles of 64 px, 2 px gaps
#define TT_RES 64
#define TT_GAP 2

static void usage(FILE *f) {
    fprintf(f,
            "usage: vkdream eval --prompts FILE [-o DIR] [--steps N] [--seed S] [--prior P]\n"
            "                    [--device D] [--force]\n"
            "\n"
            "For every ShapeWorld prompt in FILE (one per line, '#' comments), runs `vkdream\n"
            "generate` into DIR/<prompt slug> (or reuses a finished run there) and scores it\n"
            "against the ground-truth object: occupancy IoU at the best rotation about the\n"
            "vertical axis, shape accuracy (the prompt's shape has the best IoU of all shapes),\n"
            "colour accuracy (surface albedo vs the palette), the judge's verdicts on the 8\n"
            "shaded turntable views, and seconds per prompt. Writes DIR/eval.json and\n"
            "DIR/eval.md.\n"
            "\n"
            "  -o DIR        output directory (out/eval)\n"
            "  --steps N     passed to generate (its default otherwise)\n"
            "  --seed S      passed to generate\n"
            "  --prior P     passed to generate (a prior file or \"oracle\")\n"
            "  --device D    passed to generate\n"
            "  --force       run generate again even where a finished run exists\n");
}

static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vkdream eval: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n\n");
    usage(stderr);
    return 2;
}

typedef struct {
    char prompt[128];
    vkd_sw_object_t obj;
    char dir[PATH_MAX];
    int ok;        // a finished run was scored
    double iou, seconds;
    int shape_correct, colour_correct, judge_shape, judge_colour;
} eval_item_t;

typedef struct {
    const char *prompts, *out, *steps, *seed, *prior, *device;
    int force;
} eval_args_t;

// Prompts of the file: every one must be a ShapeWorld caption (this is ground-truth scoring).
static vkd_status_t read_prompts(const char *path, eval_item_t *items, int *n) {
    char *text = NULL;
    size_t len = 0;
    VKD_TRY(vkd_file_read_all(path, &text, &len));
    *n = 0;
    int line_no = 0;
    vkd_status_t s = VKD_OK;
    for (char *line = strtok(text, "\n"); line && s == VKD_OK; line = strtok(NULL, "\n")) {
        line_no++;
        while (*line == ' ' || *line == '\t') line++;
        size_t l = strlen(line);
        while (l && (line[l - 1] == '\r' || line[l - 1] == ' ' || line[l - 1] == '\t')) line[--l] = 0;
        if (!l || line[0] == '#') continue;
        if (*n >= MAX_PROMPTS) {
            s = vkd_fail(VKD_ERR_INVALID, "%s: more than %d prompts", path, MAX_PROMPTS);
            break;
        }
        eval_item_t *it = &items[*n];
        memset(it, 0, sizeof *it);
        if (l >= sizeof it->prompt) {
            s = vkd_fail(VKD_ERR_INVALID, "%s line %d: prompt too long", path, line_no);
            break;
        }
        snprintf(it->prompt, sizeof it->prompt, "%s", line);
        vkd_view_bin_t view;
        if (vkd_sw_parse(it->prompt, &it->obj, &view) != VKD_OK)
            s = vkd_fail_ctx(VKD_ERR_INVALID, "%s line %d: \"%s\" is not a ShapeWorld prompt (eval "
                             "scores against ground-truth objects)", path, line_no, it->prompt);
        else (*n)++;
    }
    free(text);
    if (s == VKD_OK && *n == 0) s = vkd_fail(VKD_ERR_INVALID, "%s holds no prompts", path);
    return s;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static cJSON *read_json(const char *path) {
    char *text = NULL;
    size_t n = 0;
    if (vkd_file_read_all(path, &text, &n) != VKD_OK) return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    return j;
}

// The finished run in it->dir, when its metrics say it is this prompt's (and, when steps
// were given, that many steps).
static int finished(const eval_item_t *it, const eval_args_t *a) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/metrics.json", it->dir);
    cJSON *j = read_json(path);
    if (!j) return 0;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "prompt");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "steps");
    int ok = cJSON_IsString(p) && !strcmp(p->valuestring, it->prompt);
    if (ok && a->steps) ok = cJSON_IsNumber(st) && st->valuedouble == atof(a->steps);
    cJSON_Delete(j);
    return ok;
}

// Run `vkdream generate` as a child; 0 when it succeeded.
static int run_generate(const eval_item_t *it, const eval_args_t *a) {
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return -1;
    self[n] = 0;
    char cfg[PATH_MAX + 16];
    snprintf(cfg, sizeof cfg, "%s/config.json", it->dir);
    const char *argv[24];
    int k = 0;
    argv[k++] = self;
    argv[k++] = "generate";
    if (exists(cfg) && !a->force) { // an interrupted run of this prompt: continue it
        argv[k++] = "--resume";
        argv[k++] = it->dir;
    } else {
        argv[k++] = it->prompt;
        argv[k++] = "-o";
        argv[k++] = it->dir;
        if (a->steps) argv[k++] = "--steps", argv[k++] = a->steps;
        if (a->seed) argv[k++] = "--seed", argv[k++] = a->seed;
        if (a->prior) argv[k++] = "--prior", argv[k++] = a->prior;
    }
    if (a->device) argv[k++] = "--device", argv[k++] = a->device;
    argv[k] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        execv(self, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The judge on the shaded row of turntable.png.
static vkd_status_t judge_turntable(const vkd_judge_t *j, eval_item_t *it) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/turntable.png", it->dir);
    float *img = NULL;
    int h = 0, w = 0, c = 0;
    VKD_TRY(vkd_image_read_png(path, VKD_PNG_SRGB, &img, &h, &w, &c));
    vkd_status_t s = VKD_OK;
    if (c != 3 || w != TT_VIEWS * TT_RES + (TT_VIEWS - 1) * TT_GAP || h < TT_RES)
        s = vkd_fail(VKD_ERR_FORMAT, "%s is not a turntable of %d views of %d px", path, TT_VIEWS, TT_RES);
    float *tile = malloc(sizeof(float) * TT_RES * TT_RES * 3);
    if (s == VKD_OK && !tile) s = vkd_fail(VKD_ERR_NOMEM, "eval: out of memory");
    for (int v = 0; v < TT_VIEWS && s == VKD_OK; v++) {
        for (int y = 0; y < TT_RES; y++)
            memcpy(tile + (size_t)y * TT_RES * 3, img + ((size_t)y * w + v * (TT_RES + TT_GAP)) * 3,
                   sizeof(float) * TT_RES * 3);
        vkd_judge_verdict_t vd;
        s = vkd_judge_image(j, tile, TT_RES, TT_RES, &vd);
        int so = 0, co = 0;
        if (s == VKD_OK) vkd_judge_match(&vd, it->obj, &so, &co);
        it->judge_shape += so, it->judge_colour += co;
    }
    free(tile);
    free(img);
    return s;
}

static vkd_status_t score(eval_item_t *it) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/metrics.json", it->dir);
    cJSON *j = read_json(path);
    if (!j) return vkd_fail(VKD_ERR_FORMAT, "%s is missing or not JSON", path);
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(j, "seconds");
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(j, "score");
    const cJSON *iou = sc ? cJSON_GetObjectItemCaseSensitive(sc, "iou") : NULL;
    const cJSON *sh = sc ? cJSON_GetObjectItemCaseSensitive(sc, "shape_correct") : NULL;
    const cJSON *co = sc ? cJSON_GetObjectItemCaseSensitive(sc, "colour_correct") : NULL;
    vkd_status_t s = VKD_OK;
    if (!cJSON_IsNumber(sec) || !cJSON_IsNumber(iou) || !cJSON_IsBool(sh) || !cJSON_IsBool(co))
        s = vkd_fail(VKD_ERR_FORMAT, "%s lacks seconds or score.{iou, shape_correct, colour_correct}", path);
    else {
        it->seconds = sec->valuedouble;
        it->iou = iou->valuedouble;
        it->shape_correct = cJSON_IsTrue(sh);
        it->colour_correct = cJSON_IsTrue(co);
    }
    cJSON_Delete(j);
    return s;
}

static vkd_status_t write_reports(const char *dir, const eval_item_t *items, int n) {
    cJSON *root = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(root, "prompts");
    double iou = 0, secs = 0;
    int sh = 0, co = 0, done = 0, js = 0, jc = 0;
    size_t cap = 4096 + (size_t)n * 256, m = 0;
    char *md = malloc(cap);
    if (!md) return vkd_fail(VKD_ERR_NOMEM, "eval: out of memory");
#define MD(...) m += (size_t)snprintf(md + m, cap - m, __VA_ARGS__)
    MD("| prompt | IoU | shape | colour | judge shape (of 8) | judge colour (of 8) | seconds |\n"
       "|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        const eval_item_t *it = &items[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "prompt", it->prompt);
        if (!it->ok) {
            cJSON_AddNullToObject(o, "iou");
            cJSON_AddBoolToObject(o, "shape_correct", 0);
            cJSON_AddBoolToObject(o, "colour_correct", 0);
            cJSON_AddNumberToObject(o, "judge_shape_correct", 0);
            cJSON_AddNumberToObject(o, "judge_colour_correct", 0);
            cJSON_AddNullToObject(o, "seconds");
            cJSON_AddStringToObject(o, "error", "the run failed (see its directory)");
            MD("| %s | failed | | | | | |\n", it->prompt);
        } else {
            cJSON_AddNumberToObject(o, "iou", it->iou);
            cJSON_AddBoolToObject(o, "shape_correct", it->shape_correct);
            cJSON_AddBoolToObject(o, "colour_correct", it->colour_correct);
            cJSON_AddNumberToObject(o, "judge_shape_correct", it->judge_shape);
            cJSON_AddNumberToObject(o, "judge_colour_correct", it->judge_colour);
            cJSON_AddNumberToObject(o, "seconds", it->seconds);
            MD("| %s | %.3f | %s | %s | %d | %d | %.0f |\n", it->prompt, it->iou,
               it->shape_correct ? "yes" : "no", it->colour_correct ? "yes" : "no", it->judge_shape,
               it->judge_colour, it->seconds);
            iou += it->iou, secs += it->seconds, done++;
            js += it->judge_shape, jc += it->judge_colour;
        }
        sh += it->ok && it->shape_correct, co += it->ok && it->colour_correct;
        cJSON_AddItemToArray(list, o);
    }
    cJSON *sum = cJSON_AddObjectToObject(root, "summary");
    cJSON_AddNumberToObject(sum, "shape_accuracy", (double)sh / n);
    cJSON_AddNumberToObject(sum, "colour_accuracy", (double)co / n);
    cJSON_AddNumberToObject(sum, "mean_iou", done ? iou / done : 0);
    cJSON_AddNumberToObject(sum, "mean_seconds", done ? secs / done : 0);
    cJSON_AddNumberToObject(sum, "judge_shape_accuracy", (double)js / (8.0 * n));
    cJSON_AddNumberToObject(sum, "judge_colour_accuracy", (double)jc / (8.0 * n));
    cJSON_AddNumberToObject(sum, "prompts", n);
    cJSON_AddNumberToObject(sum, "failed", n - done);
    MD("\n%d prompts (%d failed): shape accuracy %.0f%%, colour accuracy %.0f%%, mean IoU %.3f, "
       "judge %.0f%% shape / %.0f%% colour over %d views, %.0f s per prompt\n", n, n - done,
       100.0 * sh / n, 100.0 * co / n, done ? iou / done : 0, 100.0 * js / (8.0 * n),
       100.0 * jc / (8.0 * n), 8 * n, done ? secs / done : 0);
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    char path[PATH_MAX + 16];
    vkd_status_t s = txt ? VKD_OK : vkd_fail(VKD_ERR_NOMEM, "eval: out of memory");
    snprintf(path, sizeof path, "%s/eval.json", dir);
    if (s == VKD_OK) s = vkd_file_write_atomic(path, txt, strlen(txt));
    snprintf(path, sizeof path, "%s/eval.md", dir);
    if (s == VKD_OK) s = vkd_file_write_atomic(path, md, m);
    if (s == VKD_OK) fputs(md, stdout);
    free(txt), free(md);
    return s;
}

static int parse_args(int argc, char **argv, eval_args_t *a) {
    memset(a, 0, sizeof *a);
    a->out = "out/eval";
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) {
            usage(stdout);
            return -1;
        }
        if (!strcmp(f, "--force")) {
            a->force = 1;
            continue;
        }
        if (f[0] != '-') return usage_error("unexpected argument '%s'", f);
        if (!v) return usage_error("option %s needs a value", f);
        i++;
        long k;
        uint64_t u;
        if (!strcmp(f, "--prompts")) a->prompts = v;
        else if (!strcmp(f, "-o")) a->out = v;
        else if (!strcmp(f, "--steps")) {
            if (!cli_parse_long(v, 1, 10000000, &k)) return usage_error("--steps: '%s' is not a count >= 1", v);
            a->steps = v;
        } else if (!strcmp(f, "--seed")) {
            if (!cli_parse_u64(v, &u)) return usage_error("--seed: '%s' is not a non-negative integer", v);
            a->seed = v;
        } else if (!strcmp(f, "--prior")) a->prior = v;
        else if (!strcmp(f, "--device")) a->device = v;
        else return usage_error("unknown option '%s'", f);
    }
    if (!a->prompts) return usage_error("%s", "missing --prompts FILE");
    return 0;
}

int cmd_eval(int argc, char **argv) {
    eval_args_t a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    eval_item_t *items = calloc(MAX_PROMPTS, sizeof *items);
    if (!items) return vkd_fail(VKD_ERR_NOMEM, "eval: out of memory"), cli_error(NULL);
    int n = 0;
    vkd_status_t s = read_prompts(a.prompts, items, &n);
    if (s == VKD_OK) s = vkd_mkdir_p(a.out);
    vkd_judge_t *judge = NULL;
    if (s == VKD_OK) s = vkd_judge_create(VKD_JUDGE_SEED_DEFAULT, &judge);
    for (int i = 0; i < n && s == VKD_OK; i++) {
        eval_item_t *it = &items[i];
        char slug[80];
        cli_slugify(it->prompt, slug, sizeof slug);
        snprintf(it->dir, sizeof it->dir, "%.*s/%s", PATH_MAX - 100, a.out, slug);
        const int reuse = !a.force && finished(it, &a);
        fprintf(stderr, "eval [%d/%d] \"%s\": %s %s\n", i + 1, n, it->prompt,
                reuse ? "reusing the finished run in" : "generating into", it->dir);
        if (!reuse) {
            int code = run_generate(it, &a);
            if (code != 0) {
                fprintf(stderr, "eval: generate \"%s\" failed (exit %d); scoring the others\n",
                        it->prompt, code);
                continue;
            }
        }
        vkd_status_t e = score(it);
        if (e == VKD_OK) e = judge_turntable(judge, it);
        if (e != VKD_OK) {
            fprintf(stderr, "eval: \"%s\": %s\n", it->prompt, vkd_last_error());
            continue;
        }
        it->ok = 1;
    }
    if (s == VKD_OK) s = write_reports(a.out, items, n);
    vkd_judge_free(judge);
    free(items);
    if (s != VKD_OK) return cli_error(NULL);
    return 0;
}
