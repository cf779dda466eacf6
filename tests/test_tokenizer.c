// Prompt tokenizers: the Python string rules they reproduce (str.lower, html.unescape,
// whitespace), CLIP BPE against openai CLIP's ids (golden cases), and the word tokenizer.
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "fileio.h"
#include "sds/tokenizer.h"
#include "sds/unicode.h"
#include "test_util.h"

// Runs a code-point function on UTF-8 text and compares with the expected UTF-8 result.
typedef vkd_status_t (*cp_fn)(const uint32_t *, size_t, uint32_t **, size_t *);
static void check_cp_fn(tctx_t *T, const char *name, cp_fn fn, const char *in, const char *want) {
    uint32_t *a, *b, *w;
    size_t na, nb, nw;
    CHECK_OK(T, vkd_utf8_decode(in, strlen(in), "in", &a, &na));
    CHECK_OK(T, vkd_utf8_decode(want, strlen(want), "want", &w, &nw));
    vkd_status_t st = fn(a, na, &b, &nb);
    CHECK(T, st == VKD_OK, "%s(\"%s\"): %s", name, in, vkd_last_error());
    if (st == VKD_OK) {
        int same = nb == nw && memcmp(b, w, nw * sizeof *w) == 0;
        CHECK(T, same, "%s(\"%s\"): got %zu code points (first U+%04X), want \"%s\"", name, in,
              nb, nb ? b[0] : 0, want);
        free(b);
    }
    free(a), free(w);
}

// Expected values are what Python 3.11 returns.
static void t_python_lower(tctx_t *T) {
    static const char *const cases[][2] = {
        {"A Red Cube on a BLUE sphere.", "a red cube on a blue sphere."},
        {"\316\237\316\224\316\237\316\243 \316\237\316\224\316\237\316\243.", // ΟΔΟΣ ΟΔΟΣ.
         "\316\277\316\264\316\277\317\202 \316\277\316\264\316\277\317\202."}, // final ς
        {"\316\243\316\221", "\317\203\316\261"},                               // ΣΑ -> σα
        {"\316\243", "\317\203"},                                               // lone Σ -> σ
        {"A\314\201\316\243", "a\314\201\317\202"},   // a cased letter, then an ignorable
        {"A\316\243\314\201b", "a\317\203\314\201b"}, // cased letter after an ignorable
        {"\304\260", "i\314\207"},                     // İ -> i + U+0307 (full mapping)
        {"\303\200\303\211\303\216 \303\234ber", "\303\240\303\251\303\256 \303\274ber"},
        {"\342\205\253", "\342\205\273"},              // Ⅻ -> ⅻ
        {"\307\205", "\307\206"},                      // ǅ (title case) -> ǆ
        {"\346\235\261\344\272\254 \360\237\232\200", "\346\235\261\344\272\254 \360\237\232\200"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_cp_fn(T, "lower", vkd_uc_lower, cases[i][0], cases[i][1]);
}

static void t_python_unescape(tctx_t *T) {
    static const char *const cases[][2] = {
        {"fish &amp; chips", "fish & chips"}, {"&lt;b&gt;", "<b>"}, {"it&#39;s", "it's"},
        {"&#x41;&#X4a;", "AJ"}, {"&ampx", "&x"}, {"&AMP", "&"}, {"&#128;", "\342\202\254"},
        {"&#0;", "\357\277\275"}, {"&#xD800;", "\357\277\275"},
        {"&#99999999999999;", "\357\277\275"},
        {"a&#1;b", "ab"}, {"&#65534;", ""}, {"&#13;", "\r"}, {"&#129;", "\302\201"},
        {"&notit;", "\302\254it;"}, {"&nosuch;", "&nosuch;"}, {"&#;", "&#;"}, {"&#x;", "&#x;"},
        {"&a", "&a"}, {"&#65x", "Ax"}, {"&amp;amp;", "&amp;"}, {"&\303\251;", "&\303\251;"},
        {"&NotEqualTilde;", "\342\211\202\314\270"}, {"no refs", "no refs"}, {"&", "&"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_cp_fn(T, "html.unescape", vkd_html_unescape, cases[i][0], cases[i][1]);
}

static void t_utf8_and_space(tctx_t *T) {
    static const char *const bad[] = {"\xff", "a\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                      "\xe6\x9d", "\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t *cp = NULL;
        size_t n;
        vkd_status_t st = vkd_utf8_decode(bad[i], strlen(bad[i]), "prompt", &cp, &n);
        CHECK(T, st == VKD_ERR_INVALID && strstr(vkd_last_error(), "UTF-8") && !cp,
              "invalid UTF-8 case %zu rejected: %s", i, vkd_last_error());
    }
    const char *in = " \t extra \n\n  spaces\xe3\x80\x80here\xc2\xa0 ";
    uint32_t *cp;
    size_t n;
    CHECK_OK(T, vkd_utf8_decode(in, strlen(in), "in", &cp, &n));
    n = vkd_uc_collapse_space(cp, n);
    const char *want = "extra spaces here";
    int same = n == strlen(want);
    for (size_t i = 0; same && i < n; i++) same = cp[i] == (uint32_t)want[i];
    CHECK(T, same, "whitespace collapsed (incl. U+3000, U+00A0) and stripped: %zu", n);
    free(cp);
    CHECK(T, vkd_uc_is_letter(0x6771) && vkd_uc_is_letter('a') && !vkd_uc_is_letter('1'),
          "letters");
    CHECK(T, vkd_uc_is_number('7') && vkd_uc_is_number(0x2167) && !vkd_uc_is_number('x'),
          "numbers");
}

// ---- CLIP BPE ---------------------------------------------------------------------------

// The golden directory, or NULL after saying why the cases that need it are skipped.
static const char *golden_dir(char *buf, size_t cap, const char *who) {
    const char *shared = getenv("VKDREAM_SHARED");
    if (!shared) {
        printf("  %s: SKIPPED (VKDREAM_SHARED is not set; it points at the shared data)\n", who);
        return NULL;
    }
    snprintf(buf, cap, "%s/golden", shared);
    char probe[1200];
    snprintf(probe, sizeof probe, "%s/bpe_simple_vocab_16e6.txt.gz", buf);
    if (access(probe, R_OK) != 0) {
        printf("  %s: SKIPPED (%s is missing)\n", who, probe);
        return NULL;
    }
    return buf;
}

static vkd_tokenizer_t *load_clip(tctx_t *T, const char *dir) {
    char path[1200];
    snprintf(path, sizeof path, "%s/bpe_simple_vocab_16e6.txt.gz", dir);
    vkd_tokenizer_t *t = NULL;
    double t0 = (test_now_ms() * 1e-3);
    vkd_status_t st = vkd_tokenizer_load(path, &t);
    CHECK(T, st == VKD_OK, "load %s: %s", path, vkd_last_error());
    if (t) printf("  loaded CLIP BPE in %.0f ms\n", 1e3 * ((test_now_ms() * 1e-3) - t0));
    return t;
}

static int same_ids(const cJSON *want, const int32_t *got, int n) {
    if (!cJSON_IsArray(want) || cJSON_GetArraySize(want) != n) return 0;
    int i = 0;
    for (const cJSON *it = want->child; it; it = it->next, i++)
        if (!cJSON_IsNumber(it) || it->valueint != got[i]) return 0;
    return 1;
}

static void t_clip_golden(tctx_t *T) {
    char dir[1024], path[1200];
    if (!golden_dir(dir, sizeof dir, "16 CLIP golden cases")) return;
    vkd_tokenizer_t *t = load_clip(T, dir);
    if (!t) return;
    CHECK(T, vkd_tokenizer_vocab_size(t) == 49408 && vkd_tokenizer_bos(t) == 49406 &&
          vkd_tokenizer_eos(t) == 49407 && vkd_tokenizer_pad(t) == 0, "CLIP special ids");
    snprintf(path, sizeof path, "%s/clip_tokenizer.cases.json", dir);
    char *text;
    size_t len;
    vkd_status_t st = vkd_file_read_all(path, &text, &len);
    CHECK(T, st == VKD_OK, "%s", vkd_last_error());
    cJSON *root = st == VKD_OK ? cJSON_Parse(text) : NULL;
    const cJSON *cases = cJSON_GetObjectItem(root, "cases");
    CHECK(T, cJSON_GetArraySize(cases) == 16, "16 cases in %s", path);
    int n_ok = 0, n_cases = 0;
    for (const cJSON *c = cases ? cases->child : NULL; c; c = c->next, n_cases++) {
        const char *prompt = cJSON_GetStringValue(cJSON_GetObjectItem(c, "prompt"));
        const cJSON *want = cJSON_GetObjectItem(c, "bpe_ids");
        const cJSON *toks = cJSON_GetObjectItem(c, "bpe_tokens");
        if (!prompt || !want || !toks) {
            CHECK(T, 0, "case %d lacks prompt/bpe_ids/bpe_tokens", n_cases);
            continue;
        }
        int32_t ids[256], p1[VKD_CLIP_CONTEXT], p2[VKD_CLIP_CONTEXT];
        int n = 256, used1 = 0, used2 = 0;
        st = vkd_tokenize(t, prompt, ids, &n);
        CHECK(T, st == VKD_OK, "case %d: %s", n_cases, vkd_last_error());
        if (st != VKD_OK) continue;
        int ok = same_ids(want, ids, n);
        int i = 0;
        for (const cJSON *it = toks->child; ok && it; it = it->next, i++) {
            const char *s = vkd_tokenizer_token(t, ids[i]);
            ok = s && strcmp(s, it->valuestring) == 0;
        }
        CHECK(T, ok, "case %d \"%.60s\": raw ids differ (got %d ids, want %d)", n_cases, prompt,
              n, cJSON_GetArraySize(want));
        CHECK_OK(T, vkd_tokenize_padded(t, prompt, VKD_CLIP_CONTEXT, 1, p1, &used1));
        CHECK_OK(T, vkd_tokenize_padded(t, prompt, VKD_CLIP_CONTEXT, 0, p2, &used2));
        int ok1 = same_ids(cJSON_GetObjectItem(c, "ids77_eot_pad"), p1, VKD_CLIP_CONTEXT);
        int ok2 = same_ids(cJSON_GetObjectItem(c, "ids77_zero_pad"), p2, VKD_CLIP_CONTEXT);
        int want_used = (n < VKD_CLIP_CONTEXT - 2 ? n : VKD_CLIP_CONTEXT - 2) + 2;
        CHECK(T, ok1 && ok2 && used1 == want_used && used2 == want_used,
              "case %d \"%.60s\": 77-long forms (eot pad %s, zero pad %s, n_used %d/%d)",
              n_cases, prompt, ok1 ? "ok" : "DIFFER", ok2 ? "ok" : "DIFFER", used1, want_used);
        n_ok += ok && ok1 && ok2;
    }
    printf("  CLIP golden: %d/%d cases exact (raw ids, tokens, both 77-long forms)\n", n_ok,
           n_cases);
    cJSON_Delete(root);
    free(text);
    vkd_tokenizer_free(t);
}

static void t_clip_edges(tctx_t *T) {
    char dir[1024];
    if (!golden_dir(dir, sizeof dir, "CLIP edge cases")) return;
    vkd_tokenizer_t *t = load_clip(T, dir);
    if (!t) return;
    int32_t ids[80];
    int n = 80;
    // Special tokens written in the prompt are recognised (as CLIP does).
    CHECK_OK(T, vkd_tokenize(t, "a <|startoftext|>b<|ENDOFTEXT|>", ids, &n));
    CHECK(T, n == 4 && ids[0] == 320 && ids[1] == 49406 && ids[3] == 49407,
          "special tokens in text: n %d", n);
    // Capacity too small: an error that says how many ids are needed.
    n = 2;
    vkd_status_t st = vkd_tokenize(t, "a red cube on a blue sphere", ids, &n);
    CHECK(T, st == VKD_ERR_INVALID && n == 7 && strstr(vkd_last_error(), "holds 2"),
          "small capacity: n %d, %s", n, vkd_last_error());
    // Truncation to a short context keeps bos, the first ids and eos.
    int used;
    CHECK_OK(T, vkd_tokenize_padded(t, "a red cube on a blue sphere", 5, 0, ids, &used));
    CHECK(T, used == 5 && ids[0] == 49406 && ids[1] == 320 && ids[2] == 736 && ids[3] == 11353 &&
          ids[4] == 49407, "truncated to length 5");
    CHECK_OK(T, vkd_tokenize_unconditional(t, VKD_CLIP_CONTEXT, 1, ids, &used));
    CHECK(T, used == 2 && ids[0] == 49406 && ids[1] == 49407 && ids[76] == 49407, "null prompt");
    // Same ids whatever the letter case, extra whitespace or entity spelling.
    int32_t a[32], b[32];
    int na = 32, nb = 32;
    CHECK_OK(T, vkd_tokenize(t, "A  RED\tcube &amp; a &#34;sphere&#x22;", a, &na));
    CHECK_OK(T, vkd_tokenize(t, "a red cube & a \"sphere\"", b, &nb));
    CHECK(T, na == nb && memcmp(a, b, sizeof(int32_t) * (size_t)na) == 0, "cleanup rules");
    // Quirks of Python's str.lower() and regex module (IGNORECASE) that CLIP inherits; the
    // ids are those of CLIP's algorithm run in Python 3.11 with the regex module.
    static const struct { const char *prompt; int n; int32_t ids[16]; } quirks[] = {
        {"cube\315\205s", 2, {11353, 338}}, // U+0345 matches no alternative: dropped
        {"\316\237\316\224\316\237\316\243", 8, // final sigma
         {138, 123, 138, 112, 138, 123, 139, 480}},
        {"they'\305\277 <|\305\277tartoftext|>", 13, // long s folds to s: a token, not bos
         {889, 6, 129, 379, 27, 91, 129, 123, 2002, 6659, 18169, 91, 285}},
        {"\304\260stanbul", 3, {328, 16384, 11231}}, // U+0130 lower-cases to two characters
    };
    for (int q = 0; q < 4; q++) {
        n = 80;
        CHECK_OK(T, vkd_tokenize(t, quirks[q].prompt, ids, &n));
        CHECK(T, n == quirks[q].n && memcmp(ids, quirks[q].ids, sizeof(int32_t) * (size_t)n) == 0,
              "quirk %d: %d ids", q, n);
    }
    n = 80;
    st = vkd_tokenize(t, "bad \xff byte", ids, &n);
    CHECK(T, st == VKD_ERR_INVALID && strstr(vkd_last_error(), "UTF-8"), "invalid UTF-8: %s",
          vkd_last_error());
    CHECK(T, vkd_tokenizer_id(t, "cube</w>") == 11353 && vkd_tokenizer_id(t, "nope</w>x") == -1,
          "token lookup");
    vkd_tokenizer_free(t);
}

// The same merges as plain text (only the lines CLIP uses, the last without its newline)
// give the same tokenizer.
static void t_clip_plain_text(tctx_t *T) {
    char dir[1024], gzpath[1200], txt[64] = "/tmp/vkd_tok_plain_XXXXXX";
    if (!golden_dir(dir, sizeof dir, "CLIP plain-text vocabulary")) return;
    snprintf(gzpath, sizeof gzpath, "%s/bpe_simple_vocab_16e6.txt.gz", dir);
    int fd = mkstemp(txt);
    gzFile gz = gzopen(gzpath, "rb");
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    CHECK(T, gz && f, "open %s and a temporary file", gzpath);
    char line[512];
    for (int i = 0; gz && f && i < 49152 - 256 - 1 && gzgets(gz, line, sizeof line); i++) {
        if (i == 49152 - 256 - 2) line[strcspn(line, "\n")] = 0;
        fputs(line, f);
    }
    if (gz) gzclose(gz);
    if (f) fclose(f);
    vkd_tokenizer_t *a = load_clip(T, dir), *b = NULL;
    vkd_status_t st = vkd_tokenizer_load(txt, &b);
    CHECK(T, st == VKD_OK, "plain-text vocabulary: %s", vkd_last_error());
    const char *prompt = "a highly detailed digital painting of a majestic ancient castle, "
                         "trending on artstation; unfathomable #hashtags 2024";
    int32_t ia[64], ib[64];
    int na = 64, nb = 64;
    if (a && b) {
        CHECK_OK(T, vkd_tokenize(a, prompt, ia, &na));
        CHECK_OK(T, vkd_tokenize(b, prompt, ib, &nb));
        CHECK(T, na == nb && memcmp(ia, ib, sizeof(int32_t) * (size_t)na) == 0 && na > 10,
              "gzip and plain text give the same ids (%d, %d)", na, nb);
    }
    vkd_tokenizer_free(a), vkd_tokenizer_free(b);
    unlink(txt);
}

// ---- files for the load-error and word-tokenizer cases -----------------------------------

typedef struct { char dir[64]; char path[128]; } tmpfile_t;

static const char *write_tmp(tctx_t *T, tmpfile_t *f, const char *name, const char *text) {
    if (!f->dir[0]) {
        snprintf(f->dir, sizeof f->dir, "/tmp/vkd_tok_XXXXXX");
        if (!mkdtemp(f->dir)) {
            CHECK(T, 0, "mkdtemp failed");
            f->dir[0] = 0;
            return NULL;
        }
    }
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    vkd_status_t st = vkd_file_write_atomic(f->path, text, strlen(text));
    CHECK(T, st == VKD_OK, "%s", vkd_last_error());
    return st == VKD_OK ? f->path : NULL;
}

static void remove_tmp(tmpfile_t *f, const char *const *names, int n) {
    char p[192];
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/%s", f->dir, names[i]);
        unlink(p);
    }
    if (f->dir[0]) rmdir(f->dir);
}

// Loading a file that is wrong must fail with a message that names it.
static void expect_load_error(tctx_t *T, const char *path, vkd_status_t code, const char *what) {
    vkd_tokenizer_t *t = (vkd_tokenizer_t *)&t; // must be reset to NULL
    vkd_status_t st = vkd_tokenizer_load(path, &t);
    CHECK(T, st == code && !t && strstr(vkd_last_error(), path) && strstr(vkd_last_error(), what),
          "load %s: want %s with \"%s\", got %s: %s", path, vkd_status_name(code), what,
          vkd_status_name(st), vkd_last_error());
}

static void t_load_errors(tctx_t *T) {
    tmpfile_t f = {{0}, {0}};
    expect_load_error(T, "/nonexistent/vocab.txt.gz", VKD_ERR_IO, "cannot open");
    const char *p = write_tmp(T, &f, "short.txt", "#version: 0.2\ni n\nt h\n");
    if (p) expect_load_error(T, p, VKD_ERR_FORMAT, "has 2 merge lines");
    p = write_tmp(T, &f, "bad.txt", "#version: 0.2\ni n x\n");
    if (p) expect_load_error(T, p, VKD_ERR_FORMAT, "line 2");
    p = write_tmp(T, &f, "empty.json", "");
    if (p) expect_load_error(T, p, VKD_ERR_FORMAT, "empty");
    p = write_tmp(T, &f, "w.json", "{\"type\": \"word\", \"tokens\": [");
    if (p) expect_load_error(T, p, VKD_ERR_FORMAT, "not valid JSON");
    p = write_tmp(T, &f, "w.json", "{\"type\":\"word\",\"max_length\":8,"
                                  "\"tokens\":[\"<pad>\",\"<bos>\",\"a\",\"b\"]}");
    if (p) expect_load_error(T, p, VKD_ERR_FORMAT, "lacks \"<eos>\"");
    p = write_tmp(T, &f, "w.json", "{\"type\":\"word\",\"max_length\":8,"
                                  "\"tokens\":[\"<pad>\",\"<bos>\",\"<eos>\",\"a\",\"a\"]}");
    if (p) expect_load_error(T, p, VKD_ERR_FORMAT, "listed twice");
    p = write_tmp(T, &f, "w.json", "{\"type\":\"word\",\"max_length\":8,"
                                  "\"tokens\":[\"<pad>\",\"<bos>\",\"<eos>\",\"Red\"]}");
    if (p) expect_load_error(T, p, VKD_ERR_FORMAT, "upper-case");
    p = write_tmp(T, &f, "w.json", "{\"type\":\"word\",\"max_length\":8,"
                                  "\"tokens\":[\"<pad>\",\"<bos>\",\"<eos>\",\"red cube\"]}");
    if (p) expect_load_error(T, p, VKD_ERR_FORMAT, "neither a word");
    p = write_tmp(T, &f, "w.json", "{\"type\":\"word\",\"max_lenght\":8,"
                                  "\"tokens\":[\"<pad>\",\"<bos>\",\"<eos>\",\"a\"]}");
    if (p) expect_load_error(T, p, VKD_ERR_FORMAT, "unknown key \"max_lenght\"");
    p = write_tmp(T, &f, "w.json", "{\"type\":\"word\",\"max_length\":2,"
                                  "\"tokens\":[\"<pad>\",\"<bos>\",\"<eos>\",\"a\"]}");
    if (p) expect_load_error(T, p, VKD_ERR_FORMAT, "max_length");
    static const char *const names[] = {"short.txt", "bad.txt", "empty.json", "w.json"};
    remove_tmp(&f, names, 4);
}

// ---- word tokenizer ------------------------------------------------------------------------

static const char *k_words =
    "{\"type\": \"word\", \"lowercase\": true, \"max_length\": 8,\n"
    " \"comment\": \"ShapeWorld-style test vocabulary\",\n"
    " \"tokens\": [\"<pad>\", \"<bos>\", \"<eos>\", \"<unk>\", \",\", \"a\", \"an\", \"small\",\n"
    "  \"large\", \"red\", \"green\", \"blue\", \"yellow\", \"cube\", \"cubes\", \"sphere\",\n"
    "  \"cone\", \"cylinder\", \"torus\", \"left\", \"of\", \"on\", \"tube\",\n"
    "  \"caf\303\251\", \"3d\", \"tiny\"]}\n";

static vkd_tokenizer_t *load_words(tctx_t *T, tmpfile_t *f) {
    const char *p = write_tmp(T, f, "words.json", k_words);
    vkd_tokenizer_t *t = NULL;
    if (p) {
        vkd_status_t st = vkd_tokenizer_load(p, &t);
        CHECK(T, st == VKD_OK, "load word tokenizer: %s", vkd_last_error());
    }
    return t;
}

static void expect_ids(tctx_t *T, const vkd_tokenizer_t *t, const char *prompt,
                       const int32_t *want, int n_want) {
    int32_t ids[16];
    int n = 16;
    vkd_status_t st = vkd_tokenize(t, prompt, ids, &n);
    CHECK(T, st == VKD_OK, "\"%s\": %s", prompt, vkd_last_error());
    if (st != VKD_OK) return;
    int same = n == n_want && memcmp(ids, want, sizeof(int32_t) * (size_t)n) == 0;
    CHECK(T, same, "\"%s\": got %d ids (first %d), want %d", prompt, n, n ? ids[0] : -1, n_want);
}

static void t_word_tokenizer(tctx_t *T) {
    tmpfile_t f = {{0}, {0}};
    // A byte-order mark in front of the JSON is accepted.
    const char *p = write_tmp(T, &f, "bom.json", "\xEF\xBB\xBF{\"type\":\"word\",\"max_length\":4,"
                                               "\"tokens\":[\"<pad>\",\"<bos>\",\"<eos>\",\"a\"]}");
    vkd_tokenizer_t *t = NULL;
    if (p) CHECK(T, vkd_tokenizer_load(p, &t) == VKD_OK, "BOM: %s", vkd_last_error());
    vkd_tokenizer_free(t);
    t = load_words(T, &f);
    if (t) {
        CHECK(T, vkd_tokenizer_kind(t) == VKD_TOKENIZER_WORD && vkd_tokenizer_vocab_size(t) == 26 &&
              vkd_tokenizer_max_length(t) == 8 && vkd_tokenizer_pad(t) == 0 &&
              vkd_tokenizer_bos(t) == 1 && vkd_tokenizer_eos(t) == 2, "word tokenizer config");
        expect_ids(T, t, "a red cube", (const int32_t[]){5, 9, 13}, 3);
        // Case, extra whitespace and unlisted punctuation do not matter; "," is a token.
        expect_ids(T, t, "  A RED\tCube. ", (const int32_t[]){5, 9, 13}, 3);
        expect_ids(T, t, "red cube, left of cone!", (const int32_t[]){9, 13, 4, 19, 20, 16}, 6);
        expect_ids(T, t, "red-cube;3D CAF\303\211", (const int32_t[]){9, 13, 24, 23}, 4);
        int32_t ids[8];
        int used;
        CHECK_OK(T, vkd_tokenize_padded(t, "a blue torus", 8, 0, ids, &used));
        static const int32_t want0[8] = {1, 5, 11, 18, 2, 0, 0, 0};
        CHECK(T, used == 5 && memcmp(ids, want0, sizeof want0) == 0, "padded with <pad>");
        CHECK_OK(T, vkd_tokenize_padded(t, "a blue torus", 8, 1, ids, &used));
        static const int32_t want1[8] = {1, 5, 11, 18, 2, 2, 2, 2};
        CHECK(T, memcmp(ids, want1, sizeof want1) == 0, "padded with <eos>");
        CHECK_OK(T, vkd_tokenize_unconditional(t, 8, 0, ids, &used));
        CHECK(T, used == 2 && ids[0] == 1 && ids[1] == 2 && ids[7] == 0, "unconditional");
        vkd_tokenizer_free(t);
    }
    static const char *const names[] = {"words.json", "bom.json"};
    remove_tmp(&f, names, 2);
}

static void t_word_errors(tctx_t *T) {
    tmpfile_t f = {{0}, {0}};
    vkd_tokenizer_t *t = load_words(T, &f);
    if (t) {
        int32_t ids[16];
        int n = 16;
        vkd_status_t st = vkd_tokenize(t, "a red cueb", ids, &n);
        const char *m = vkd_last_error();
        CHECK(T, st == VKD_ERR_INVALID && strstr(m, "\"cueb\"") && strstr(m, "nearest: \"cube\"") &&
              strstr(m, "\"tube\"") && !strstr(m, "<pad>"), "OOV suggests cube first: %s", m);
        printf("  OOV message: %s\n", m);
        n = 16;
        st = vkd_tokenize(t, "a giant red cube", ids, &n);
        CHECK(T, st == VKD_ERR_INVALID && strstr(vkd_last_error(), "\"giant\""), "%s",
              vkd_last_error());
        static const char *const empty[] = {"", "   ", " ... !? "};
        for (int i = 0; i < 3; i++) {
            n = 16;
            st = vkd_tokenize(t, empty[i], ids, &n);
            CHECK(T, st == VKD_ERR_INVALID && strstr(vkd_last_error(), "no words"),
                  "empty prompt \"%s\": %s", empty[i], vkd_last_error());
        }
        n = 16;
        st = vkd_tokenize(t, "a small red cube on a large blue sphere", ids, &n);
        CHECK(T, st == VKD_ERR_INVALID && strstr(vkd_last_error(), "has 9 tokens") &&
              strstr(vkd_last_error(), "at most 6"), "over-long: %s", vkd_last_error());
        st = vkd_tokenize_padded(t, "a small red cube on a", 6, 0, ids, &n);
        CHECK(T, st == VKD_ERR_INVALID && strstr(vkd_last_error(), "shorten"),
              "over-long for the requested length: %s", vkd_last_error());
        n = 16;
        st = vkd_tokenize(t, "<unk> cube", ids, &n);
        CHECK(T, st == VKD_ERR_INVALID && strstr(vkd_last_error(), "\"unk\""),
              "special tokens are not reachable from text: %s", vkd_last_error());
        vkd_tokenizer_free(t);
    }
    static const char *const names[] = {"words.json"};
    remove_tmp(&f, names, 1);
}

// ---- speed -----------------------------------------------------------------------------------

#define N_PROMPTS 10000

// ShapeWorld-like prompts; the long form has more words and punctuation (CLIP only).
static void make_prompt(char *buf, size_t cap, int i, int long_form) {
    static const char *const size[] = {"small", "large", "tiny"};
    static const char *const colour[] = {"red", "green", "blue", "yellow"};
    static const char *const shape[] = {"cube", "sphere", "cone", "cylinder", "torus"};
    if (long_form)
        snprintf(buf, cap, "A %s %s %s, left of a %s %s; studio lighting, 3D render #%d",
                 size[i % 3], colour[(i / 3) % 4], shape[(i / 12) % 5], colour[(i / 60) % 4],
                 shape[(i / 7) % 5], i);
    else
        snprintf(buf, cap, "a %s %s %s", i % 3 ? size[i % 3 - 1] : "", colour[(i / 3) % 4],
                 shape[(i / 12) % 5]);
}

static void time_prompts(tctx_t *T, const vkd_tokenizer_t *t, const char *name, int long_form) {
    char prompt[128];
    int32_t ids[VKD_CLIP_CONTEXT];
    long total = 0;
    double t0 = (test_now_ms() * 1e-3);
    for (int i = 0; i < N_PROMPTS; i++) {
        make_prompt(prompt, sizeof prompt, i, long_form);
        int used;
        int len = vkd_tokenizer_max_length(t);
        vkd_status_t st = vkd_tokenize_padded(t, prompt, len, 0, ids, &used);
        if (st != VKD_OK) {
            CHECK(T, 0, "%s: \"%s\": %s", name, prompt, vkd_last_error());
            return;
        }
        total += used;
    }
    double dt = (test_now_ms() * 1e-3) - t0;
    printf("  %s: %d prompts in %.1f ms (%.0f prompts/s, %.1f tokens each)\n", name, N_PROMPTS,
           1e3 * dt, N_PROMPTS / dt, (double)total / N_PROMPTS);
    CHECK(T, dt < 1.0, "%s: %d prompts took %.2f s", name, N_PROMPTS, dt);
}

static void t_speed(tctx_t *T) {
    tmpfile_t f = {{0}, {0}};
    vkd_tokenizer_t *w = load_words(T, &f);
    if (w) time_prompts(T, w, "word tokenizer", 0);
    vkd_tokenizer_free(w);
    static const char *const names[] = {"words.json"};
    remove_tmp(&f, names, 1);
    char dir[1024];
    if (!golden_dir(dir, sizeof dir, "CLIP BPE speed")) return;
    vkd_tokenizer_t *t = load_clip(T, dir);
    if (t) time_prompts(T, t, "CLIP BPE", 1);
    vkd_tokenizer_free(t);
}

static const tcase_t cases[] = {
    TCASE_CPU(t_python_lower),  TCASE_CPU(t_python_unescape), TCASE_CPU(t_utf8_and_space),
    TCASE_CPU(t_clip_golden),   TCASE_CPU(t_clip_edges),      TCASE_CPU(t_clip_plain_text),
    TCASE_CPU(t_load_errors),
    TCASE_CPU(t_word_tokenizer), TCASE_CPU(t_word_errors),    TCASE_CPU(t_speed),
};
TEST_MAIN(cases)
