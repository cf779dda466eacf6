// The progress bar: plain lines off a terminal (one per 10% plus the final line), in-place
// redraws in bar mode, time formatting, and nothing at all when off.
#include <stdlib.h>
#include <string.h>

#include "progress.h"
#include "test_util.h"

// The text written to a temporary stream by fn.
static char *capture(void (*fn)(FILE *)) {
    FILE *f = tmpfile();
    if (!f) return NULL;
    fn(f);
    long n = ftell(f);
    rewind(f);
    char *buf = calloc(1, (size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) buf[0] = 0;
    fclose(f);
    return buf;
}

static int count(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void run_lines(FILE *f) {
    vkd_progress_t p;
    vkd_progress_init_mode(&p, f, "sampling", 50, "step", VKD_PROGRESS_LINES);
    for (int i = 1; i <= 50; i++) {
        vkd_progress_note(&p, "t=%d", 1000 - 20 * i);
        vkd_progress_update(&p, (uint64_t)i);
    }
    vkd_progress_finish(&p);
    vkd_progress_finish(&p); // a second finish prints nothing
}

static void run_bar(FILE *f) {
    vkd_progress_t p;
    vkd_progress_init_mode(&p, f, "fit", 3, NULL, VKD_PROGRESS_BAR);
    for (int i = 1; i <= 3; i++) vkd_progress_update(&p, (uint64_t)i);
    vkd_progress_finish(&p);
}

static void run_off(FILE *f) {
    vkd_progress_t p;
    vkd_progress_init_mode(&p, f, "quiet", 10, "x", VKD_PROGRESS_OFF);
    for (int i = 1; i <= 10; i++) vkd_progress_update(&p, (uint64_t)i);
    vkd_progress_finish(&p);
}

static void t_lines(tctx_t *T) {
    char *s = capture(run_lines);
    CHECK(T, s != NULL, "capture failed");
    if (!s) return;
    printf("%s", s);
    CHECK(T, count(s, "\n") == 10, "9 milestone lines + the final line, got %d", count(s, "\n"));
    CHECK(T, !strchr(s, '\r') && !strchr(s, '\033'), "no terminal control off a terminal");
    CHECK(T, strstr(s, "sampling  [") && strstr(s, "5/50 step") && strstr(s, "ETA "),
          "milestone line has label, count and ETA");
    CHECK(T, strstr(s, "50/50 step") && strstr(s, " in 0:"), "final line has the elapsed time");
    CHECK(T, strstr(s, "t=0"), "the note is shown");
    free(s);
}

static void t_bar(tctx_t *T) {
    char *s = capture(run_bar);
    CHECK(T, s != NULL, "capture failed");
    if (!s) return;
    CHECK(T, s[0] == '\r' && count(s, "\n") == 1, "redrawn in place, one newline at the end");
    CHECK(T, strstr(s, "3/3 it") != NULL, "default unit 'it': %s", s);
    free(s);
}

static void t_off(tctx_t *T) {
    char *s = capture(run_off);
    CHECK(T, s && s[0] == 0, "off prints nothing");
    free(s);
}

static void t_format_time(tctx_t *T) {
    char b[16];
    vkd_progress_format_time(0, b, sizeof b);
    CHECK(T, !strcmp(b, "0:00"), "%s", b);
    vkd_progress_format_time(125.4, b, sizeof b);
    CHECK(T, !strcmp(b, "2:05"), "%s", b);
    vkd_progress_format_time(3600 * 2 + 61, b, sizeof b);
    CHECK(T, !strcmp(b, "2:01:01"), "%s", b);
    vkd_progress_format_time(-1, b, sizeof b);
    CHECK(T, !strcmp(b, "?"), "%s", b);
    vkd_progress_format_time(1.0 / 0.0, b, sizeof b);
    CHECK(T, !strcmp(b, "?"), "%s", b);
}

static const tcase_t cases[] = {
    TCASE_CPU(t_lines),
    TCASE_CPU(t_bar),
    TCASE_CPU(t_off),
    TCASE_CPU(t_format_time),
};
TEST_MAIN(cases)
