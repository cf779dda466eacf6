// A progress bar for long work (sampling, training, SDS runs): done/total, rate and ETA.
//
// On a terminal the bar is redrawn in place ("\r", at most ~10 times a second) and ends
// with a newline at vkd_progress_finish. When the stream is not a terminal (a log file,
// a CI job, a pipe) redrawing would fill the log with partial lines, so it writes plain
// lines instead: one at each 10% of the total and at least one every 30 s, plus the final
// line. Nothing here is global: the state is the struct the caller owns.
//
//   vkd_progress_t pb;
//   vkd_progress_init(&pb, stderr, "sampling", 50, "step");
//   for (...) { ...; vkd_progress_update(&pb, i + 1); }
//   vkd_progress_finish(&pb);
//
// A line reads "sampling  [########........]  20/50 step  3.1 step/s  ETA 0:09  <note>".
// Rates below 1 per second are shown as seconds per unit ("4.2 s/step").
#ifndef VKD_PROGRESS_H
#define VKD_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef enum {
    VKD_PROGRESS_AUTO = 0, // bar on a terminal, plain lines otherwise
    VKD_PROGRESS_BAR,      // always redraw in place (tests)
    VKD_PROGRESS_LINES,    // always plain lines
    VKD_PROGRESS_OFF,      // print nothing
} vkd_progress_mode_t;

typedef struct {
    FILE *f;               // where it writes (stderr in the CLI); NULL = off
    char label[48];
    char unit[16];
    char note[96];         // free text shown at the end of the line (loss, ...)
    uint64_t total, done;
    int is_tty;            // the resolved mode: 1 redraw, 0 plain lines
    int last_decile;       // plain lines: last 10% milestone printed
    int drawn;             // a bar line is on the screen (needs the final newline)
    double t_start, t_last_draw, t_last_line;
} vkd_progress_t;

// Start a bar of `total` units (>= 1; 0 is treated as 1) on f in the AUTO mode.
void vkd_progress_init(vkd_progress_t *p, FILE *f, const char *label, uint64_t total,
                       const char *unit);
// The same with an explicit mode.
void vkd_progress_init_mode(vkd_progress_t *p, FILE *f, const char *label, uint64_t total,
                            const char *unit, vkd_progress_mode_t mode);
// Set the free-text note (printf-style); shown with the next redraw or line.
void vkd_progress_note(vkd_progress_t *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
// `done` units are finished (clamped to total). Cheap when nothing needs to be printed.
void vkd_progress_update(vkd_progress_t *p, uint64_t done);
// The final line (elapsed time and mean rate); safe to call twice.
void vkd_progress_finish(vkd_progress_t *p);

// Format seconds as "M:SS" or "H:MM:SS" into buf (cap >= 16).
void vkd_progress_format_time(double seconds, char *buf, size_t cap);

#endif
