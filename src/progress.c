// Progress bar / progress lines; see progress.h.
#include "progress.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 24
#define REDRAW_S 0.1
#define LINE_EVERY_S 30.0

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void vkd_progress_format_time(double seconds, char *buf, size_t cap) {
    if (!buf || cap == 0) return;
    if (!isfinite(seconds) || seconds < 0) {
        snprintf(buf, cap, "?");
        return;
    }
    if (seconds > 3600.0 * 24 * 365) {
        snprintf(buf, cap, ">1y");
        return;
    }
    const long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, cap, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, cap, "%ld:%02ld", s / 60, s % 60);
}

void vkd_progress_init_mode(vkd_progress_t *p, FILE *f, const char *label, uint64_t total,
                            const char *unit, vkd_progress_mode_t mode) {
    memset(p, 0, sizeof *p);
    p->f = mode == VKD_PROGRESS_OFF ? NULL : f;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    snprintf(p->unit, sizeof p->unit, "%s", unit && unit[0] ? unit : "it");
    p->total = total ? total : 1;
    if (mode == VKD_PROGRESS_AUTO) p->is_tty = f && isatty(fileno(f));
    else p->is_tty = mode == VKD_PROGRESS_BAR;
    p->last_decile = 0;
    p->t_start = p->t_last_line = now_s();
    p->t_last_draw = -1e30;
}

void vkd_progress_init(vkd_progress_t *p, FILE *f, const char *label, uint64_t total,
                       const char *unit) {
    vkd_progress_init_mode(p, f, label, total, unit, VKD_PROGRESS_AUTO);
}

void vkd_progress_note(vkd_progress_t *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->note, sizeof p->note, fmt, ap);
    va_end(ap);
}

// "3.1 step/s" or "4.2 s/step" (the form that keeps a readable number).
static void format_rate(double rate, const char *unit, char *buf, size_t cap) {
    if (!(rate > 0) || !isfinite(rate)) snprintf(buf, cap, "- %s/s", unit);
    else if (rate >= 1.0) snprintf(buf, cap, "%.*f %s/s", rate >= 100 ? 0 : 1, rate, unit);
    else snprintf(buf, cap, "%.1f s/%s", 1.0 / rate, unit);
}

static void write_line(vkd_progress_t *p, double now, int final) {
    const double el = now - p->t_start;
    const double rate = el > 0 && p->done ? (double)p->done / el : 0.0;
    char bar[BAR_WIDTH + 1], rbuf[48], tbuf[24];
    const int fill = (int)((double)p->done / (double)p->total * BAR_WIDTH);
    for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < fill ? '#' : '.';
    bar[BAR_WIDTH] = 0;
    format_rate(rate, p->unit, rbuf, sizeof rbuf);
    if (final) {
        vkd_progress_format_time(el, tbuf, sizeof tbuf);
    } else {
        const double eta = rate > 0 ? (double)(p->total - p->done) / rate : NAN;
        char e[16];
        vkd_progress_format_time(eta, e, sizeof e);
        snprintf(tbuf, sizeof tbuf, "ETA %s", e);
    }
    // A terminal line is overwritten in place; "ESC [K" erases what is left of a longer
    // previous line.
    fprintf(p->f, "%s%s  [%s]  %llu/%llu %s  %s  %s%s%s%s", p->is_tty ? "\r" : "", p->label, bar,
            (unsigned long long)p->done, (unsigned long long)p->total, p->unit, rbuf,
            final ? "in " : "", tbuf, p->note[0] ? "  " : "", p->note);
    if (p->is_tty) fputs("\033[K", p->f);
    p->drawn = p->is_tty && !final;
    if (!p->drawn) fputc('\n', p->f);
    fflush(p->f);
}

void vkd_progress_update(vkd_progress_t *p, uint64_t done) {
    if (!p || !p->f) return;
    p->done = done > p->total ? p->total : done;
    const double now = now_s();
    if (p->is_tty) {
        if (now - p->t_last_draw < REDRAW_S && p->done < p->total) return;
        p->t_last_draw = now;
        write_line(p, now, 0);
        return;
    }
    const int decile = (int)(p->done * 10 / p->total);
    if ((decile > p->last_decile && p->done < p->total) || now - p->t_last_line >= LINE_EVERY_S) {
        p->last_decile = decile;
        p->t_last_line = now;
        write_line(p, now, 0);
    }
}

void vkd_progress_finish(vkd_progress_t *p) {
    if (!p || !p->f) return;
    write_line(p, now_s(), 1);
    p->f = NULL; // a second finish prints nothing
}
