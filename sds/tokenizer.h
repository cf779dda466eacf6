// Prompt tokenizers of the diffusion priors' text encoders.
//
// Two kinds, loaded through one call (vkd_tokenizer_load picks the kind from the file's
// content):
//
// 1. CLIP byte-level BPE (Stable Diffusion 1.x/2.x, openai CLIP), from the merges file
//    bpe_simple_vocab_16e6.txt.gz (gzip or plain text). Ids equal those of openai CLIP's
//    SimpleTokenizer.encode() exactly, with ftfy taken as the identity: html.unescape()
//    twice, whitespace collapsed and stripped, Python str.lower(), CLIP's pre-tokenizer
//    pattern, then BPE per pre-token. Vocabulary 49408; bos = 49406 (<|startoftext|>),
//    eos = 49407 (<|endoftext|>), pad = 0 when not padding with eos. An empty prompt is
//    valid (it is the unconditional prompt of SD).
//
// 2. Word-level, for the small bundled priors, from a JSON file:
//      {
//        "type": "word",
//        "tokens": ["<pad>", "<bos>", "<eos>", "a", "red", "cube", ","],
//        "lowercase": true,
//        "max_length": 8
//      }
//    - "tokens": the vocabulary; a token's id is its index. "<pad>", "<bos>" and "<eos>"
//      are required (anywhere in the list). Other entries written "<...>" (e.g. "<unk>")
//      are special: they reserve an id but no prompt text ever produces them. Every other
//      entry is either a word (letters and digits only; lower-case when "lowercase" is
//      true) or a single punctuation character. Duplicates are an error.
//    - "lowercase" (optional, default true): lower-case the prompt (Python str.lower()).
//    - "max_length" (required, 3..4096): the text encoder's sequence length, bos + words +
//      eos + padding; a prompt may have at most max_length - 2 tokens.
//    Splitting: a word is a maximal run of letters and digits (\p{L}, \p{N}); whitespace
//    separates words; every other character is punctuation, which also separates words and
//    becomes a token only if the vocabulary lists it ("," in the example), otherwise it is
//    dropped ("a red cube." == "a red cube"). A word not in the vocabulary is an error
//    whose message names the nearest known words; so is an empty prompt (no words) and a
//    prompt with more than max_length - 2 tokens: a small prior cannot give a meaningful
//    answer to words it was never trained on, and silently dropping them would hide that.
//    vkd_tokenize_unconditional gives the null prompt for classifier-free guidance.
//
// A tokenizer is immutable after loading; all calls on it are thread-safe.
#ifndef VKD_SDS_TOKENIZER_H
#define VKD_SDS_TOKENIZER_H

#include <stdint.h>

#include "status.h"

typedef struct vkd_tokenizer vkd_tokenizer_t;

typedef enum { VKD_TOKENIZER_BPE = 1, VKD_TOKENIZER_WORD = 2 } vkd_tokenizer_kind_t;

// CLIP's text context length (SD 1.x/2.x).
#define VKD_CLIP_CONTEXT 77

// Load a tokenizer: a CLIP merges file (gzip or plain text; its first line is a header and
// is skipped) or a word-tokenizer JSON file (one that starts with "{"). Errors name the
// path and what is wrong.
vkd_status_t vkd_tokenizer_load(const char *path, vkd_tokenizer_t **out);
void vkd_tokenizer_free(vkd_tokenizer_t *t); // NULL is fine

// The ids of a prompt (UTF-8), without bos/eos. *n_ids: capacity in, count out. When the
// capacity is too small, the call fails (VKD_ERR_INVALID) and *n_ids says how many ids the
// prompt needs. Word tokenizer: the errors described above.
vkd_status_t vkd_tokenize(const vkd_tokenizer_t *t, const char *text, int32_t *ids,
                          int *n_ids);

// The fixed-length form a text encoder takes: bos, the ids, eos, then padding up to
// `length` (>= 2). Padding is eos when pad_with_eos (SD 1.x / Hugging Face CLIPTokenizer),
// else the pad id (0 for BPE: openai clip.tokenize / SD 2.x; "<pad>" for word
// tokenizers). A BPE prompt with more than length - 2 ids is truncated as
// clip.tokenize(truncate=True) does (the first length - 2 ids, then eos); a word prompt
// that long is an error. *n_used (may be NULL) = the count of non-padding entries, so
// ids[*n_used - 1] is the eos (CLIP's pooled position).
vkd_status_t vkd_tokenize_padded(const vkd_tokenizer_t *t, const char *text, int length,
                                 int pad_with_eos, int32_t *ids, int *n_used);

// The fixed-length form of the empty prompt (bos, eos, padding), the unconditional input of
// classifier-free guidance. Valid for both kinds (tokenizing "" is an error for words).
vkd_status_t vkd_tokenize_unconditional(const vkd_tokenizer_t *t, int length,
                                        int pad_with_eos, int32_t *ids, int *n_used);

vkd_tokenizer_kind_t vkd_tokenizer_kind(const vkd_tokenizer_t *t);
int vkd_tokenizer_vocab_size(const vkd_tokenizer_t *t);
int32_t vkd_tokenizer_bos(const vkd_tokenizer_t *t);
int32_t vkd_tokenizer_eos(const vkd_tokenizer_t *t);
int32_t vkd_tokenizer_pad(const vkd_tokenizer_t *t); // the id used when not padding with eos
// Word: "max_length" of the file; BPE: VKD_CLIP_CONTEXT.
int vkd_tokenizer_max_length(const vkd_tokenizer_t *t);
// The token string of an id (BPE: CLIP's byte-level form, e.g. "cube</w>"), or NULL.
const char *vkd_tokenizer_token(const vkd_tokenizer_t *t, int32_t id);
// The id of a token string, or -1.
int32_t vkd_tokenizer_id(const vkd_tokenizer_t *t, const char *token);

#endif
