// Unicode text handling for the prompt tokenizers: strict UTF-8 decoding, the character
// classes of CLIP's pre-tokenizer, Python's str.lower() and html.unescape().
//
// The CLIP tokenizer is defined by what its Python code does, so each function here
// reproduces one Python function exactly (ids must match the reference bit for bit). The
// data come from tables generated from the Python interpreter (tools/gen_unicode_tables.py
// -> unicode_tables.c, html_entities.c); no Debian C library offers Python's exact lower-
// casing (full mappings plus the final-sigma rule) or html.unescape()'s rules for broken
// references, which is why this is hand-written.
//
// Text is processed as arrays of code points (uint32_t); every function that allocates
// returns a malloc'd array the caller frees.
#ifndef VKD_SDS_UNICODE_H
#define VKD_SDS_UNICODE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

// ---- generated tables ---------------------------------------------------------------------
typedef struct { uint32_t lo, hi; } vkd_uc_range_t; // inclusive, sorted, disjoint
// Every step-th code point of [lo, hi] (starting at lo) lower-cases to itself + delta.
typedef struct { uint32_t lo, hi; int32_t delta; uint32_t step; } vkd_uc_lower_run_t;
typedef struct { uint32_t cp; const char *utf8; } vkd_uc_lower_multi_t;
typedef struct { const char *name; const char *utf8; } vkd_html_entity_t;

extern const vkd_uc_range_t vkd_uc_letters[], vkd_uc_numbers[], vkd_uc_spaces[];
extern const vkd_uc_range_t vkd_uc_cased[], vkd_uc_case_ignorable[];
extern const int vkd_uc_letters_n, vkd_uc_numbers_n, vkd_uc_spaces_n;
extern const int vkd_uc_cased_n, vkd_uc_case_ignorable_n;
extern const vkd_uc_lower_run_t vkd_uc_lower_runs[];
extern const int vkd_uc_lower_runs_n;
extern const vkd_uc_lower_multi_t vkd_uc_lower_multi[];
extern const int vkd_uc_lower_multi_n;
// html.entities.html5, sorted by name (strcmp order).
extern const vkd_html_entity_t vkd_html_entities[];
extern const int vkd_html_entities_n;
// {number, replacement code point} pairs, sorted (html._invalid_charrefs).
extern const vkd_uc_range_t vkd_html_charref_fix[];
extern const int vkd_html_charref_fix_n;
// Code points that a numeric reference may not produce; the reference is dropped.
extern const vkd_uc_range_t vkd_html_dropped[];
extern const int vkd_html_dropped_n;

// ---- classification ---------------------------------------------------------------------
int vkd_uc_in(const vkd_uc_range_t *r, int n, uint32_t cp);
static inline int vkd_uc_is_letter(uint32_t cp) { // \p{L}
    return vkd_uc_in(vkd_uc_letters, vkd_uc_letters_n, cp);
}
static inline int vkd_uc_is_number(uint32_t cp) { // \p{N}
    return vkd_uc_in(vkd_uc_numbers, vkd_uc_numbers_n, cp);
}
static inline int vkd_uc_is_space(uint32_t cp) { // str.isspace(), Python re's \s
    return vkd_uc_in(vkd_uc_spaces, vkd_uc_spaces_n, cp);
}

// ---- UTF-8 --------------------------------------------------------------------------------
// Decode n bytes of strict UTF-8 (no overlong forms, surrogates or code points above
// U+10FFFF) into a malloc'd array of *n_out code points. `what` names the text in the
// error message ("prompt"); an invalid sequence is VKD_ERR_INVALID with its byte offset.
vkd_status_t vkd_utf8_decode(const char *s, size_t n, const char *what, uint32_t **out,
                             size_t *n_out);
// Encode one code point (< 0x110000) into out; returns the number of bytes (1..4).
int vkd_utf8_encode(uint32_t cp, unsigned char out[4]);

// ---- Python string functions ---------------------------------------------------------------
// str.lower(): full lower-case mappings (U+0130 -> "i" U+0307) and the final-sigma rule
// (U+03A3 -> U+03C2 at the end of a word). The result may be longer than the input.
vkd_status_t vkd_uc_lower(const uint32_t *s, size_t n, uint32_t **out, size_t *n_out);
// html.unescape(): named references from the HTML5 list (longest-prefix rule for names
// without ";"), decimal and hex numeric references with the HTML5 fix-ups. The result is
// never longer than the input.
vkd_status_t vkd_html_unescape(const uint32_t *s, size_t n, uint32_t **out, size_t *n_out);
// re.sub(r"\s+", " ", s).strip(), in place; returns the new length.
size_t vkd_uc_collapse_space(uint32_t *s, size_t n);

#endif
