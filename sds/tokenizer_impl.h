// Internals shared by tokenizer.c (common API, word tokenizer) and bpe.c (CLIP BPE).
#ifndef VKD_SDS_TOKENIZER_IMPL_H
#define VKD_SDS_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "sds/tokenizer.h"

struct vkd_tokenizer {
    vkd_tokenizer_kind_t kind;
    char *path; // for messages
    int n_vocab;
    char *pool;         // the token strings, each NUL-terminated
    uint32_t *offs;     // (n_vocab) offset of each id's string in pool
    uint32_t *slots;    // string -> id open-addressing table: id + 1, 0 = empty
    uint32_t slot_mask; // table size - 1 (a power of two)
    int32_t bos, eos, pad;
    int max_length;
    int lowercase; // word: lower-case prompts
    // BPE only.
    int32_t byte_id[256];     // id of each byte's symbol
    int32_t byte_end_id[256]; // id of its word-final form (with "</w>")
    uint64_t *pair_key;    // pair table: (left id << 32 | right id), UINT64_MAX = empty
    int32_t *pair_rank;    // merge rank of the pair (lower merges first)
    int32_t *pair_merged;  // id of the merged symbol
    uint32_t pair_mask;
};

// Hash table of the token strings. With allow_dups, a later id wins over an earlier one
// with the same string (as a Python dict built from the vocabulary list does); without,
// a duplicate is VKD_ERR_FORMAT naming both ids.
vkd_status_t vkd_tok_index(vkd_tokenizer_t *t, int allow_dups);
// The id of the string s[0..n), or -1.
int32_t vkd_tok_lookup(const vkd_tokenizer_t *t, const char *s, size_t n);

// bpe.c: fill t from a CLIP merges file (gzip or plain).
vkd_status_t vkd_bpe_load(vkd_tokenizer_t *t, const char *path);
// bpe.c: the ids of a prompt. Writes the first min(cap, total) ids and sets *n_total.
vkd_status_t vkd_bpe_encode(const vkd_tokenizer_t *t, const char *text, int32_t *ids, int cap,
                            int *n_total);

#endif
