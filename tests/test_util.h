// A small test harness shared by every tests/test_*.c.
//
// A test file lists its cases with TCASE_CPU (run with the CPU backend only) and
// TCASE_VK (run with both: T->cpu and T->vk, for CPU-vs-Vulkan agreement), then calls
// TEST_MAIN(cases). CMake runs each binary twice: "NAME cpu" runs the CPU cases,
// "NAME vulkan" runs the Vulkan ones on a Vulkan device with the validation layer on and
// fails on any validation message; with no Vulkan device it exits 77 (skipped) and says
// why.
#ifndef VKD_TEST_UTIL_H
#define VKD_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "backend.h"
#include "ops.h"

typedef struct {
    vkd_backend_t *cpu;
    vkd_backend_t *vk;        // NULL in CPU mode
    vkd_arena_t *cpu_arena;   // 256 MiB scratch on the CPU backend, reset before each case
    vkd_arena_t *vk_arena;    // 256 MiB scratch on the Vulkan backend (NULL in CPU mode)
    uint64_t seed;            // fixed per case
    int failures;
    const char *case_name;
} tctx_t;

typedef struct {
    const char *name;
    void (*fn)(tctx_t *);
    int vk; // 1: needs the Vulkan backend
} tcase_t;

#define TCASE_CPU(f) {#f, f, 0}
#define TCASE_VK(f) {#f, f, 1}
#define TEST_MAIN(cases)                                                                 \
    int main(int argc, char **argv) {                                                    \
        return test_main(argc, argv, cases, (int)(sizeof(cases) / sizeof(cases[0])));   \
    }

int test_main(int argc, char **argv, const tcase_t *cases, int n);

// Record a failure (the case goes on; the binary fails at the end).
void test_fail(tctx_t *T, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define CHECK(T, cond, ...)                                                              \
    do {                                                                                 \
        if (!(cond)) test_fail(T, __FILE__, __LINE__, __VA_ARGS__);                      \
    } while (0)
// A call that returns vkd_status_t; on failure report its message and leave the case.
#define CHECK_OK(T, expr)                                                                \
    do {                                                                                 \
        vkd_status_t s_ = (expr);                                                        \
        if (s_ != VKD_OK) {                                                              \
            test_fail(T, __FILE__, __LINE__, "%s -> %s", #expr, vkd_last_error());       \
            return;                                                                      \
        }                                                                                \
    } while (0)

// calloc'd float array (n may be 0); aborts the test binary when memory runs out.
float *test_alloc(size_t n);
// Monotonic clock in milliseconds, for the timings tests print.
double test_now_ms(void);

// $VKDREAM_SHARED/golden in buf, or NULL (the reason printed) when it is not there: CI
// always has it; a checkout without it cannot run the golden cases.
const char *test_golden_dir(char *buf, size_t n);
// A reference tensor of a golden io file as float32 (malloc'd; NULL and a failure if absent).
struct vkd_safetensors;
float *test_golden_f32(tctx_t *T, const struct vkd_safetensors *io, const char *name, size_t *n);

// Deterministic test data (a small PCG, independent of the code under test).
void test_fill_uniform(uint64_t *state, float *x, size_t n, float lo, float hi);
void test_fill_normal(uint64_t *state, float *x, size_t n, float stddev);

// max |got - ref| / max(|ref|, tiny). Prints a line "name: rel err X" (and the worst
// index) and fails the case when above tol.
double test_compare(tctx_t *T, const char *name, const float *got, const float *ref,
                    size_t n, double tol);

// An argument check: s must be VKD_ERR_INVALID (the call refused `what`); the error is
// printed so the log shows what the message says.
void test_expect_invalid(tctx_t *T, vkd_status_t s, const char *what);

// Allocate a buffer of n floats on a backend's scratch arena and, when src != NULL, copy
// src into it. Returns VKD_BUF_NONE (and fails the case) when the arena is full.
vkd_buf_t test_buf(tctx_t *T, vkd_arena_t *arena, const float *src, size_t n);
// Read n floats of a buffer (syncing its backend) into a malloc'd array (free it).
float *test_read(tctx_t *T, vkd_buf_t b, size_t n);

// Finite-difference check of a backward on the CPU backend. `loss` evaluates the scalar
// loss (in double) from the current contents of the buffers; `param` is a host pointer
// to the n inputs being checked; `analytic` is dL/dparam from the backward. n_probe
// random entries (or all if n <= n_probe) are perturbed by +-eps (central differences);
// the check passes when |num - ana| <= tol * max(1, |num|, |ana|)... per entry, scaled
// by the largest gradient magnitude so tiny entries are not held to a relative bound.
typedef double (*test_loss_fn)(void *ctx);
void test_fd_check(tctx_t *T, const char *name, test_loss_fn loss, void *ctx, float *param,
                   const float *analytic, size_t n, int n_probe, float eps, double tol);

#endif
