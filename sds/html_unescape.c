// Python's html.unescape(), which CLIP applies (twice) to every prompt.
//
// Python finds references with the pattern
//   &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
// and replaces each match; this scanner tries the same three alternatives at every "&".
#include <stdlib.h>
#include <string.h>

#include "sds/unicode.h"

#define NAME_MAX_CHARS 32

// Decode a table string (valid UTF-8 by construction) into dst; returns the count.
static size_t decode_table_utf8(const char *u, uint32_t *dst) {
    const unsigned char *p = (const unsigned char *)u;
    size_t k = 0;
    while (*p) {
        uint32_t c = *p;
        int len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        if (len > 1) c &= 0x7Fu >> len;
        for (int j = 1; j < len; j++) c = (c << 6) | (p[j] & 0x3F);
        dst[k++] = c;
        p += len;
    }
    return k;
}

// The entity named by the first len bytes of name, or NULL.
static const vkd_html_entity_t *find_entity(const char *name, size_t len) {
    int lo = 0, hi = vkd_html_entities_n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const char *e = vkd_html_entities[mid].name;
        int c = strncmp(name, e, len);
        if (c == 0 && e[len] != 0) c = -1; // name is a proper prefix of e: it sorts first
        if (c == 0) return &vkd_html_entities[mid];
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

static int is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static int hex_value(uint32_t c) {
    if (is_digit(c)) return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

// A numeric reference's value after the HTML5 fix-ups; *drop when it produces nothing.
static uint32_t numeric_result(uint32_t num, int *drop) {
    *drop = 0;
    for (int i = 0; i < vkd_html_charref_fix_n; i++)
        if (vkd_html_charref_fix[i].lo == num) return vkd_html_charref_fix[i].hi;
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return 0xFFFD;
    if (vkd_uc_in(vkd_html_dropped, vkd_html_dropped_n, num)) *drop = 1;
    return num;
}

// Tries a numeric reference at s[i] == '&'. Returns the number of code points consumed
// (0: no match) and appends the replacement to d.
static size_t numeric_ref(const uint32_t *s, size_t n, size_t i, uint32_t *d, size_t *k) {
    size_t j = i + 1;
    if (j >= n || s[j] != '#') return 0;
    j++;
    int hex = j < n && (s[j] == 'x' || s[j] == 'X') && j + 1 < n && hex_value(s[j + 1]) >= 0;
    if (hex) j++;
    else if (j >= n || !is_digit(s[j])) return 0;
    uint32_t num = 0;
    const uint32_t sat = 0x110000; // anything larger maps like it: to U+FFFD
    for (; j < n; j++) {
        int v = hex ? hex_value(s[j]) : is_digit(s[j]) ? (int)(s[j] - '0') : -1;
        if (v < 0) break;
        uint64_t next = (uint64_t)num * (hex ? 16u : 10u) + (uint64_t)v;
        num = next > sat ? sat : (uint32_t)next;
    }
    if (j < n && s[j] == ';') j++;
    int drop;
    uint32_t cp = numeric_result(num, &drop);
    if (!drop) d[(*k)++] = cp;
    return j - i;
}

// Tries a named reference at s[i] == '&' (same return convention as numeric_ref).
static size_t named_ref(const uint32_t *s, size_t n, size_t i, uint32_t *d, size_t *k) {
    size_t j = i + 1, len = 0;
    while (j + len < n && len < NAME_MAX_CHARS) {
        uint32_t c = s[j + len];
        if (c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' ||
            c == '#' || c == ';')
            break;
        len++;
    }
    if (len == 0) return 0;
    if (j + len < n && s[j + len] == ';') len++;
    // Names are ASCII: only the ASCII prefix of the match can name an entity.
    char name[NAME_MAX_CHARS + 2];
    size_t ascii = 0;
    while (ascii < len && s[j + ascii] < 0x80) {
        name[ascii] = (char)s[j + ascii];
        ascii++;
    }
    // The whole match, else its longest prefix of at least two characters.
    const vkd_html_entity_t *e = NULL;
    size_t used = 0;
    if (ascii == len) e = find_entity(name, len), used = len;
    for (size_t x = (ascii < len ? ascii : len - 1); !e && x >= 2; x--)
        e = find_entity(name, x), used = x;
    if (!e) { // no entity: the text stays as it was
        d[(*k)++] = '&';
        for (size_t t = 0; t < len; t++) d[(*k)++] = s[j + t];
        return len + 1;
    }
    *k += decode_table_utf8(e->utf8, d + *k);
    for (size_t t = used; t < len; t++) d[(*k)++] = s[j + t];
    return len + 1;
}

vkd_status_t vkd_html_unescape(const uint32_t *s, size_t n, uint32_t **out, size_t *n_out) {
    *out = NULL, *n_out = 0;
    // Every replacement is shorter than its reference (values have at most two code
    // points; the shortest reference, "&lt", has three), so n is enough.
    uint32_t *d = malloc(sizeof(uint32_t) * (n + 1));
    if (!d) return vkd_fail(VKD_ERR_NOMEM, "html unescape: no memory for %zu code points", n);
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t used = 0;
        if (s[i] == '&') {
            used = numeric_ref(s, n, i, d, &k);
            if (!used) used = named_ref(s, n, i, d, &k);
        }
        if (used) {
            i += used;
        } else {
            d[k++] = s[i++];
        }
    }
    *out = d, *n_out = k;
    return VKD_OK;
}
