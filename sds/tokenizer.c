// The tokenizer API (loading by file content, padding, accessors) and the word-level
// tokenizer of the small priors. The CLIP BPE tokenizer lives in bpe.c.
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "sds/tokenizer_impl.h"
#include "sds/unicode.h"

#define WORD_MAX_TOKENS (1 << 20)
#define WORD_MAX_LENGTH 4096
#define N_SUGGEST_MIN 3
#define N_SUGGEST_MAX 5

// ---- string -> id table -----------------------------------------------------------------

static uint32_t str_hash(const char *s, size_t n) { // FNV-1a
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static int str_is(const vkd_tokenizer_t *t, int32_t id, const char *s, size_t n) {
    const char *v = t->pool + t->offs[id];
    return strncmp(v, s, n) == 0 && v[n] == 0;
}

vkd_status_t vkd_tok_index(vkd_tokenizer_t *t, int allow_dups) {
    uint32_t size = 16;
    while (size < 2u * (uint32_t)t->n_vocab) size <<= 1;
    t->slots = calloc(size, sizeof(uint32_t));
    if (!t->slots) return vkd_fail(VKD_ERR_NOMEM, "tokenizer %s: no memory", t->path);
    t->slot_mask = size - 1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const char *s = t->pool + t->offs[id];
        size_t n = strlen(s);
        uint32_t h = str_hash(s, n) & t->slot_mask;
        while (t->slots[h] && !str_is(t, (int32_t)t->slots[h] - 1, s, n))
            h = (h + 1) & t->slot_mask;
        if (t->slots[h] && !allow_dups)
            return vkd_fail(VKD_ERR_FORMAT, "tokenizer %s: token \"%s\" is listed twice (ids %u "
                            "and %d); every token must be unique", t->path, s, t->slots[h] - 1, id);
        t->slots[h] = (uint32_t)id + 1;
    }
    return VKD_OK;
}

int32_t vkd_tok_lookup(const vkd_tokenizer_t *t, const char *s, size_t n) {
    for (uint32_t h = str_hash(s, n) & t->slot_mask; t->slots[h]; h = (h + 1) & t->slot_mask)
        if (str_is(t, (int32_t)t->slots[h] - 1, s, n)) return (int32_t)t->slots[h] - 1;
    return -1;
}

// ---- word tokenizer: loading -------------------------------------------------------------

static int alnum(uint32_t c) { return vkd_uc_is_letter(c) || vkd_uc_is_number(c); }

static int is_special(const char *s) {
    size_t n = strlen(s);
    return n >= 3 && s[0] == '<' && s[n - 1] == '>';
}

// A vocabulary entry must be something the splitter can produce: a word of letters and
// digits (already lower-case when prompts are lower-cased) or one punctuation character.
static vkd_status_t check_entry(const vkd_tokenizer_t *t, int i, const char *s) {
    if (is_special(s)) return VKD_OK;
    char what[64];
    snprintf(what, sizeof what, "word tokenizer %.30s: token %d", t->path, i);
    uint32_t *cp, *lo = NULL;
    size_t n, nl = 0;
    VKD_TRY(vkd_utf8_decode(s, strlen(s), what, &cp, &n));
    int word = n > 0;
    for (size_t k = 0; k < n; k++) word &= alnum(cp[k]);
    int punct = n == 1 && !word && !vkd_uc_is_space(cp[0]);
    vkd_status_t st = VKD_OK;
    if (word && t->lowercase) st = vkd_uc_lower(cp, n, &lo, &nl);
    if (st == VKD_OK && word && t->lowercase && (nl != n || memcmp(lo, cp, n * sizeof *cp)))
        st = vkd_fail(VKD_ERR_FORMAT, "word tokenizer %s: token %d \"%s\" has upper-case "
                      "letters but \"lowercase\" is true, so no prompt can match it; write it "
                      "in lower case", t->path, i, s);
    if (st == VKD_OK && !word && !punct)
        st = vkd_fail(VKD_ERR_FORMAT, "word tokenizer %s: token %d \"%s\" is neither a word "
                      "(letters and digits only), one punctuation character nor a special "
                      "\"<...>\" token, so no prompt can produce it", t->path, i, s);
    free(cp), free(lo);
    return st;
}

static vkd_status_t word_config(vkd_tokenizer_t *t, const cJSON *root) {
    const char *p = t->path;
    if (!cJSON_IsObject(root))
        return vkd_fail(VKD_ERR_FORMAT, "word tokenizer %s: the top level must be an object", p);
    static const char *const known[] = {"type", "tokens", "lowercase", "max_length", "comment"};
    for (const cJSON *it = root->child; it; it = it->next) {
        int ok = 0;
        for (int k = 0; k < 5; k++) ok |= it->string && strcmp(it->string, known[k]) == 0;
        if (!ok)
            return vkd_fail(VKD_ERR_FORMAT, "word tokenizer %s: unknown key \"%s\" (known: "
                            "type, tokens, lowercase, max_length, comment)", p,
                            it->string ? it->string : "?");
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "word") != 0)
        return vkd_fail(VKD_ERR_FORMAT, "word tokenizer %s: \"type\" must be \"word\"", p);
    const cJSON *lc = cJSON_GetObjectItemCaseSensitive(root, "lowercase");
    if (lc && !cJSON_IsBool(lc))
        return vkd_fail(VKD_ERR_FORMAT, "word tokenizer %s: \"lowercase\" must be true or "
                        "false", p);
    t->lowercase = !lc || cJSON_IsTrue(lc);
    const cJSON *ml = cJSON_GetObjectItemCaseSensitive(root, "max_length");
    if (!cJSON_IsNumber(ml) || !(ml->valuedouble >= 3 && ml->valuedouble <= WORD_MAX_LENGTH) ||
        ml->valuedouble != (double)(int)ml->valuedouble)
        return vkd_fail(VKD_ERR_FORMAT, "word tokenizer %s: \"max_length\" must be an integer "
                        "from 3 to %d (bos + words + eos)", p, WORD_MAX_LENGTH);
    t->max_length = ml->valueint;
    const cJSON *toks = cJSON_GetObjectItemCaseSensitive(root, "tokens");
    int n = cJSON_IsArray(toks) ? cJSON_GetArraySize(toks) : -1;
    if (n < 4 || n > WORD_MAX_TOKENS)
        return vkd_fail(VKD_ERR_FORMAT, "word tokenizer %s: \"tokens\" must be an array of 4 "
                        "to %d strings (<pad>, <bos>, <eos> and the words)", p, WORD_MAX_TOKENS);
    size_t pool_len = 0;
    int i = 0;
    for (const cJSON *it = toks->child; it; it = it->next, i++) {
        if (!cJSON_IsString(it) || !it->valuestring[0])
            return vkd_fail(VKD_ERR_FORMAT, "word tokenizer %s: token %d is not a non-empty "
                            "string", p, i);
        pool_len += strlen(it->valuestring) + 1;
    }
    t->pool = malloc(pool_len);
    t->offs = malloc(sizeof(uint32_t) * (size_t)n);
    if (!t->pool || !t->offs) return vkd_fail(VKD_ERR_NOMEM, "word tokenizer %s: no memory", p);
    size_t at = 0;
    i = 0;
    for (const cJSON *it = toks->child; it; it = it->next, i++) {
        VKD_TRY(check_entry(t, i, it->valuestring));
        t->offs[i] = (uint32_t)at;
        size_t len = strlen(it->valuestring) + 1;
        memcpy(t->pool + at, it->valuestring, len);
        at += len;
    }
    t->n_vocab = n;
    VKD_TRY(vkd_tok_index(t, 0));
    t->pad = vkd_tok_lookup(t, "<pad>", 5);
    t->bos = vkd_tok_lookup(t, "<bos>", 5);
    t->eos = vkd_tok_lookup(t, "<eos>", 5);
    if (t->pad < 0 || t->bos < 0 || t->eos < 0)
        return vkd_fail(VKD_ERR_FORMAT, "word tokenizer %s: \"tokens\" lacks \"%s\"; "
                        "\"<pad>\", \"<bos>\" and \"<eos>\" are required", p,
                        t->pad < 0 ? "<pad>" : t->bos < 0 ? "<bos>" : "<eos>");
    return VKD_OK;
}

static vkd_status_t word_load(vkd_tokenizer_t *t) {
    char *buf;
    size_t n;
    VKD_TRY(vkd_file_read_all(t->path, &buf, &n));
    const char *end = NULL;
    size_t bom = n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    cJSON *root = cJSON_ParseWithLengthOpts(buf + bom, n - bom, &end, 0);
    vkd_status_t st;
    if (!root)
        st = vkd_fail(VKD_ERR_FORMAT, "word tokenizer %s: not valid JSON (error at byte %td)",
                      t->path, end ? end - buf : (ptrdiff_t)0);
    else
        st = word_config(t, root);
    cJSON_Delete(root);
    free(buf);
    return st;
}

// ---- word tokenizer: encoding --------------------------------------------------------------

// Edit distance counting insertions, deletions, substitutions and swaps of two adjacent
// characters (the commonest typo, "cueb") as one edit each (optimal string alignment).
static int edit_distance(const uint32_t *a, int na, const uint32_t *b, int nb, int *rows) {
    int *r2 = rows, *r1 = rows + nb + 1, *r0 = rows + 2 * (nb + 1); // rows i-2, i-1, i
    for (int j = 0; j <= nb; j++) r1[j] = j;
    for (int i = 1; i <= na; i++) {
        r0[0] = i;
        for (int j = 1; j <= nb; j++) {
            int sub = r1[j - 1] + (a[i - 1] != b[j - 1]);
            int del = r1[j] + 1, ins = r0[j - 1] + 1;
            int d = sub < del ? sub : del;
            d = d < ins ? d : ins;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                r2[j - 2] + 1 < d)
                d = r2[j - 2] + 1;
            r0[j] = d;
        }
        int *tmp = r2;
        r2 = r1, r1 = r0, r0 = tmp;
    }
    return r1[nb];
}

// Writes to out (cap bytes) the nearest known words to w: the closest three, and any
// further ones as close as the third, at most five.
static void suggest(const vkd_tokenizer_t *t, const uint32_t *w, int nw, char *out, size_t cap) {
    int best_id[N_SUGGEST_MAX], best_d[N_SUGGEST_MAX], nbest = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const char *s = t->pool + t->offs[id];
        uint32_t *cp;
        size_t nc;
        if (is_special(s) || vkd_utf8_decode(s, strlen(s), "token", &cp, &nc) != VKD_OK) continue;
        int *rows = malloc(sizeof(int) * 3 * (nc + 1));
        int word = nc > 1 || alnum(cp[0]); // not a punctuation token
        int d = rows && word ? edit_distance(w, nw, cp, (int)nc, rows) : -1;
        free(rows), free(cp);
        if (d < 0 || (nbest == N_SUGGEST_MAX && d >= best_d[nbest - 1])) continue;
        int k = nbest < N_SUGGEST_MAX ? nbest++ : nbest - 1;
        for (; k > 0 && best_d[k - 1] > d; k--)
            best_id[k] = best_id[k - 1], best_d[k] = best_d[k - 1];
        best_id[k] = id, best_d[k] = d;
    }
    size_t at = 0;
    out[0] = 0;
    for (int k = 0; k < nbest && at < cap; k++) {
        if (k >= N_SUGGEST_MIN && best_d[k] > best_d[N_SUGGEST_MIN - 1]) break;
        at += (size_t)snprintf(out + at, cap - at, "%s\"%.40s\"", k ? ", " : "",
                               t->pool + t->offs[best_id[k]]);
    }
}

static vkd_status_t unknown_word(const vkd_tokenizer_t *t, const char *text, const uint32_t *w,
                                 int nw, const char *word) {
    char near[400];
    suggest(t, w, nw, near, sizeof near);
    return vkd_fail(VKD_ERR_INVALID, "unknown word \"%.80s\" in prompt \"%.200s\": the word "
                    "tokenizer %s knows %d tokens; nearest: %s", word, text, t->path,
                    t->n_vocab, near[0] ? near : "(none)");
}

static vkd_status_t word_encode(const vkd_tokenizer_t *t, const char *text, int32_t *ids,
                                int cap, int *n_total) {
    uint32_t *s, *lo;
    size_t n;
    VKD_TRY(vkd_utf8_decode(text, strlen(text), "prompt", &s, &n));
    if (t->lowercase) {
        vkd_status_t st = vkd_uc_lower(s, n, &lo, &n);
        free(s);
        VKD_TRY(st);
        s = lo;
    }
    char *buf = malloc(4 * n + 1);
    if (!buf) {
        free(s);
        return vkd_fail(VKD_ERR_NOMEM, "tokenizing a prompt of %zu characters: no memory", n);
    }
    vkd_status_t st = VKD_OK;
    int total = 0;
    for (size_t i = 0; i < n && st == VKD_OK;) {
        size_t len = 1;
        if (vkd_uc_is_space(s[i])) {
            i++;
            continue;
        }
        int word = alnum(s[i]);
        while (word && i + len < n && alnum(s[i + len])) len++;
        size_t nb = 0;
        for (size_t k = 0; k < len; k++)
            nb += (size_t)vkd_utf8_encode(s[i + k], (unsigned char *)buf + nb);
        buf[nb] = 0;
        int32_t id = vkd_tok_lookup(t, buf, nb);
        if (id < 0 && word) st = unknown_word(t, text, s + i, (int)len, buf);
        if (id >= 0) {
            if (total < cap) ids[total] = id;
            total++;
        }
        i += len;
    }
    free(buf), free(s);
    VKD_TRY(st);
    if (total == 0)
        return vkd_fail(VKD_ERR_INVALID, "prompt \"%.200s\" has no words; the word tokenizer %s "
                        "needs at least one", text, t->path);
    if (total > t->max_length - 2)
        return vkd_fail(VKD_ERR_INVALID, "prompt \"%.200s\" has %d tokens; the word tokenizer "
                        "%s takes at most %d (max_length %d minus bos and eos); shorten it",
                        text, total, t->path, t->max_length - 2, t->max_length);
    *n_total = total;
    return VKD_OK;
}

// ---- common API ------------------------------------------------------------------------------

void vkd_tokenizer_free(vkd_tokenizer_t *t) {
    if (!t) return;
    free(t->path), free(t->pool), free(t->offs), free(t->slots);
    free(t->pair_key), free(t->pair_rank), free(t->pair_merged);
    free(t);
}

// The kind of a tokenizer file from its first bytes: gzip or text -> BPE, "{" -> word.
static vkd_status_t sniff(const char *path, vkd_tokenizer_kind_t *kind) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return vkd_fail(VKD_ERR_IO, "tokenizer %s: cannot open: %s", path, strerror(errno));
    unsigned char head[256];
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    size_t i = n >= 3 && memcmp(head, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0; // UTF-8 BOM
    while (i < n && (head[i] == ' ' || head[i] == '\t' || head[i] == '\n' || head[i] == '\r'))
        i++;
    if (n == 0)
        return vkd_fail(VKD_ERR_FORMAT, "tokenizer %s is empty; expected CLIP's "
                        "bpe_simple_vocab_16e6.txt(.gz) or a word-tokenizer .json", path);
    *kind = i < n && head[i] == '{' ? VKD_TOKENIZER_WORD : VKD_TOKENIZER_BPE;
    return VKD_OK;
}

vkd_status_t vkd_tokenizer_load(const char *path, vkd_tokenizer_t **out) {
    if (!out) return vkd_fail(VKD_ERR_INVALID, "vkd_tokenizer_load: out is NULL");
    *out = NULL;
    if (!path || !path[0]) return vkd_fail(VKD_ERR_INVALID, "vkd_tokenizer_load: no path given");
    vkd_tokenizer_t *t = calloc(1, sizeof *t);
    if (!t || !(t->path = strdup(path))) {
        free(t);
        return vkd_fail(VKD_ERR_NOMEM, "tokenizer %s: no memory", path);
    }
    vkd_status_t st = sniff(path, &t->kind);
    if (st == VKD_OK) st = t->kind == VKD_TOKENIZER_WORD ? word_load(t) : vkd_bpe_load(t, path);
    if (st != VKD_OK) {
        vkd_tokenizer_free(t);
        return st;
    }
    *out = t;
    return VKD_OK;
}

static vkd_status_t encode(const vkd_tokenizer_t *t, const char *text, int32_t *ids, int cap,
                           int *n_total) {
    *n_total = 0;
    if (!t) return vkd_fail(VKD_ERR_INVALID, "tokenize: tokenizer is NULL");
    if (!text) return vkd_fail(VKD_ERR_INVALID, "tokenize: prompt is NULL");
    if (cap > 0 && !ids) return vkd_fail(VKD_ERR_INVALID, "tokenize: ids is NULL");
    return t->kind == VKD_TOKENIZER_WORD ? word_encode(t, text, ids, cap, n_total)
                                         : vkd_bpe_encode(t, text, ids, cap, n_total);
}

vkd_status_t vkd_tokenize(const vkd_tokenizer_t *t, const char *text, int32_t *ids,
                          int *n_ids) {
    if (!n_ids || *n_ids < 0)
        return vkd_fail(VKD_ERR_INVALID, "vkd_tokenize: n_ids must point at the capacity");
    int cap = *n_ids, total;
    VKD_TRY(encode(t, text, ids, cap, &total));
    *n_ids = total;
    if (total > cap)
        return vkd_fail(VKD_ERR_INVALID, "prompt \"%.200s\" has %d tokens but the id buffer "
                        "holds %d", text, total, cap);
    return VKD_OK;
}

// bos, ids[1 .. k], eos, padding: ids already holds the k prompt ids at ids + 1.
static void finish(const vkd_tokenizer_t *t, int k, int length, int pad_with_eos, int32_t *ids,
                   int *n_used) {
    ids[0] = t->bos;
    ids[k + 1] = t->eos;
    for (int j = k + 2; j < length; j++) ids[j] = pad_with_eos ? t->eos : t->pad;
    if (n_used) *n_used = k + 2;
}

vkd_status_t vkd_tokenize_padded(const vkd_tokenizer_t *t, const char *text, int length,
                                 int pad_with_eos, int32_t *ids, int *n_used) {
    if (length < 2 || !ids)
        return vkd_fail(VKD_ERR_INVALID, "vkd_tokenize_padded: need length >= 2 (got %d) and "
                        "an id buffer of that length", length);
    int total;
    VKD_TRY(encode(t, text, ids + 1, length - 2, &total));
    if (total > length - 2 && t->kind == VKD_TOKENIZER_WORD)
        return vkd_fail(VKD_ERR_INVALID, "prompt \"%.200s\" has %d tokens; %d fit in %d "
                        "positions with bos and eos; shorten it", text, total, length - 2,
                        length);
    finish(t, total < length - 2 ? total : length - 2, length, pad_with_eos, ids, n_used);
    return VKD_OK;
}

vkd_status_t vkd_tokenize_unconditional(const vkd_tokenizer_t *t, int length,
                                        int pad_with_eos, int32_t *ids, int *n_used) {
    if (!t || length < 2 || !ids)
        return vkd_fail(VKD_ERR_INVALID, "vkd_tokenize_unconditional: need a tokenizer, length "
                        ">= 2 (got %d) and an id buffer of that length", length);
    finish(t, 0, length, pad_with_eos, ids, n_used);
    return VKD_OK;
}

vkd_tokenizer_kind_t vkd_tokenizer_kind(const vkd_tokenizer_t *t) { return t->kind; }
int vkd_tokenizer_vocab_size(const vkd_tokenizer_t *t) { return t->n_vocab; }
int32_t vkd_tokenizer_bos(const vkd_tokenizer_t *t) { return t->bos; }
int32_t vkd_tokenizer_eos(const vkd_tokenizer_t *t) { return t->eos; }
int32_t vkd_tokenizer_pad(const vkd_tokenizer_t *t) { return t->pad; }
int vkd_tokenizer_max_length(const vkd_tokenizer_t *t) { return t->max_length; }

const char *vkd_tokenizer_token(const vkd_tokenizer_t *t, int32_t id) {
    return id >= 0 && id < t->n_vocab ? t->pool + t->offs[id] : NULL;
}

int32_t vkd_tokenizer_id(const vkd_tokenizer_t *t, const char *token) {
    return token ? vkd_tok_lookup(t, token, strlen(token)) : -1;
}
