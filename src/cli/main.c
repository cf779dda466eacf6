// vkdream command-line entry point: subcommand dispatch.
#include <stdio.h>
#include <string.h>

#include "blas.h"
#include "cli.h"
#include "status.h"

static void usage(FILE *f) {
    fprintf(f,
            "vkdream %s — text-to-3D score distillation on Vulkan and the CPU\n"
            "\n"
            "usage: vkdream <command> [options]\n"
            "\n"
            "commands:\n"
            "  info [--bench] [--device D]   devices, OpenBLAS kernel, build; --bench measures\n"
            "                                GEMM and bandwidth on each backend\n"
            "  sample \"PROMPT\" [-n N] [-o PNG] [--prior P|oracle]\n"
            "                                a grid of 2D samples from a diffusion prior\n"
            "  export CKPT | --shapeworld \"CAPTION\" [-o FILE.{glb,obj,ply}] [--grid N]\n"
            "                                mesh a field (marching tetrahedra)\n"
            "  view CKPT | MESH.glb | --shapeworld P\n"
            "                                interactive viewer window (mouse orbit, keys 1-6)\n"
            "  render CKPT | --shapeworld P  turntable PNG grid, a row per mode (no window)\n"
            "  generate \"PROMPT\" [-o DIR] [--prior P|oracle] [--steps N] [--resume DIR]\n"
            "                                text to 3D: the SDS loop (checkpoint, turntable, mesh)\n"
            "  eval --prompts FILE [-o DIR]  generate ShapeWorld prompts and score them against\n"
            "                                the ground truth (IoU, shape, colour, judge)\n"
            "  train-prior -o DIR | --resume DIR\n"
            "                                train the ShapeWorld diffusion prior\n"
            "  judge [--json] IMAGE.png...   name the ShapeWorld shape and colour in images\n"
            "\n"
            "Run `vkdream <command> --help` for a command's options.\n",
            VKD_VERSION);
}

int cli_error(const char *hint) {
    fprintf(stderr, "vkdream: %s\n", vkd_last_error());
    if (hint) fprintf(stderr, "  %s\n", hint);
    return 1;
}

int main(int argc, char **argv) {
    vkd_blas_init(argc, argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("vkdream %s\n", VKD_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "sample")) return cmd_sample(argc - 1, argv + 1);
    if (!strcmp(cmd, "export")) return cmd_export(argc - 1, argv + 1);
    if (!strcmp(cmd, "view")) return cmd_view(argc - 1, argv + 1);
    if (!strcmp(cmd, "render")) return cmd_render(argc - 1, argv + 1);
    if (!strcmp(cmd, "generate")) return cmd_generate(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "train-prior")) return cmd_train_prior(argc - 1, argv + 1);
    if (!strcmp(cmd, "judge")) return cmd_judge(argc - 1, argv + 1);
    fprintf(stderr, "vkdream: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
