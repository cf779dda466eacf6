// Subcommands of the vkdream CLI. Each returns the process exit code: 0 success,
// 1 failure (message already printed), 2 usage error.
#ifndef VKD_CLI_H
#define VKD_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "judge.h"
#include "status.h"

int cmd_info(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_view(int argc, char **argv);
int cmd_render(int argc, char **argv);
int cmd_train_prior(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_judge(int argc, char **argv);

// One human-readable line "LABEL: red cube (shape score ...)" for a judge verdict
// (src/cli/judge.c; sample --judge prints the same).
void cli_judge_print(FILE *f, const char *label, const vkd_judge_verdict_t *v);

// Strict numeric flag values (src/cli/args.c): the whole string, inside [lo, hi];
// 1 on success, 0 otherwise (*out untouched).
int cli_parse_double(const char *s, double lo, double hi, double *out);
int cli_parse_long(const char *s, long lo, long hi, long *out);
int cli_parse_int(const char *s, int lo, int hi, int *out);
int cli_parse_u64(const char *s, uint64_t *out);

// A bundled model file (e.g. "shapeworld.json"): $VKDREAM_MODELS/, models/ beside or above
// the executable, ../share/vkdream/models/. 1 with its path, else 0 with the places tried
// (comma-separated) in `tried`.
int cli_find_model(const char *file, char *path, size_t cap, char *tried, size_t tcap);
#define CLI_BUNDLED_PRIOR "shapeworld.json"

// A prompt as a directory name: lower-case letters and digits, runs of anything else as one
// '-', at most 64 characters ("run" when nothing is left).
void cli_slugify(const char *s, char *out, size_t cap);

// Print "vkdream: <message>" for the last error (and a hint when given) to stderr.
int cli_error(const char *hint);

#endif
