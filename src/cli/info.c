// `vkdream info [--bench] [--device D]`: what vkdream runs on, and how fast.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sys/stat.h>

#include "blas.h"
#include "cli.h"
#include "fileio.h"
#include "safetensors.h"
#include "ops.h"
#include "vk.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void print_devices(const char *chosen_name, int chose_vulkan) {
    vkd_vk_instance_t *inst = NULL;
    if (vkd_vk_instance_create(0, &inst) != VKD_OK) {
        printf("Vulkan: unavailable (%s)\n", vkd_last_error());
        return;
    }
    uint32_t v = VK_API_VERSION_1_0;
    if (inst->fn.vkEnumerateInstanceVersion) inst->fn.vkEnumerateInstanceVersion(&v);
    printf("Vulkan: loader %u.%u.%u, %d device(s)\n", VK_API_VERSION_MAJOR(v),
           VK_API_VERSION_MINOR(v), VK_API_VERSION_PATCH(v), inst->n_devices);
    for (int i = 0; i < inst->n_devices; i++) {
        const vkd_vk_device_info_t *d = &inst->devices[i];
        const VkPhysicalDeviceLimits *l = &d->props.limits;
        int mark = chose_vulkan && !strcmp(d->props.deviceName, chosen_name);
        uint64_t local = 0;
        for (uint32_t h = 0; h < d->mem.memoryHeapCount; h++)
            if (d->mem.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
                local += d->mem.memoryHeaps[h].size;
        printf("  %s vulkan:%d  %s (%s)\n", mark ? "*" : " ", i, d->props.deviceName,
               vkd_vk_device_type_name(d->props.deviceType));
        printf("        driver %s %s, Vulkan %u.%u.%u\n", d->driver.driverName, d->driver.driverInfo,
               VK_API_VERSION_MAJOR(d->props.apiVersion), VK_API_VERSION_MINOR(d->props.apiVersion),
               VK_API_VERSION_PATCH(d->props.apiVersion));
        printf("        device-local memory %.1f GiB; max storage buffer %u MiB; shared memory %u "
               "KiB; workgroup <= %u invocations, count <= %u x %u x %u; push constants %u B; "
               "timestamps %s; compute queue family %d\n",
               local / 1073741824.0, l->maxStorageBufferRange >> 20,
               l->maxComputeSharedMemorySize >> 10, l->maxComputeWorkGroupInvocations,
               l->maxComputeWorkGroupCount[0], l->maxComputeWorkGroupCount[1],
               l->maxComputeWorkGroupCount[2], l->maxPushConstantsSize,
               d->has_timestamps ? "yes" : "no", d->compute_family);
    }
    vkd_vk_instance_destroy(inst);
}

// ---- benchmarks --------------------------------------------------------------------------

typedef struct {
    int M, N, K;
    const char *what;
} bench_shape_t;

static const bench_shape_t k_shapes[] = {
    {65536, 64, 64, "NeRF MLP layer, width 64"},
    {65536, 128, 128, "NeRF MLP layer, width 128"},
    {1024, 64, 576, "32x32 conv 3x3, 64 ch (im2col)"},
    {1024, 1024, 1024, "square reference"},
};

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

// Run `reps` GEMMs (recorded back to back on Vulkan, one sync) and return seconds.
static vkd_status_t time_gemm(vkd_backend_t *be, vkd_buf_t c, vkd_buf_t a, vkd_buf_t b,
                              const vkd_gemm_t *g, int reps, double *secs) {
    VKD_TRY(vkd_backend_sync(be));
    double t0 = now_s();
    for (int r = 0; r < reps; r++) VKD_TRY(op_gemm_forward(be, c, a, b, VKD_BUF_NONE, g));
    VKD_TRY(vkd_backend_sync(be));
    *secs = now_s() - t0;
    return VKD_OK;
}

static vkd_status_t bench_backend(vkd_backend_t *be, double budget_s) {
    size_t maxa = 0, maxb = 0, maxc = 0;
    for (size_t i = 0; i < sizeof k_shapes / sizeof *k_shapes; i++) {
        const bench_shape_t *s = &k_shapes[i];
        if ((size_t)s->M * s->K > maxa) maxa = (size_t)s->M * s->K;
        if ((size_t)s->K * s->N > maxb) maxb = (size_t)s->K * s->N;
        if ((size_t)s->M * s->N > maxc) maxc = (size_t)s->M * s->N;
    }
    size_t bw_n = (size_t)16 << 20; // 64 MiB per buffer for the bandwidth test
    vkd_arena_t *arena;
    VKD_TRY(vkd_arena_create(be, "bench", (maxa + maxb + maxc + 2 * bw_n) * sizeof(float) +
                                              8 * VKD_BUF_ALIGN, &arena));
    vkd_status_t st = VKD_OK;
    vkd_buf_t a, b, c, x, y;
    if ((st = vkd_arena_alloc(arena, maxa, &a)) || (st = vkd_arena_alloc(arena, maxb, &b)) ||
        (st = vkd_arena_alloc(arena, maxc, &c)) || (st = vkd_arena_alloc(arena, bw_n, &x)) ||
        (st = vkd_arena_alloc(arena, bw_n, &y)))
        goto done;
    if ((st = op_rng_uniform(be, a, maxa, 1, 0, 0)) || (st = op_rng_uniform(be, b, maxb, 1, 1, 0)) ||
        (st = op_fill(be, x, 1.0f, bw_n)))
        goto done;
    printf("  %-34s %9s %10s %9s   (CPU: median of single calls; Vulkan: mean of a "
           "recorded burst)\n", "GEMM M x N x K", "ms", "GFLOP/s", "reps");
    for (size_t i = 0; i < sizeof k_shapes / sizeof *k_shapes; i++) {
        const bench_shape_t *s = &k_shapes[i];
        vkd_gemm_t g = {.M = s->M, .N = s->N, .K = s->K, .alpha = 1, .beta = 0, .batch = 1};
        double flop = 2.0 * s->M * s->N * s->K, secs = 0;
        if ((st = time_gemm(be, c, a, b, &g, 1, &secs))) goto done; // warm-up (pipeline build)
        if ((st = time_gemm(be, c, a, b, &g, 1, &secs))) goto done;
        int reps = (int)(budget_s / (secs > 1e-6 ? secs : 1e-6));
        if (reps < 1) reps = 1;
        if (reps > 200) reps = 200;
        double per_rep;
        if (vkd_backend_kind(be) == VKD_BACKEND_CPU) {
            // Each GEMM timed on its own and the median taken: on a shared 2-core machine a
            // mean over a burst mostly measures what else ran at the time.
            double t[200];
            for (int r = 0; r < reps; r++)
                if ((st = time_gemm(be, c, a, b, &g, 1, &t[r]))) goto done;
            per_rep = median(t, reps);
        } else {
            // Recorded back to back in one command buffer: per-call times are not separable.
            if ((st = time_gemm(be, c, a, b, &g, reps, &secs))) goto done;
            per_rep = secs / reps;
        }
        char label[64];
        snprintf(label, sizeof label, "%d x %d x %d", s->M, s->N, s->K);
        printf("  %-34s %9.3f %10.1f %9d   %s\n", label, per_rep * 1e3, flop / per_rep * 1e-9, reps,
               s->what);
    }
    // Bandwidth: a copy reads and writes 4 bytes per element.
    double secs = 0;
    if ((st = op_copy(be, y, x, bw_n)) || (st = vkd_backend_sync(be))) goto done;
    int reps = 0;
    double t0 = now_s();
    do {
        for (int r = 0; r < 4; r++)
            if ((st = op_copy(be, y, x, bw_n))) goto done;
        if ((st = vkd_backend_sync(be))) goto done;
        reps += 4;
        secs = now_s() - t0;
    } while (secs < budget_s);
    printf("  %-34s %9.3f %10.1f GB/s  (copy of 64 MiB, read + write)\n", "memory bandwidth",
           secs / reps * 1e3, 2.0 * bw_n * 4 * reps / secs * 1e-9);
done:
    vkd_arena_destroy(arena);
    return st;
}

// The bundled prior: where it is, what it is, and how long it was trained (the trainer
// stamps its weights with the step). Only the JSON and the weights' header are read.
static void print_bundled(void) {
    char path[4096], tried[8192];
    if (!cli_find_model(CLI_BUNDLED_PRIOR, path, sizeof path, tried, sizeof tried)) {
        printf("Bundled prior: none found (looked for %s)\n", tried);
        return;
    }
    char *text = NULL;
    size_t n = 0;
    cJSON *j = NULL;
    if (vkd_file_read_all(path, &text, &n) != VKD_OK || !(j = cJSON_Parse(text))) {
        printf("Bundled prior: %s is unreadable or not JSON\n", path);
        free(text);
        return;
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    const cJSON *im = cJSON_GetObjectItemCaseSensitive(j, "image");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "weights");
    const cJSON *h = im ? cJSON_GetObjectItemCaseSensitive(im, "height") : NULL;
    const cJSON *wd = im ? cJSON_GetObjectItemCaseSensitive(im, "width") : NULL;
    printf("Bundled prior: %s\n  %s, %dx%d pixels", path,
           cJSON_IsString(name) ? name->valuestring : "(unnamed)", cJSON_IsNumber(wd) ? wd->valueint : 0,
           cJSON_IsNumber(h) ? h->valueint : 0);
    char wpath[4200];
    const char *slash = strrchr(path, '/');
    if (cJSON_IsString(w) && slash)
        snprintf(wpath, sizeof wpath, "%.*s/%s", (int)(slash - path), path, w->valuestring);
    else
        wpath[0] = 0;
    vkd_safetensors_t *st = NULL;
    struct stat sb;
    if (wpath[0] && stat(wpath, &sb) == 0 && vkd_st_open(wpath, &st) == VKD_OK) {
        size_t params = 0;
        for (int i = 0; i < vkd_st_count(st); i++) params += vkd_st_numel(vkd_st_get(st, i));
        const char *step = vkd_st_metadata(st, "vkdream_train_step");
        printf(", %.2f M parameters in %.1f MB", params / 1e6, sb.st_size / 1e6);
        if (step) printf(", trained %s steps", step);
        printf("\n");
        vkd_st_close(st);
    } else {
        printf("; its weights (%s) are missing or unreadable\n", wpath[0] ? wpath : "no \"weights\" key");
    }
    cJSON_Delete(j);
    free(text);
}

static int usage(FILE *f) {
    fprintf(f, "usage: vkdream info [--bench] [--device auto|cpu|vulkan|vulkan:N|NAME]\n"
               "  --bench     measure GEMM GFLOP/s on the project's shapes and memory bandwidth,\n"
               "              on the CPU backend and on a Vulkan device (--device picks it;\n"
               "              --device cpu benchmarks the CPU backend only)\n");
    return f == stdout ? 0 : 2;
}

int cmd_info(int argc, char **argv) {
    int bench = 0;
    const char *device = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--bench")) bench = 1;
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else if (!strncmp(argv[i], "--device=", 9)) device = argv[i] + 9;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return usage(stdout);
        else {
            fprintf(stderr, "vkdream info: unknown option '%s'\n", argv[i]);
            return usage(stderr);
        }
    }
    printf("vkdream %s (C11, %s build)\n", VKD_VERSION,
#ifdef NDEBUG
           "release"
#else
           "debug"
#endif
    );
    const vkd_blas_info_t *bi = vkd_blas_info();
    printf("OpenBLAS: core %s (%s), %d thread(s), %s; check vs plain C: %s (rel err %.1e)\n",
           bi->core, bi->source, bi->threads,
           bi->parallel == 2 ? "OpenMP" : bi->parallel == 1 ? "pthreads" : "sequential",
           bi->verified ? "passed" : "FAILED, using built-in GEMM", bi->check_rel_err);
    printf("          %s\n", bi->config);

    vkd_backend_t *be = NULL;
    vkd_backend_opts_t o = {.device = device, .validate = -1, .quiet = 1};
    if (vkd_backend_create(&o, &be) != VKD_OK)
        return cli_error("see the device list with `vkdream info`; --device cpu always works");
    int is_vk = vkd_backend_kind(be) == VKD_BACKEND_VULKAN;
    print_devices(vkd_backend_name(be), is_vk);
    printf("Chosen backend: %s%s\n", is_vk ? "vulkan: " : "cpu (OpenBLAS + OpenMP)",
           is_vk ? vkd_backend_name(be) : "");
    if (!is_vk && (!device || !strcmp(device, "auto")))
        printf("  (auto picks a discrete or integrated GPU when there is one; CPU Vulkan drivers "
               "such as lavapipe are 10-20x slower than OpenBLAS here)\n");
    print_bundled();
    int rc = 0;
    if (bench) {
        vkd_backend_t *cpu = NULL, *vk = NULL;
        vkd_backend_opts_t oc = {.device = "cpu"};
        if (vkd_backend_create(&oc, &cpu) != VKD_OK) return cli_error(NULL);
        printf("\nBenchmark, backend cpu (OpenBLAS core %s):\n", bi->core);
        if (bench_backend(cpu, 0.5) != VKD_OK) rc = cli_error(NULL);
        vkd_backend_destroy(cpu);
        if (is_vk) vk = be;
        else if (device && !strcmp(device, "cpu")) vk = NULL; // only the CPU was asked for
        else {
            vkd_backend_opts_t ov = {.device = "vulkan", .validate = 0};
            if (vkd_backend_create(&ov, &vk) != VKD_OK) {
                printf("\nBenchmark, Vulkan: skipped (%s)\n", vkd_last_error());
                vk = NULL;
            }
        }
        if (vk) {
            printf("\nBenchmark, backend vulkan (%s):\n", vkd_backend_name(vk));
            if (bench_backend(vk, 1.0) != VKD_OK) rc = cli_error(NULL);
            if (vk != be) vkd_backend_destroy(vk);
        }
    }
    vkd_backend_destroy(be);
    return rc;
}
