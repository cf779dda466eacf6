// Argument helpers shared by the subcommands: strict parsing of numeric flag values (the
// whole string must be a number inside [lo, hi]: no trailing junk, no overflow, finite),
// prompt slugs and output directories.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_parse_double(const char *s, double lo, double hi, double *out) {
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

int cli_parse_long(const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

int cli_parse_int(const char *s, int lo, int hi, int *out) {
    long v;
    if (!cli_parse_long(s, lo, hi, &v)) return 0;
    *out = (int)v;
    return 1;
}

int cli_parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s || *s == '-') return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return 0;
    *out = (uint64_t)v;
    return 1;
}

void cli_slugify(const char *s, char *out, size_t cap) {
    size_t n = 0;
    int dash = 0;
    for (; *s && n + 2 < cap && n < 64; s++) {
        const unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            if (dash && n) out[n++] = '-';
            out[n++] = (char)c, dash = 0;
        } else if (c >= 'A' && c <= 'Z') {
            if (dash && n) out[n++] = '-';
            out[n++] = (char)(c - 'A' + 'a'), dash = 0;
        } else {
            dash = 1;
        }
    }
    out[n] = 0;
    if (!n) snprintf(out, cap, "run");
}

