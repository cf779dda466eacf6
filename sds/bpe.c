// CLIP's byte-level BPE tokenizer (openai CLIP simple_tokenizer), written from the
// algorithm's description.
//
// Vocabulary (49408 ids): the 256 byte symbols in bytes_to_unicode order (printable
// Latin-1 bytes map to themselves, the others to U+0100 + their rank), the same 256 with
// "</w>" appended (word-final forms), one symbol per merge line of the file (lines 1 ..
// 48894 after its header line), then <|startoftext|> and <|endoftext|>.
//
// Symbols are handled as ids throughout: a merge is looked up as a pair of ids in a hash
// table that gives its rank and the merged id, so encoding never touches strings.
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "sds/tokenizer_impl.h"
#include "sds/unicode.h"

#define N_MERGES (49152 - 256 - 2) // merges CLIP uses from the file
#define N_VOCAB (512 + N_MERGES + 2)
#define NO_RANK INT32_MAX
#define EMPTY_KEY UINT64_MAX

static const char *const k_sot = "<|startoftext|>", *const k_eot = "<|endoftext|>";

static int printable(int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
}

// bytes_to_unicode: byte -> the code point of its symbol, and the order of the symbols
// (printable bytes first, then the others, each group in byte order).
static void byte_symbols(uint32_t cp_of_byte[256], uint8_t order[256]) {
    int k = 0, extra = 0;
    for (int b = 0; b < 256; b++)
        if (printable(b)) cp_of_byte[b] = (uint32_t)b, order[k++] = (uint8_t)b;
    for (int b = 0; b < 256; b++)
        if (!printable(b)) cp_of_byte[b] = 256u + (uint32_t)extra++, order[k++] = (uint8_t)b;
}

// Reads the file (gzip, or plain text: zlib passes it through) up to the end of the last
// line CLIP uses. *buf is NUL-terminated.
static vkd_status_t read_merges(const char *path, char **buf, size_t *len) {
    *buf = NULL, *len = 0;
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return vkd_fail(VKD_ERR_IO, "BPE vocabulary %s: cannot open: %s", path,
                        errno ? strerror(errno) : "out of memory");
    size_t cap = 1 << 20, n = 0, lines = 0;
    char *b = malloc(cap + 1);
    vkd_status_t st = VKD_OK;
    while (b && lines < N_MERGES + 1) {
        if (n == cap) {
            char *nb = cap < ((size_t)1 << 28) ? realloc(b, cap * 2 + 1) : NULL;
            if (!nb) {
                st = vkd_fail(VKD_ERR_FORMAT, "BPE vocabulary %s: the first %d lines are "
                              "longer than %zu bytes; not a CLIP merges file", path,
                              N_MERGES + 1, cap);
                break;
            }
            b = nb, cap *= 2;
        }
        int got = gzread(gz, b + n, (unsigned)(cap - n));
        if (got < 0) {
            int zerr;
            const char *m = gzerror(gz, &zerr);
            st = vkd_fail(VKD_ERR_FORMAT, "BPE vocabulary %s: %s (corrupt gzip data?)", path,
                          zerr == Z_ERRNO ? strerror(errno) : m);
            break;
        }
        if (got == 0) break;
        for (size_t i = n; i < n + (size_t)got; i++) lines += b[i] == '\n';
        n += (size_t)got;
    }
    gzclose(gz);
    if (!b) return vkd_fail(VKD_ERR_NOMEM, "BPE vocabulary %s: no memory", path);
    if (st != VKD_OK) {
        free(b);
        return st;
    }
    b[n] = 0;
    *buf = b, *len = n;
    return VKD_OK;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 31;
    x *= 0x7FB5D329728EA185ull;
    x ^= x >> 27;
    x *= 0x81DADEF4BC2DD44Dull;
    return x ^ (x >> 33);
}

static uint64_t pair_of(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

// Rank of the pair (a, b) and its merged id, or NO_RANK.
static int32_t pair_rank(const vkd_tokenizer_t *t, int32_t a, int32_t b, int32_t *merged) {
    uint64_t key = pair_of(a, b);
    for (uint32_t h = (uint32_t)mix64(key) & t->pair_mask;; h = (h + 1) & t->pair_mask) {
        if (t->pair_key[h] == key) {
            *merged = t->pair_merged[h];
            return t->pair_rank[h];
        }
        if (t->pair_key[h] == EMPTY_KEY) {
            *merged = -1;
            return NO_RANK;
        }
    }
}

// A later line with the same pair replaces the earlier rank, as CLIP's dict does.
static void pair_insert(vkd_tokenizer_t *t, int32_t a, int32_t b, int32_t rank, int32_t merged) {
    uint64_t key = pair_of(a, b);
    uint32_t h = (uint32_t)mix64(key) & t->pair_mask;
    while (t->pair_key[h] != EMPTY_KEY && t->pair_key[h] != key) h = (h + 1) & t->pair_mask;
    t->pair_key[h] = key, t->pair_rank[h] = rank, t->pair_merged[h] = merged;
}

// Splits the merge lines into the vocabulary strings: pool and offs of t.
static vkd_status_t build_vocab(vkd_tokenizer_t *t, const char *path, char *text, size_t len,
                                char **left, char **right) {
    char *p = strchr(text, '\n'); // line 0 is a header, skipped like CLIP does
    int n = 0;
    while (p && n < N_MERGES) {
        char *line = p + 1;
        p = strchr(line, '\n');
        if (!p && !*line) break;
        if (p) *p = 0; // else the file's last line, without a newline
        char *sp = strchr(line, ' ');
        if (!sp || sp == line || sp[1] == 0 || strchr(sp + 1, ' ') || strchr(line, '\r'))
            return vkd_fail(VKD_ERR_FORMAT, "BPE vocabulary %s, line %d: \"%.60s\" is not two "
                            "symbols separated by one space; is this CLIP's "
                            "bpe_simple_vocab_16e6.txt(.gz)?", path, n + 2, line);
        *sp = 0;
        left[n] = line, right[n] = sp + 1;
        n++;
    }
    if (n < N_MERGES)
        return vkd_fail(VKD_ERR_FORMAT, "BPE vocabulary %s has %d merge lines; CLIP uses %d "
                        "(truncated file?)", path, n, N_MERGES);
    size_t pool_len = 512 * 8 + len + strlen(k_sot) + strlen(k_eot) + 2;
    t->pool = malloc(pool_len);
    t->offs = malloc(sizeof(uint32_t) * N_VOCAB);
    if (!t->pool || !t->offs) return vkd_fail(VKD_ERR_NOMEM, "BPE vocabulary %s: no memory", path);
    uint32_t cp_of_byte[256];
    uint8_t order[256];
    byte_symbols(cp_of_byte, order);
    size_t at = 0;
    for (int form = 0; form < 2; form++)
        for (int k = 0; k < 256; k++) {
            t->offs[form * 256 + k] = (uint32_t)at;
            at += (size_t)vkd_utf8_encode(cp_of_byte[order[k]], (unsigned char *)t->pool + at);
            if (form) memcpy(t->pool + at, "</w>", 4), at += 4;
            t->pool[at++] = 0;
        }
    for (int i = 0; i < N_MERGES; i++) {
        t->offs[512 + i] = (uint32_t)at;
        size_t nl = strlen(left[i]), nr = strlen(right[i]);
        memcpy(t->pool + at, left[i], nl), memcpy(t->pool + at + nl, right[i], nr + 1);
        at += nl + nr + 1;
    }
    t->offs[N_VOCAB - 2] = (uint32_t)at;
    memcpy(t->pool + at, k_sot, strlen(k_sot) + 1);
    at += strlen(k_sot) + 1;
    t->offs[N_VOCAB - 1] = (uint32_t)at;
    memcpy(t->pool + at, k_eot, strlen(k_eot) + 1);
    t->n_vocab = N_VOCAB;
    return VKD_OK;
}

static vkd_status_t build_pairs(vkd_tokenizer_t *t, const char *path, char **left,
                                char **right) {
    uint32_t size = 1;
    while (size < 2u * N_MERGES) size <<= 1;
    t->pair_mask = size - 1;
    t->pair_key = malloc(sizeof(uint64_t) * size);
    t->pair_rank = malloc(sizeof(int32_t) * size);
    t->pair_merged = malloc(sizeof(int32_t) * size);
    if (!t->pair_key || !t->pair_rank || !t->pair_merged)
        return vkd_fail(VKD_ERR_NOMEM, "BPE vocabulary %s: no memory", path);
    memset(t->pair_key, 0xFF, sizeof(uint64_t) * size);
    for (int i = 0; i < N_MERGES; i++) {
        int32_t a = vkd_tok_lookup(t, left[i], strlen(left[i]));
        int32_t b = vkd_tok_lookup(t, right[i], strlen(right[i]));
        const char *m = t->pool + t->offs[512 + i];
        if (a < 0 || b < 0)
            return vkd_fail(VKD_ERR_FORMAT, "BPE vocabulary %s, line %d: symbol \"%s\" is "
                            "neither a byte symbol nor made by a merge", path, i + 2,
                            a < 0 ? left[i] : right[i]);
        pair_insert(t, a, b, i, vkd_tok_lookup(t, m, strlen(m)));
    }
    return VKD_OK;
}

vkd_status_t vkd_bpe_load(vkd_tokenizer_t *t, const char *path) {
    char *text;
    size_t len;
    VKD_TRY(read_merges(path, &text, &len));
    char **left = malloc(sizeof(char *) * N_MERGES), **right = malloc(sizeof(char *) * N_MERGES);
    vkd_status_t st = left && right ? VKD_OK
                                    : vkd_fail(VKD_ERR_NOMEM, "BPE vocabulary %s: no memory", path);
    if (st == VKD_OK) st = build_vocab(t, path, text, len, left, right);
    if (st == VKD_OK) st = vkd_tok_index(t, 1);
    if (st == VKD_OK) st = build_pairs(t, path, left, right);
    free(left), free(right), free(text);
    if (st != VKD_OK) return st;
    uint32_t cp_of_byte[256];
    uint8_t order[256];
    byte_symbols(cp_of_byte, order);
    for (int k = 0; k < 256; k++) {
        const char *s = t->pool + t->offs[k], *e = t->pool + t->offs[256 + k];
        t->byte_id[order[k]] = vkd_tok_lookup(t, s, strlen(s));
        t->byte_end_id[order[k]] = vkd_tok_lookup(t, e, strlen(e));
    }
    t->bos = N_VOCAB - 2, t->eos = N_VOCAB - 1, t->pad = 0;
    t->max_length = VKD_CLIP_CONTEXT;
    return VKD_OK;
}

// ---- encoding -------------------------------------------------------------------------

typedef struct {
    int32_t *ids;
    int cap, n;
    // Scratch for one pre-token, sized for the longest possible one.
    int32_t *sym;    // the symbols of the word
    int32_t *rank;   // rank[i]: merge rank of (sym[i], sym[i + 1]), NO_RANK if none
    int32_t *merged; // merged[i]: the id that pair merges into
    int *src;        // index in the previous pass of an unmerged symbol, -1 for a merged one
    unsigned char *bytes;
} enc_t;

static void emit(enc_t *e, int32_t id) {
    if (e->n < e->cap) e->ids[e->n] = id;
    e->n++;
}

// Byte-level BPE of one pre-token (its UTF-8 bytes). Like CLIP: while some adjacent pair
// has a merge, take the lowest-ranked one and merge all its occurrences left to right.
// Only pairs next to a merged symbol change, so only those are looked up again.
static void bpe_word(const vkd_tokenizer_t *t, enc_t *e, const unsigned char *b, int n) {
    int32_t *sym = e->sym, *rank = e->rank, *merged = e->merged;
    int *src = e->src;
    for (int i = 0; i + 1 < n; i++) sym[i] = t->byte_id[b[i]];
    sym[n - 1] = t->byte_end_id[b[n - 1]];
    for (int i = 0; i + 1 < n; i++) rank[i] = pair_rank(t, sym[i], sym[i + 1], &merged[i]);
    while (n > 1) {
        int32_t best = NO_RANK;
        for (int i = 0; i + 1 < n; i++)
            if (rank[i] < best) best = rank[i];
        if (best == NO_RANK) break;
        int w = 0;
        for (int i = 0; i < n; w++) {
            if (i + 1 < n && rank[i] == best) { // a rank names one pair
                sym[w] = merged[i], src[w] = -1, i += 2;
            } else {
                sym[w] = sym[i], src[w] = i, i += 1;
            }
        }
        // Rewritten in place: new index j reads old index src[j] >= j.
        for (int j = 0; j + 1 < w; j++) {
            if (src[j] >= 0 && src[j + 1] >= 0) {
                rank[j] = rank[src[j]], merged[j] = merged[src[j]];
            } else {
                rank[j] = pair_rank(t, sym[j], sym[j + 1], &merged[j]);
            }
        }
        n = w;
    }
    for (int i = 0; i < n; i++) emit(e, sym[i]);
}

// Length of the literal alternative lit (a special token or a contraction) at s[i], or 0;
// *exact tells whether the text is exactly lit. CLIP matches its pattern case-insensitively;
// on lower-cased text the only difference that remains is U+017F (long s), which case-folds
// to "s".
static int match_literal(const uint32_t *s, int n, int i, const char *lit, int *exact) {
    int len = (int)strlen(lit);
    if (n - i < len) return 0;
    *exact = 1;
    for (int k = 0; k < len; k++) {
        uint32_t c = s[i + k], p = (unsigned char)lit[k];
        if (c == p) continue;
        if (p != 's' || c != 0x17F) return 0;
        *exact = 0;
    }
    return len;
}

// Characters no alternative of CLIP's pattern matches, which findall() therefore skips:
// whitespace, and U+0345 (combining ypogegrammeni). The pattern is compiled with
// IGNORECASE, and under it Python's regex module counts U+0345 in neither \p{L} nor the
// negated class [^\s\p{L}\p{N}], because its upper-case form (U+0399) is a letter.
static int skipped(uint32_t c) { return c == 0x345 || vkd_uc_is_space(c); }

// CLIP's pre-tokenizer: the length of the token at s[i] (s[i] is not skipped, see below).
// Pattern: <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+
static int next_token(const uint32_t *s, int n, int i, int32_t *special, const vkd_tokenizer_t *t) {
    int exact = 0, len;
    *special = -1;
    if ((len = match_literal(s, n, i, k_sot, &exact)) ||
        (len = match_literal(s, n, i, k_eot, &exact))) {
        if (exact) *special = len == (int)strlen(k_sot) ? t->bos : t->eos;
        return len;
    }
    static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    for (int k = 0; k < 7; k++)
        if ((len = match_literal(s, n, i, contractions[k], &exact))) return len;
    len = 1;
    if (vkd_uc_is_letter(s[i])) {
        while (i + len < n && vkd_uc_is_letter(s[i + len])) len++;
    } else if (!vkd_uc_is_number(s[i])) {
        while (i + len < n && !skipped(s[i + len]) && !vkd_uc_is_letter(s[i + len]) &&
               !vkd_uc_is_number(s[i + len]))
            len++;
    }
    return len;
}

// CLIP's text cleanup: html.unescape twice, whitespace collapsed and stripped, lower().
static vkd_status_t clean(const char *text, uint32_t **out, size_t *n_out) {
    uint32_t *a, *b;
    size_t na, nb;
    VKD_TRY(vkd_utf8_decode(text, strlen(text), "prompt", &a, &na));
    vkd_status_t st = vkd_html_unescape(a, na, &b, &nb);
    free(a);
    if (st != VKD_OK) return st;
    st = vkd_html_unescape(b, nb, &a, &na);
    free(b);
    if (st != VKD_OK) return st;
    na = vkd_uc_collapse_space(a, na);
    st = vkd_uc_lower(a, na, out, n_out);
    free(a);
    return st;
}

vkd_status_t vkd_bpe_encode(const vkd_tokenizer_t *t, const char *text, int32_t *ids, int cap,
                            int *n_total) {
    *n_total = 0;
    uint32_t *s;
    size_t ns;
    VKD_TRY(clean(text, &s, &ns));
    if (ns > INT_MAX / 8) {
        free(s);
        return vkd_fail(VKD_ERR_INVALID, "prompt of %zu characters is too long", ns);
    }
    int n = (int)ns;
    enc_t e = {ids, cap, 0, NULL, NULL, NULL, NULL, NULL};
    size_t most = 4 * ns + 1; // bytes of the longest pre-token
    e.sym = malloc(sizeof(int32_t) * most), e.rank = malloc(sizeof(int32_t) * most);
    e.merged = malloc(sizeof(int32_t) * most);
    e.src = malloc(sizeof(int) * most), e.bytes = malloc(most);
    vkd_status_t st = VKD_OK;
    if (!e.sym || !e.rank || !e.merged || !e.src || !e.bytes)
        st = vkd_fail(VKD_ERR_NOMEM, "tokenizing a prompt of %d characters: no memory", n);
    for (int i = 0; st == VKD_OK && i < n;) {
        if (skipped(s[i])) {
            i++;
            continue;
        }
        int32_t special;
        int len = next_token(s, n, i, &special, t);
        if (special >= 0) {
            emit(&e, special);
        } else {
            int nb = 0;
            for (int k = 0; k < len; k++) nb += vkd_utf8_encode(s[i + k], e.bytes + nb);
            bpe_word(t, &e, e.bytes, nb);
        }
        i += len;
    }
    *n_total = e.n;
    free(e.sym), free(e.rank), free(e.merged), free(e.src), free(e.bytes), free(s);
    return st;
}
