// Lookups in the generated Unicode tables, strict UTF-8 and Python's str.lower().
#include "sds/unicode.h"

#include <stdlib.h>
#include <string.h>

int vkd_uc_in(const vkd_uc_range_t *r, int n, uint32_t cp) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (cp < r[mid].lo) hi = mid - 1;
        else if (cp > r[mid].hi) lo = mid + 1;
        else return 1;
    }
    return 0;
}

vkd_status_t vkd_utf8_decode(const char *s, size_t n, const char *what, uint32_t **out,
                             size_t *n_out) {
    *out = NULL, *n_out = 0;
    uint32_t *d = malloc(sizeof(uint32_t) * (n + 1));
    if (!d) return vkd_fail(VKD_ERR_NOMEM, "%s: no memory for %zu code points", what, n);
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, k = 0;
    while (i < n) {
        uint32_t c = p[i];
        int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
                : (c & 0xF8) == 0xF0 ? 4 : 0;
        uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
        int ok = len > 0 && i + (size_t)len <= n;
        if (ok && len > 1) {
            c &= 0x7Fu >> len;
            for (int j = 1; j < len; j++) {
                if ((p[i + j] & 0xC0) != 0x80) ok = 0;
                c = (c << 6) | (p[i + j] & 0x3F);
            }
            // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
            if (c < min || (c >= 0xD800 && c < 0xE000) || c > 0x10FFFF) ok = 0;
        }
        if (!ok) {
            free(d);
            return vkd_fail(VKD_ERR_INVALID,
                            "%s is not valid UTF-8: bad byte 0x%02X at offset %zu; pass "
                            "text as UTF-8", what, p[i], i);
        }
        d[k++] = c;
        i += (size_t)len;
    }
    *out = d, *n_out = k;
    return VKD_OK;
}

int vkd_utf8_encode(uint32_t cp, unsigned char out[4]) {
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

// Single-code-point lower-case mapping, or cp itself when there is none.
static uint32_t lower1(uint32_t cp) {
    int lo = 0, hi = vkd_uc_lower_runs_n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const vkd_uc_lower_run_t *r = &vkd_uc_lower_runs[mid];
        if (cp < r->lo) hi = mid - 1;
        else if (cp > r->hi) lo = mid + 1;
        else return (cp - r->lo) % r->step == 0 ? (uint32_t)((int32_t)cp + r->delta) : cp;
    }
    return cp;
}

static int ignorable(uint32_t cp) {
    return vkd_uc_in(vkd_uc_case_ignorable, vkd_uc_case_ignorable_n, cp);
}

// CPython's rule: U+03A3 at i takes the final form when, skipping case-ignorable
// characters, a cased character precedes it and no cased character follows.
static int final_sigma(const uint32_t *s, size_t n, size_t i) {
    size_t j = i;
    while (j > 0 && ignorable(s[j - 1])) j--;
    if (j == 0 || !vkd_uc_in(vkd_uc_cased, vkd_uc_cased_n, s[j - 1])) return 0;
    j = i + 1;
    while (j < n && ignorable(s[j])) j++;
    return j == n || !vkd_uc_in(vkd_uc_cased, vkd_uc_cased_n, s[j]);
}

// Longest multi-code-point lower-case expansion, for sizing the output.
static size_t max_expansion(void) {
    size_t m = 1;
    for (int i = 0; i < vkd_uc_lower_multi_n; i++) {
        size_t len = strlen(vkd_uc_lower_multi[i].utf8); // >= its code point count
        if (len > m) m = len;
    }
    return m;
}

vkd_status_t vkd_uc_lower(const uint32_t *s, size_t n, uint32_t **out, size_t *n_out) {
    *out = NULL, *n_out = 0;
    size_t cap = n * max_expansion() + 1;
    uint32_t *d = malloc(sizeof(uint32_t) * cap);
    if (!d) return vkd_fail(VKD_ERR_NOMEM, "lower-casing: no memory for %zu code points", cap);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c == 0x3A3) {
            d[k++] = final_sigma(s, n, i) ? 0x3C2 : 0x3C3;
            continue;
        }
        int multi = -1;
        if (c >= 0x80)
            for (int m = 0; m < vkd_uc_lower_multi_n; m++)
                if (vkd_uc_lower_multi[m].cp == c) multi = m;
        if (multi < 0) {
            d[k++] = lower1(c);
            continue;
        }
        const char *u = vkd_uc_lower_multi[multi].utf8;
        uint32_t *cps;
        size_t nc;
        vkd_status_t st = vkd_utf8_decode(u, strlen(u), "lower-case table", &cps, &nc);
        if (st != VKD_OK) {
            free(d);
            return st;
        }
        memcpy(d + k, cps, nc * sizeof(uint32_t));
        k += nc;
        free(cps);
    }
    *out = d, *n_out = k;
    return VKD_OK;
}

size_t vkd_uc_collapse_space(uint32_t *s, size_t n) {
    size_t k = 0;
    int pending = 0; // a run of spaces was seen after some text
    for (size_t i = 0; i < n; i++) {
        if (vkd_uc_is_space(s[i])) {
            pending = k > 0;
            continue;
        }
        if (pending) s[k++] = ' ';
        pending = 0;
        s[k++] = s[i];
    }
    return k;
}
